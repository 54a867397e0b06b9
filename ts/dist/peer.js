/**
 * The peer: one end of a WebSocket that calls the other end and serves its
 * calls at the same time.
 *
 * @module
 */
import { CallAbortedError, CallTimeoutError, DisconnectedError, ErrorCode, HandshakeRefusedError, RpcError, SessionLostError, } from "./errors.js";
import { onRefusal } from "./handshake.js";
import { SubprotocolOffer } from "./offer.js";
import { livenessTimeout, REPLAY_OVERFLOW, Session, SESSION_PROTOCOL } from "./session.js";
import { isAsyncIterable, RpcStream, STREAM_CANCEL, STREAM_CREDIT, STREAM_END, STREAM_ITEM, STREAM_WINDOW, } from "./stream.js";
import { encodeCall, encodeError, encodeResult, parseFrame, positionalArgs, specError, } from "./wire.js";
/** The notification that cancels a request: `{"id": <the request's id>}` (as the Rust peer's `CANCEL_METHOD`). */
export const CANCEL_REQUEST = "$/cancelRequest";
/**
 * The delay (ms) before reconnect attempt `attempt` (1-based), jitter
 * included; `random` is a uniform number in [0, 1).
 */
export function backoffDelay(options, attempt, random = Math.random()) {
    const initial = Math.max(0, options.initialDelay ?? 100);
    const max = Math.max(initial, options.maxDelay ?? 10_000);
    const multiplier = Math.max(1, options.multiplier ?? 2);
    const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.3));
    const base = Math.min(initial * multiplier ** Math.max(0, attempt - 1), max);
    return Math.max(0, base + base * jitter * (2 * random - 1));
}
const CONNECTING = 0;
const OPEN = 1;
/**
 * One end of a JSON-RPC 2.0 connection over a WebSocket. Both ends are the
 * same: a peer {@link Peer.call | calls} and {@link Peer.notify | notifies}
 * the other end, {@link Peer.subscribe | subscribes} to its streams, and
 * {@link Peer.handle | serves} the other end's calls (a handler returning an
 * async iterable streams its items).
 *
 * Generated bindings wrap it: `new CalculatorClient(peer)` for calls,
 * `registerBrowser(peer, impl)` for serving.
 */
