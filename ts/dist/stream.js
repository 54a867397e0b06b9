/**
 * Typed streams (subscriptions), the caller's end: what `peer.subscribe`
 * resolves with. The wire protocol is duplexrpc-core's (`stream.rs`):
 *
 * - the caller's request (e.g. `{"id":7,"method":"tick.ticks","params":[10]}`)
 *   is answered with `null` once the stream exists, and its id names the stream;
 * - the producer sends `$/stream/item` `{subscription, item}` per item and
 *   `$/stream/end` `{subscription, error?}` at the end;
 * - the consumer sends `$/stream/credit` `{subscription, n}` after consuming
 *   `n` items (half the window at a time) and `$/stream/cancel`
 *   `{subscription}` when it stops early.
 *
 * Flow control: the producer may have at most {@link STREAM_WINDOW} items in
 * flight; each consumed item returns one credit. A producer that ignores its
 * credits ends the stream with an error rather than growing the buffer.
 *
 * @module
 */
import { ErrorCode, RpcError } from "./errors.js";
/** Notification carrying one item (producer -> consumer). */
export const STREAM_ITEM = "$/stream/item";
/** Notification ending a stream, optionally with an error (producer -> consumer). */
export const STREAM_END = "$/stream/end";
/** Notification from the consumer: `n` more items may be sent. */
export const STREAM_CREDIT = "$/stream/credit";
/** Notification from the consumer: stop producing. */
export const STREAM_CANCEL = "$/stream/cancel";
/** Items a producer may have in flight per stream (as duplexrpc-core's default `stream_window`). */
export const STREAM_WINDOW = 64;
/**
 * A stream of `T` from the other end: an async iterable.
 *
 * ```ts
 * for await (const tick of await ticker.ticks(10, null)) {
 *   if (tick > 3) break; // sends $/stream/cancel: the producer stops
 * }
 * ```
 *
 * The loop ends when the producer ends the stream. It throws an
 * {@link RpcError} (code, message, data) if the producer failed, and a
 * {@link DisconnectedError} if the connection was lost first (so the
 * application can tell a lost connection from a finished stream and
 * subscribe again). Leaving the loop early (`break`, `return`, an exception)
 * cancels the stream.
 */
export class RpcStream {
    /** The stream's id on the wire: the id of the request that opened it. */
    subscription;
    #control;
    #window;
    #events = [];
    #buffered = 0;
    #unacked = 0;
    /** No more events will arrive (the end, a failure or a cancel was recorded). */
    #finished = false;
    /** The consumer has seen the end. */
    #done = false;
    #waiters = [];
    #onFinished;
    /** @internal Streams are made by `Peer.subscribe`. */
    constructor(subscription, control, window = STREAM_WINDOW) {
        this.subscription = subscription;
        this.#control = control;
        this.#window = window;
    }
    /** True once the producer ended the stream, it failed, or it was cancelled. */
    get finished() {
        return this.#finished;
    }
    /** @internal An item arrived; false if the producer exceeded its window (the stream then fails). */
    push(item) {
        if (this.#finished)
            return true;
        if (this.#buffered >= this.#window) {
            this.finish(new RpcError(ErrorCode.InternalError, "stream overflow: the producer exceeded its window"));
            return false;
        }
        this.#buffered++;
        this.#events.push({ item });
        this.#wake();
        return true;
    }
    /** @internal The stream ended: normally (no error), with the producer's error, or with the disconnect. */
    finish(error) {
        if (this.#finished)
            return;
        this.#markFinished();
        this.#events.push({ end: error });
        this.#wake();
    }
    /**
     * @internal The caller gave up (its signal aborted): the producer is told
     * to stop, buffered items are dropped, and the loop throws `error`.
     */
    abort(error) {
        if (this.#finished)
            return;
        this.#markFinished();
        this.#control.cancel();
        this.#events = [{ end: error }];
        this.#buffered = 0;
        this.#wake();
    }
    /** @internal Runs `callback` once the stream has finished (at once if it has). */
    whenFinished(callback) {
        if (this.#finished)
            callback();
        else
            this.#onFinished = callback;
    }
    /** The next item; `done` at the end; throws the producer's error or the disconnect. */
    async next() {
        for (;;) {
            if (this.#done)
                return { done: true, value: undefined };
            const event = this.#events.shift();
            if (event === undefined) {
                await new Promise((wake) => this.#waiters.push(wake));
                continue;
            }
            if ("item" in event) {
                this.#buffered--;
                this.#unacked++;
                if (this.#unacked * 2 >= this.#window && !this.#finished) {
                    const n = this.#unacked;
                    this.#unacked = 0;
                    this.#control.credit(n);
                }
                return { done: false, value: event.item };
            }
            this.#done = true;
            if (event.end)
                throw event.end;
            return { done: true, value: undefined };
        }
    }
    /** Stops early: cancels the stream on the other end (what `break` in `for await` calls). */
    async return() {
        this.cancel();
        return { done: true, value: undefined };
    }
    /**
     * Cancels the stream: the producer is told to stop (unless it already
     * ended), buffered items are dropped, and iteration ends.
     */
    cancel() {
        if (!this.#finished) {
            this.#markFinished();
            this.#control.cancel();
        }
        this.#done = true;
        this.#events = [];
        this.#buffered = 0;
        this.#wake();
    }
    [Symbol.asyncIterator]() {
        return this;
    }
    #markFinished() {
        this.#finished = true;
        const callback = this.#onFinished;
        this.#onFinished = undefined;
        callback?.();
    }
    #wake() {
        for (const wake of this.#waiters.splice(0))
            wake();
    }
}
/** Whether a handler's result is a stream to produce (an async iterable). */
export function isAsyncIterable(value) {
    return (typeof value === "object" &&
        value !== null &&
        typeof value[Symbol.asyncIterator] === "function");
}
