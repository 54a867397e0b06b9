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
/** Notification carrying one item (producer -> consumer). */
export declare const STREAM_ITEM = "$/stream/item";
/** Notification ending a stream, optionally with an error (producer -> consumer). */
export declare const STREAM_END = "$/stream/end";
/** Notification from the consumer: `n` more items may be sent. */
export declare const STREAM_CREDIT = "$/stream/credit";
/** Notification from the consumer: stop producing. */
export declare const STREAM_CANCEL = "$/stream/cancel";
/** Items a producer may have in flight per stream (as duplexrpc-core's default `stream_window`). */
export declare const STREAM_WINDOW = 64;
/** What a stream asks of its peer. @internal */
export interface StreamControl {
    /** Returns `n` credits to the producer. */
    credit(n: number): void;
    /** Tells the producer to stop (only if the stream is still running). */
    cancel(): void;
}
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
export declare class RpcStream<T> implements AsyncIterableIterator<T> {
    #private;
    /** The stream's id on the wire: the id of the request that opened it. */
    readonly subscription: number;
    /** @internal Streams are made by `Peer.subscribe`. */
    constructor(subscription: number, control: StreamControl, window?: number);
    /** True once the producer ended the stream, it failed, or it was cancelled. */
    get finished(): boolean;
    /** @internal An item arrived; false if the producer exceeded its window (the stream then fails). */
    push(item: unknown): boolean;
    /** @internal The stream ended: normally (no error), with the producer's error, or with the disconnect. */
    finish(error?: Error): void;
    /**
     * @internal The caller gave up (its signal aborted): the producer is told
     * to stop, buffered items are dropped, and the loop throws `error`.
     */
    abort(error: Error): void;
    /** @internal Runs `callback` once the stream has finished (at once if it has). */
    whenFinished(callback: () => void): void;
    /** The next item; `done` at the end; throws the producer's error or the disconnect. */
    next(): Promise<IteratorResult<T, undefined>>;
    /** Stops early: cancels the stream on the other end (what `break` in `for await` calls). */
    return(): Promise<IteratorResult<T, undefined>>;
    /**
     * Cancels the stream: the producer is told to stop (unless it already
     * ended), buffered items are dropped, and iteration ends.
     */
    cancel(): void;
    [Symbol.asyncIterator](): this;
}
/** Whether a handler's result is a stream to produce (an async iterable). */
export declare function isAsyncIterable(value: unknown): value is AsyncIterable<unknown>;