export class Peer {
    #socket;
    #options;
    /** `options.reconnect`, `true` as `{}`. */
    #reconnect;
    #reopen;
    #pending = new Map();
    #handlers = new Map();
    #consumers = new Map();
    #producers = new Map();
    /** Requests being handled, by JSON id: aborting one answers it with -32001. */
    #running = new Map();
    /** Messages sent while the socket was not open. */
    #queue = [];
    #nextId = 1;
    /** Set once the peer is closed for good. */
    #failure;
    /** Whether the current socket is open (and, with a session, carries it). */
    #connected = false;
    /** The resumable session, while there is one (attached or not). */
    #session;
    /** Whether the current socket is open and waits for `#resumed`. */
    #resuming = false;
    /** Sockets given up on (frozen, or an attempt that did not open in time): their events are ignored. */
    #abandoned = new WeakSet();
    /** Whether any socket has opened (a peer reconnects only after that). */
    #everOpened = false;
    /** Counts connections, so that replies computed for a dropped one are not sent on the next. */
    #generation = 0;
    #attempt = 0;
    #retryTimer;
    /** Bounds the current reconnect attempt's opening (a resumable peer's; see `#limitAttempt`). */
    #attemptTimer;
    #resolveClosed;
    /** Settles once the connection has closed for good (a reconnecting peer: closed locally, or gave up). */
    closed;
    /**
     * A peer over `socket`, which may still be connecting: what is sent before
     * it opens waits in a queue. With `options.reconnect`, `reopen` opens the
     * socket of each new attempt.
     */
    constructor(socket, options = {}, reopen) {
        if (options.resumable && !options.reconnect)
            throw new TypeError("resumable sessions need reconnect");
        this.#socket = socket;
        this.#options = options;
        this.#reconnect = options.reconnect === true ? {} : options.reconnect || undefined;
        this.#reopen = this.#reconnect ? reopen : undefined;
        this.closed = new Promise((resolve) => {
            this.#resolveClosed = resolve;
        });
        hasSession.set(this, () => this.#session !== undefined);
        this.#attach(socket);
    }
    /** True until the peer has closed for good (a reconnecting peer stays open while it reconnects). */
    get isOpen() {
        return this.#failure === undefined;
    }
    /** True while the socket is open (false while connecting or reconnecting, or while a session resumes). */
    get connected() {
        return this.#connected && this.#failure === undefined;
    }
    /**
     * Calls `method` on the other end with params by position (an array) or by
     * name (an object). Resolves with the result; rejects with an
     * {@link RpcError} (the other end's error object) or a
     * {@link DisconnectedError} (the connection ended first).
     *
     * The result is not checked at run time: `T` is what the caller (usually
     * generated code) says the other end returns.
     *
     * `options.signal` and `options.timeoutMs` (default: the peer's
     * `timeoutMs`) give up on the call: it rejects with a
     * {@link CallAbortedError} or a {@link CallTimeoutError}, a late reply is
     * ignored, and the other end gets `$/cancelRequest` if the request went out.
     */
    call(method, params = [], options = {}) {
        if (this.#failure)
            return Promise.reject(this.#failure);
        const signal = options.signal;
        if (signal?.aborted)
            return Promise.reject(new CallAbortedError(method, signal.reason));
        const id = this.#nextId++;
        return this.#guard(id, method, this.#request(id, method, params), options);
    }
    /** Gives up on pending call `id` (`promise`) when `options.signal` aborts or its timeout expires. */
    #guard(id, method, promise, options) {
        const signal = options.signal;
        const timeoutMs = options.timeoutMs ?? this.#options.timeoutMs;
        if (!signal && timeoutMs === undefined)
            return promise;
        const pending = this.#pending.get(id);
        if (!pending)
            return promise; // the request could not be encoded
        let timer;
        const onAbort = () => this.#giveUp(id, new CallAbortedError(method, signal?.reason));
        const cleanup = () => {
            if (timer !== undefined)
                clearTimeout(timer);
            signal?.removeEventListener("abort", onAbort);
        };
        const { resolve, reject } = pending;
        pending.resolve = (value) => {
            cleanup();
            resolve(value);
        };
        pending.reject = (error) => {
            cleanup();
            reject(error);
        };
        signal?.addEventListener("abort", onAbort);
        if (timeoutMs !== undefined) {
            timer = setTimeout(() => this.#giveUp(id, new CallTimeoutError(method, timeoutMs)), Math.max(0, timeoutMs));
        }
        return promise;
    }
    /** Drops pending call `id` with `error`; cancels it on the other end if it was sent. */
    #giveUp(id, error) {
        const call = this.#pending.get(id);
        if (!call)
            return;
        this.#pending.delete(id);
        const queued = this.#queue.find((q) => q.id === id);
        if (queued) {
            if (queued.timer !== undefined)
                clearTimeout(queued.timer);
            this.#queue = this.#queue.filter((q) => q !== queued);
        }
        else {
            this.#control(CANCEL_REQUEST, { id });
            // A stream the other end accepted just before the cancel arrived stops too.
            if (this.#consumers.has(id))
                this.#control(STREAM_CANCEL, { subscription: id });
        }
        call.reject(error);
    }
    /**
     * Calls a streaming method: resolves with the stream once the other end
     * has accepted the call (its reply is `null`), rejects as
     * {@link Peer.call} does. Iterate it with `for await`; see {@link RpcStream}.
     *
     * `options` are {@link Peer.call}'s: the timeout bounds the wait for the
     * acceptance; the signal also cancels the accepted stream.
     */
    subscribe(method, params = [], options = {}) {
        if (this.#failure)
            return Promise.reject(this.#failure);
        const signal = options.signal;
        if (signal?.aborted)
            return Promise.reject(new CallAbortedError(method, signal.reason));
        const id = this.#nextId++;
        const stream = new RpcStream(id, {
            credit: (n) => {
                if (this.#consumers.get(id) === stream)
                    this.#control(STREAM_CREDIT, { subscription: id, n });
            },
            cancel: () => {
                if (this.#consumers.get(id) === stream) {
                    this.#consumers.delete(id);
                    this.#control(STREAM_CANCEL, { subscription: id });
                }
            },
        });
        // Registered before the request goes out: items may arrive before the reply.
        this.#consumers.set(id, stream);
        return this.#guard(id, method, this.#request(id, method, params), options).then(() => {
            if (signal)
                abortWith(stream, signal, () => new CallAbortedError(method, signal.reason));
            return stream;
        }, (error) => {
            if (this.#consumers.get(id) === stream)
                this.#consumers.delete(id);
            throw error;
        });
    }
    /**
     * Sends a notification: no reply, and no way to know whether it arrived.
     * Throws a {@link DisconnectedError} if the peer has closed; while a
     * reconnecting peer reconnects, it waits to be sent on the new connection.
     */
    notify(method, params = []) {
        if (this.#failure)
            throw this.#failure;
        this.#send(encodeCall(undefined, method, params));
    }
    /**
     * Serves `method`. `names` are the parameter names in order (a trailing
     * `?` marks an optional one), used when the other end sends params by
     * name; `handler` gets the params by position. What it returns (or resolves
     * with) is the reply's result (`undefined` is sent as `null`); an
     * {@link RpcError} it throws is the reply's error; anything else it throws
     * becomes -32603 Internal error. Called as a notification, the outcome is dropped.
     * The handler's second argument, a {@link CallContext}, carries a signal
     * that fires when the caller cancels the request (`$/cancelRequest`): the
     * request is then answered once with -32001 "Request cancelled".
     *
     * A handler that returns an async iterable (or a promise of one) streams:
     * the reply is `null`, then each item goes out as `$/stream/item` within
     * the consumer's credits, and `$/stream/end` follows (with the error
     * object if the iteration throws). A `$/stream/cancel` from the consumer,
     * or the end of the connection, stops the iteration (its `return()` runs).
     */
    handle(method, names, handler) {
        if (this.#handlers.has(method))
            throw new Error(`method ${JSON.stringify(method)} is already registered`);
        this.#handlers.set(method, { names, handler });
    }
    /**
     * Closes the connection (and stops reconnecting). Calls still waiting fail
     * at once with a {@link DisconnectedError}; {@link Peer.closed} settles
     * once the socket has closed. A resumable session ends with it (no resume).
     */
    close(code = 1000, reason = "") {
        const wasConnecting = this.#failure === undefined && !this.#connected && this.#everOpened;
        this.#fail(new DisconnectedError("the connection was closed locally", code, reason));
        this.#socket.close(code, reason);
        // While reconnecting there may be no socket whose close event settles `closed`.
        if (wasConnecting)
            this.#resolveClosed({ code, reason });
    }
    #request(id, method, params) {
        let text;
        try {
            text = encodeCall(id, method, params);
        }
        catch (e) {
            return Promise.reject(new TypeError(`could not encode the call to ${method}: ${String(e)}`));
        }
        return new Promise((resolve, reject) => {
            this.#pending.set(id, { resolve: resolve, reject });
            this.#send(text, id);
        });
    }
    /** Listens to `socket`, ignoring its events once it is no longer the current one. */
    #attach(socket) {
        const current = () => socket === this.#socket && !this.#abandoned.has(socket);
        onRefusal(socket, () => socket.close(), (error) => {
            refusals.set(socket, error);
            if (current())
                this.#dropped(error, undefined);
        });
        socket.addEventListener("open", () => {
            if (current())
                this.#opened();
        });
        socket.addEventListener("message", (event) => {
            if (current() && (this.#connected || this.#resuming))
                this.#receive(event.data);
        });
        socket.addEventListener("error", () => {
            if (current())
                this.#dropped(new DisconnectedError("the WebSocket failed"), undefined);
        });
        socket.addEventListener("close", (event) => {
            if (!current())
                return;
            const code = event.code ?? 1006;
            const reason = event.reason ?? "";
            const why = reason ? `${code} ${reason}` : `${code}`;
            this.#dropped(new DisconnectedError(`the connection closed (${why})`, code, reason), { code, reason });
        });
        if (socket.readyState === OPEN)
            this.#opened();
    }
    #opened() {
        if (this.#connected || this.#resuming || this.#failure)
            return;
        this.#stopAttemptTimer();
        const sessions = this.#options.resumable && this.#socket.protocol === SESSION_PROTOCOL;
        if (this.#session && !sessions) {
            // The server no longer speaks sessions (e.g. restarted without them): a plain connection follows.
            this.#sessionLost("the server did not select the session subprotocol", false);
        }
        if (this.#session) {
            this.#resuming = true;
            this.#session.resume(this.#socket);
            return;
        }
        if (sessions) {
            this.#session = new Session(typeof this.#options.resumable === "object" ? this.#options.resumable : {}, {
                resumed: () => this.#resumed(),
                lost: (reason, protocolError) => this.#sessionLost(reason, protocolError),
                frozen: () => this.#frozen(),
            });
            this.#session.start(this.#socket);
        }
        this.#connected = true;
        this.#generation++;
        const reconnected = this.#everOpened;
        this.#everOpened = true;
        const queue = this.#queue;
        this.#queue = [];
        for (const queued of queue) {
            if (queued.timer !== undefined)
                clearTimeout(queued.timer);
            this.#wire(queued.text);
        }
        if (reconnected) {
            const attempt = this.#attempt;
            this.#attempt = 0;
            this.#event({ type: sessions ? "reconnected" : "connected", attempt });
        }
    }
    /** The session continues on the current socket (its replay went out). */
    #resumed() {
        this.#resuming = false;
        this.#connected = true;
        const attempt = this.#attempt;
        this.#attempt = 0;
        this.#event({ type: "resumed", attempt });
    }
    /**
     * The session ended for good: what was pending in it fails with the
     * {@link SessionLostError}. If the current socket carried it, the socket
     * goes and a fresh session starts on a new one.
     */
    #sessionLost(reason, protocolError) {
        const session = this.#session;
        if (!session || this.#failure)
            return;
        this.#session = undefined;
        session.dispose();
        const linked = this.#connected || this.#resuming;
        this.#connected = false;
        this.#resuming = false;
        const error = new SessionLostError(reason);
        this.#endConnection(error);
        this.#event({ type: "sessionLost", reason, error });
        if (!linked || this.#failure)
            return;
        // The socket is left behind (its close is an attempt already counted): a fresh one follows.
        const options = this.#reconnect;
        if (options && this.#retryTimer === undefined)
            this.#retry(options, 1);
        this.#socket.close(protocolError ? 1002 : 1000, protocolError ? "session protocol error" : "");
    }
    /** Nothing arrived for the liveness timeout: the connection froze. */
    #frozen() {
        const socket = this.#socket;
        this.#abandon(socket);
        const error = new DisconnectedError("the connection froze (nothing arrived within the liveness timeout)");
        this.#dropped(error, undefined);
    }
    /** The current socket failed or closed (`info` once it has closed). */
    #dropped(error, info) {
        this.#stopAttemptTimer();
        if (this.#failure) {
            if (info)
                this.#resolveClosed(info);
            return;
        }
        const reconnect = this.#reconnect;
        if (!reconnect || !this.#reopen || !this.#everOpened) {
            this.#fail(error);
            if (info)
                this.#resolveClosed(info);
            return;
        }
        // A normal close (1000) ends a session for good, and then what was pending
        // fails with `error` as on a plain connection (as the Rust peer does).
        const ended = this.#session !== undefined && info?.code === 1000;
        if (ended) {
            this.#session?.dispose();
            this.#session = undefined;
        }
        // Any other drop only detaches it (unless it had not started: no token to resume with).
        const session = this.#session;
        const resumable = session !== undefined && session.detach();
        this.#resuming = false;
        if (this.#connected) {
            // An established connection dropped: what belonged to it ends now (a session's waits for the resume).
            this.#connected = false;
            if (!session)
                this.#endConnection(error);
            this.#event({ type: "disconnected", error });
            this.#retry(reconnect, 1);
            if (session && !resumable)
                this.#sessionLost("the connection dropped before the session started", false);
            return;
        }
        if (ended)
            this.#endConnection(error);
        else if (session && !resumable)
            this.#sessionLost("the session ended", false);
        if (this.#retryTimer !== undefined)
            return; // this attempt already counted as failed
        // A reconnect attempt failed before it opened.
        const failed = this.#attempt;
        if (reconnect.maxAttempts !== undefined && failed >= reconnect.maxAttempts) {
            this.#fail(error);
            this.#event({ type: "gave-up", error });
            this.#resolveClosed(info ?? { code: 1006, reason: "" });
            return;
        }
        this.#retry(reconnect, failed + 1, error);
    }
    /** Waits out the backoff, then opens attempt number `attempt`. */
    #retry(reconnect, attempt, error) {
        const delay = backoffDelay(reconnect, attempt);
        if (error)
            this.#event({ type: "retrying", attempt: attempt - 1, error, delay });
        this.#retryTimer = setTimeout(() => {
            this.#retryTimer = undefined;
            if (this.#failure || !this.#reopen)
                return;
            this.#attempt = attempt;
            try {
                this.#socket = this.#reopen();
            }
            catch (e) {
                this.#dropped(new DisconnectedError(`could not open a WebSocket: ${String(e)}`), undefined);
                return;
            }
            this.#attach(this.#socket);
            this.#limitAttempt(this.#socket);
        }, delay);
    }
    /**
     * A resumable peer gives a reconnect attempt the liveness timeout to open:
     * one that hangs (its handshake swallowed by a frozen network) would
     * otherwise hold up the resume until the window is gone.
     */
    #limitAttempt(socket) {
        const resumable = this.#options.resumable;
        if (!resumable)
            return;
        const ms = livenessTimeout(typeof resumable === "object" ? resumable : {});
        if (ms === 0)
            return;
        this.#attemptTimer = setTimeout(() => {
            this.#attemptTimer = undefined;
            if (socket !== this.#socket || this.#failure || socket.readyState !== CONNECTING)
                return;
            this.#abandon(socket);
            this.#dropped(new DisconnectedError(`the connection attempt did not open within ${ms} ms`), undefined);
        }, ms);
    }
    #stopAttemptTimer() {
        if (this.#attemptTimer !== undefined)
            clearTimeout(this.#attemptTimer);
        this.#attemptTimer = undefined;
    }
    /** Leaves `socket` behind: its events are ignored from now on; `ws` drops it at once. */
    #abandon(socket) {
        this.#abandoned.add(socket);
        // A browser's close of a frozen connection waits for the other end (its events are ignored).
        const terminate = socket.terminate;
        if (typeof terminate === "function")
            terminate.call(socket);
        else
            socket.close(4000, "abandoned");
    }
    #event(event) {
        const reconnect = this.#reconnect;
        if (!reconnect || !reconnect.onEvent)
            return;
        try {
            reconnect.onEvent(event);
        }
        catch (e) {
            this.#warn(`onEvent threw: ${String(e)}`);
        }
    }
    /** Pending calls reject, streams throw `error`, produced streams stop. */
    #endConnection(error) {
        // Requests being handled: their signals fire (their replies have no connection to go to).
        const running = [...this.#running.values()];
        this.#running.clear();
        for (const cancel of running)
            cancel();
        const pending = [...this.#pending.values()];
        this.#pending.clear();
        for (const call of pending)
            call.reject(error);
        const consumers = [...this.#consumers.values()];
        this.#consumers.clear();
        for (const stream of consumers)
            stream.finish(error);
        const producers = [...this.#producers.values()];
        this.#producers.clear();
        for (const producer of producers) {
            producer.cancelled = true;
            producer.wake?.();
        }
    }
    /** Closes the peer for good: everything waiting fails with one error, once. */
    #fail(error) {
        if (this.#failure)
            return;
        this.#failure = error;
        this.#connected = false;
        this.#resuming = false;
        this.#session?.dispose();
        this.#session = undefined;
        if (this.#retryTimer !== undefined)
            clearTimeout(this.#retryTimer);
        this.#retryTimer = undefined;
        this.#stopAttemptTimer();
        for (const queued of this.#queue)
            if (queued.timer !== undefined)
                clearTimeout(queued.timer);
        this.#queue = [];
        this.#endConnection(error);
    }
    /**
     * Sends `text` now, or queues it until the socket opens. A call (`id`)
     * queued while reconnecting fails after the reconnect's `callTimeout`.
     */
    #send(text, id) {
        if (this.#failure)
            return;
        if (this.#session || (this.#connected && this.#socket.readyState !== CONNECTING)) {
            this.#wire(text);
            return;
        }
        const queued = id === undefined ? { text } : { text, id };
        const reconnect = this.#reconnect;
        if (id !== undefined && this.#everOpened && reconnect) {
            const timeout = reconnect.callTimeout ?? 10_000;
            queued.timer = setTimeout(() => {
                this.#queue = this.#queue.filter((q) => q !== queued);
                const call = this.#pending.get(id);
                this.#pending.delete(id);
                this.#consumers.get(id)?.finish();
                this.#consumers.delete(id);
                call?.reject(new DisconnectedError(`not reconnected within ${timeout} ms`));
            }, timeout);
        }
        this.#queue.push(queued);
    }
    /** Sends a stream control notification on the current connection or session (dropped if there is none). */
    #control(method, params) {
        if (!this.#failure)
            this.#wire(encodeCall(undefined, method, params));
    }
    /**
     * Sends a message through the session (which keeps it for replay, and
     * holds it while disconnected), else on the open socket, else drops it.
     */
    #wire(text) {
        const session = this.#session;
        if (session) {
            if (!session.send(text))
                this.#sessionLost(REPLAY_OVERFLOW, false);
        }
        else if (this.#connected) {
            this.#socket.send(text);
        }
    }
    #warn(message) {
        this.#options.onWarning?.(message);
    }
    #receive(data) {
        if (typeof data !== "string") {
            // As the Rust peer: JSON-RPC travels in text frames only.
            this.#socket.close(1003, "binary frames are not supported: send JSON-RPC as text frames");
            return;
        }
        const message = this.#session ? this.#session.receive(data) : data;
        if (message === undefined)
            return; // a session frame
        const generation = this.#generation;
        // A reply goes out on the connection (or session) its request came in on, or not at all.
        const sameConnection = () => generation === this.#generation && (this.#connected || this.#session !== undefined);
        const frame = parseFrame(message);
        switch (frame.kind) {
            case "parse-error":
                this.#send(encodeError(null, specError(ErrorCode.ParseError)));
                return;
            case "empty-batch":
                this.#send(encodeError(null, specError(ErrorCode.InvalidRequest)));
                return;
            case "single": {
                const reply = this.#handleMessage(frame.message);
                if (reply) {
                    void reply.then((r) => {
                        if (!sameConnection())
                            return;
                        this.#send(r.text);
                        r.after?.();
                    });
                }
                return;
            }
            case "batch": {
                // Replies to the batch's requests (and invalid elements) go back as
                // one array once all are ready; nothing to answer, no reply at all.
                const replies = frame.messages.map((m) => this.#handleMessage(m)).filter((r) => r !== undefined);
                if (replies.length > 0) {
                    void Promise.all(replies).then((rs) => {
                        if (!sameConnection())
                            return;
                        this.#send(`[${rs.map((r) => r.text).join(",")}]`);
                        for (const r of rs)
                            r.after?.();
                    });
                }
                return;
            }
        }
    }
    /** Handles one message; returns its reply, if it gets one. */
    #handleMessage(message) {
        switch (message.kind) {
            case "request": {
                const id = message.id;
                const key = JSON.stringify(id);
                const controller = new AbortController();
                let cancel;
                const cancelled = new Promise((resolve) => {
                    cancel = () => {
                        controller.abort();
                        resolve({ text: encodeError(id, { code: ErrorCode.RequestCancelled, message: "Request cancelled" }) });
                    };
                });
                // A second request reusing a running id is not cancellable (as the Rust dispatcher's first-wins table).
                const cancellable = !this.#running.has(key);
                if (cancellable)
                    this.#running.set(key, cancel);
                const outcome = this.#run(message.method, message.params, { signal: controller.signal }).then((result) => {
                    if (!isAsyncIterable(result))
                        return { text: encodeResultSafely(id, result) };
                    const generation = this.#generation;
                    return {
                        text: encodeResult(id, null),
                        after: () => {
                            if (generation === this.#generation)
                                void this.#produce(id, result);
                        },
                    };
                }, (error) => ({ text: encodeError(id, toErrorObject(error)) }));
                // Whichever comes first is the one reply; the other is dropped.
                return Promise.race([outcome, cancelled]).finally(() => {
                    if (cancellable && this.#running.get(key) === cancel)
                        this.#running.delete(key);
                });
            }
            case "notification":
                if (message.method === CANCEL_REQUEST) {
                    const p = message.params;
                    if (typeof p === "object" && p !== null && "id" in p) {
                        const cancel = this.#running.get(JSON.stringify(p.id));
                        if (cancel) {
                            this.#running.delete(JSON.stringify(p.id));
                            cancel();
                        }
                    }
                    else {
                        this.#warn(`dropping malformed ${CANCEL_REQUEST}`);
                    }
                    return undefined;
                }
                if (message.method.startsWith("$/stream/")) {
                    this.#streamMessage(message.method, message.params);
                    return undefined;
                }
                this.#run(message.method, message.params, { signal: new AbortController().signal }).catch((error) => {
                    this.#warn(`notification ${message.method} failed: ${String(error)}`);
                });
                return undefined;
            case "response":
                this.#complete(message.id, message.outcome);
                return undefined;
            case "invalid":
                return Promise.resolve({ text: encodeError(message.id, specError(ErrorCode.InvalidRequest)) });
            case "bad-response":
                this.#warn(`dropping malformed response: ${message.reason}`);
                return undefined;
        }
    }
    /** `$/stream/item` and `$/stream/end` for our streams; `$/stream/credit` and `$/stream/cancel` for the ones we produce. */
    #streamMessage(method, params) {
        if (typeof params !== "object" || params === null || !("subscription" in params)) {
            this.#warn(`dropping malformed ${method}`);
            return;
        }
        const p = params;
        switch (method) {
            case STREAM_ITEM:
            case STREAM_END: {
                const id = p.subscription;
                const stream = typeof id === "number" ? this.#consumers.get(id) : undefined;
                if (!stream || typeof id !== "number") {
                    this.#warn(`dropping ${method} of an unknown stream (${JSON.stringify(id)})`);
                    return;
                }
                if (method === STREAM_ITEM) {
                    if (!stream.push(p.item === undefined ? null : p.item)) {
                        this.#warn(`stream ${id} overflow: the producer exceeded its window`);
                        this.#consumers.delete(id);
                        this.#control(STREAM_CANCEL, { subscription: id });
                    }
                    return;
                }
                this.#consumers.delete(id);
                stream.finish(isErrorObject(p.error) ? RpcError.fromObject(p.error) : undefined);
                return;
            }
            case STREAM_CREDIT:
            case STREAM_CANCEL: {
                const key = JSON.stringify(p.subscription);
                const producer = this.#producers.get(key);
                if (!producer)
                    return;
                if (method === STREAM_CANCEL) {
                    this.#producers.delete(key);
                    producer.cancelled = true;
                }
                else {
                    const n = typeof p.n === "number" && Number.isFinite(p.n) ? Math.max(0, Math.floor(p.n)) : 0;
                    // Never more credit than the window (as the Rust producer).
                    producer.credits = Math.min(STREAM_WINDOW, producer.credits + n);
                }
                producer.wake?.();
                return;
            }
            default:
                this.#warn(`dropping unknown stream message ${method}`);
        }
    }
    /** Streams `items` for request `id` within the consumer's credits. */
    async #produce(id, items) {
        const key = JSON.stringify(id);
        const producer = { credits: STREAM_WINDOW, cancelled: false, wake: undefined };
        this.#producers.set(key, producer);
        const send = (text) => {
            if (!producer.cancelled)
                this.#wire(text);
        };
        const end = (error) => send(encodeCall(undefined, STREAM_END, error ? { subscription: id, error } : { subscription: id }));
        let iterator;
        try {
            iterator = items[Symbol.asyncIterator]();
            for (;;) {
                while (producer.credits === 0 && !producer.cancelled) {
                    await new Promise((wake) => {
                        producer.wake = wake;
                    });
                    producer.wake = undefined;
                }
                if (producer.cancelled)
                    break;
                let next;
                try {
                    next = await iterator.next();
                }
                catch (e) {
                    iterator = undefined; // a throwing iterator is finished
                    end(toErrorObject(e));
                    return;
                }
                if (producer.cancelled)
                    break;
                if (next.done) {
                    iterator = undefined;
                    end();
                    return;
                }
                let text;
                try {
                    text = encodeCall(undefined, STREAM_ITEM, { subscription: id, item: next.value ?? null });
                }
                catch (e) {
                    end(specError(ErrorCode.InternalError, `could not encode a stream item: ${String(e)}`));
                    return;
                }
                producer.credits--;
                send(text);
            }
        }
        finally {
            if (this.#producers.get(key) === producer)
                this.#producers.delete(key);
            if (iterator?.return) {
                try {
                    await iterator.return();
                }
                catch (e) {
                    this.#warn(`stream ${key}: return() threw: ${String(e)}`);
                }
            }
        }
    }
    /** Runs the handler of `method`; rejects with the error object to reply with. */
    async #run(method, params, context) {
        const entry = this.#handlers.get(method);
        if (!entry)
            throw new RpcError(ErrorCode.MethodNotFound, "Method not found");
        const args = positionalArgs(params, entry.names);
        if (typeof args === "string")
            throw new RpcError(ErrorCode.InvalidParams, "Invalid params", args);
        return await entry.handler(args, context);
    }
    #complete(id, outcome) {
        const call = typeof id === "number" ? this.#pending.get(id) : undefined;
        if (!call || typeof id !== "number") {
            this.#warn(`dropping response that matches no pending call (id ${JSON.stringify(id)})`);
            return;
        }
        this.#pending.delete(id);
        if (outcome.ok)
            call.resolve(outcome.result);
        else
            call.reject(RpcError.fromObject(outcome.error));
    }
}
/** Cancels `stream` with `error()` when `signal` aborts (unless it has finished by then). */
function abortWith(stream, signal, error) {
    if (signal.aborted) {
        stream.abort(error());
        return;
    }
    const onAbort = () => stream.abort(error());
    signal.addEventListener("abort", onAbort);
    stream.whenFinished(() => signal.removeEventListener("abort", onAbort));
}
/** The refusals of sockets whose handshake the server refused (read by {@link connect}). */
const refusals = new WeakMap();
/** Whether a peer has a session to resume (read by {@link connect}, to offer the subprotocol). */
const hasSession = new WeakMap();
function isErrorObject(value) {
    return (typeof value === "object" &&
        value !== null &&
        typeof value.code === "number" &&
        typeof value.message === "string");
}
/** The error object a handler's failure is answered with. */
function toErrorObject(error) {
    if (error instanceof RpcError)
        return error.toObject();
    const reason = error instanceof Error ? error.message : String(error);
    return specError(ErrorCode.InternalError, `handler threw: ${reason}`);
}
function encodeResultSafely(id, result) {
    try {
        return encodeResult(id, result);
    }
    catch (e) {
        return encodeError(id, specError(ErrorCode.InternalError, `could not encode the result: ${String(e)}`));
    }
}
/**
 * Opens a WebSocket to `url` and resolves with its peer once it is open;
 * rejects with a {@link DisconnectedError} if it fails first.
 *
 * Register handlers (e.g. a generated `register{Trait}`) right after the
 * promise resolves: no message is handled before that code runs.
 *
 * With `options.reconnect`, a connection that drops after this resolves is
 * opened again (see {@link ReconnectOptions}); the first connection must succeed.
 */
export function connect(url, options = {}) {
    if (options.headers && !options.WebSocket) {
        return Promise.reject(new TypeError("headers need the ws package (browsers cannot send them): connect(url, { WebSocket, headers })"));
    }
    const Socket = options.WebSocket ?? globalThis.WebSocket;
    if (!Socket) {
        return Promise.reject(new TypeError("no global WebSocket: pass one, e.g. connect(url, { WebSocket }) from 'ws'"));
    }
    if (options.resumable && !options.reconnect) {
        return Promise.reject(new TypeError("resumable sessions need reconnect: connect(url, { reconnect: true, resumable: true })"));
    }
    const { headers } = options;
    const offer = new SubprotocolOffer(Boolean(options.resumable), options.protocols);
    let peer;
    const open = () => offer.open(peer !== undefined && hasSession.get(peer)?.() === true, (protocols) => headers
        ? new Socket(url, protocols, { headers })
        : protocols === undefined
            ? new Socket(url)
            : new Socket(url, protocols));
    const first = () => {
        const socket = open();
        const opening = new Peer(socket, options, open);
        peer = opening;
        return new Promise((resolve, reject) => {
            socket.addEventListener("open", () => resolve(opening));
            void opening.closed.then((info) => reject(refusals.get(socket) ??
                new DisconnectedError(`could not connect to ${url} (${info.code})`, info.code, info.reason)));
            socket.addEventListener("error", () => reject(refusals.get(socket) ?? new DisconnectedError(`could not connect to ${url}`)));
        });
    };
    // The first attempt offered sessions and failed: maybe the server selects
    // none and the WebSocket refused that (see SubprotocolOffer). Once more, plain.
    return first().catch((error) => {
        if (!offer.retryPlain || error instanceof HandshakeRefusedError)
            throw error;
        return first();
    });
}
