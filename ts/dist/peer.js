/**
 * The peer: one end of a WebSocket that calls the other end and serves its
 * calls at the same time.
 *
 * @module
 */
import { DisconnectedError, ErrorCode, RpcError } from "./errors.js";
import { encodeCall, encodeError, encodeResult, parseFrame, positionalArgs, specError, } from "./wire.js";
const CONNECTING = 0;
const OPEN = 1;
/**
 * One end of a JSON-RPC 2.0 connection over a WebSocket. Both ends are the
 * same: a peer {@link Peer.call | calls} and {@link Peer.notify | notifies}
 * the other end, and {@link Peer.handle | serves} the other end's calls.
 *
 * Generated bindings wrap it: `new CalculatorClient(peer)` for calls,
 * `registerBrowser(peer, impl)` for serving.
 */
export class Peer {
    #socket;
    #options;
    #pending = new Map();
    #handlers = new Map();
    /** Messages sent while the socket was still connecting. */
    #queue = [];
    #nextId = 1;
    #failure;
    #resolveClosed;
    /** Settles once the connection has closed. */
    closed;
    /**
     * A peer over `socket`, which may still be connecting: what is sent before
     * it opens waits in a queue.
     */
    constructor(socket, options = {}) {
        this.#socket = socket;
        this.#options = options;
        this.closed = new Promise((resolve) => {
            this.#resolveClosed = resolve;
        });
        socket.addEventListener("open", () => this.#flushQueue());
        socket.addEventListener("message", (event) => this.#receive(event.data));
        socket.addEventListener("error", () => this.#fail(new DisconnectedError("the WebSocket failed")));
        socket.addEventListener("close", (event) => {
            const code = event.code ?? 1006;
            const reason = event.reason ?? "";
            const why = reason ? `${code} ${reason}` : `${code}`;
            this.#fail(new DisconnectedError(`the connection closed (${why})`, code, reason));
            this.#resolveClosed({ code, reason });
        });
        if (socket.readyState === OPEN)
            this.#flushQueue();
    }
    /** True until the connection has closed or failed. */
    get isOpen() {
        return this.#failure === undefined;
    }
    /**
     * Calls `method` on the other end with params by position (an array) or by
     * name (an object). Resolves with the result; rejects with an
     * {@link RpcError} (the other end's error object) or a
     * {@link DisconnectedError} (the connection ended first).
     *
     * The result is not checked at run time: `T` is what the caller (usually
     * generated code) says the other end returns.
     */
    call(method, params = []) {
        if (this.#failure)
            return Promise.reject(this.#failure);
        const id = this.#nextId++;
        let text;
        try {
            text = encodeCall(id, method, params);
        }
        catch (e) {
            return Promise.reject(new TypeError(`could not encode the call to ${method}: ${String(e)}`));
        }
        return new Promise((resolve, reject) => {
            this.#pending.set(id, { resolve: resolve, reject });
            this.#send(text);
        });
    }
    /**
     * Sends a notification: no reply, and no way to know whether it arrived.
     * Throws a {@link DisconnectedError} if the connection has already ended.
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
     */
    handle(method, names, handler) {
        if (this.#handlers.has(method))
            throw new Error(`method ${JSON.stringify(method)} is already registered`);
        this.#handlers.set(method, { names, handler });
    }
    /**
     * Closes the connection. Calls still waiting fail at once with a
     * {@link DisconnectedError}; {@link Peer.closed} settles once the socket has closed.
     */
    close(code = 1000, reason = "") {
        this.#fail(new DisconnectedError("the connection was closed locally", code, reason));
        this.#socket.close(code, reason);
    }
    /** Rejects every pending call with one error, once. */
    #fail(error) {
        if (this.#failure)
            return;
        this.#failure = error;
        this.#queue = [];
        const pending = [...this.#pending.values()];
        this.#pending.clear();
        for (const call of pending)
            call.reject(error);
    }
    #send(text) {
        if (this.#failure)
            return;
        if (this.#socket.readyState === CONNECTING) {
            this.#queue.push(text);
            return;
        }
        this.#socket.send(text);
    }
    #flushQueue() {
        const queue = this.#queue;
        this.#queue = [];
        for (const text of queue)
            this.#socket.send(text);
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
        const frame = parseFrame(data);
        switch (frame.kind) {
            case "parse-error":
                this.#send(encodeError(null, specError(ErrorCode.ParseError)));
                return;
            case "empty-batch":
                this.#send(encodeError(null, specError(ErrorCode.InvalidRequest)));
                return;
            case "single": {
                const reply = this.#handleMessage(frame.message);
                if (reply)
                    void reply.then((text) => this.#send(text));
                return;
            }
            case "batch": {
                // Replies to the batch's requests (and invalid elements) go back as
                // one array once all are ready; nothing to answer, no reply at all.
                const replies = frame.messages.map((m) => this.#handleMessage(m)).filter((r) => r !== undefined);
                if (replies.length > 0)
                    void Promise.all(replies).then((texts) => this.#send(`[${texts.join(",")}]`));
                return;
            }
        }
    }
    /** Handles one message; returns its reply, if it gets one. */
    #handleMessage(message) {
        switch (message.kind) {
            case "request":
                return this.#run(message.method, message.params).then((result) => encodeResultSafely(message.id, result), (error) => encodeError(message.id, toErrorObject(error)));
            case "notification":
                this.#run(message.method, message.params).catch((error) => {
                    this.#warn(`notification ${message.method} failed: ${String(error)}`);
                });
                return undefined;
            case "response":
                this.#complete(message.id, message.outcome);
                return undefined;
            case "invalid":
                return Promise.resolve(encodeError(message.id, specError(ErrorCode.InvalidRequest)));
            case "bad-response":
                this.#warn(`dropping malformed response: ${message.reason}`);
                return undefined;
        }
    }
    /** Runs the handler of `method`; rejects with the error object to reply with. */
    async #run(method, params) {
        const entry = this.#handlers.get(method);
        if (!entry)
            throw new RpcError(ErrorCode.MethodNotFound, "Method not found");
        const args = positionalArgs(params, entry.names);
        if (typeof args === "string")
            throw new RpcError(ErrorCode.InvalidParams, "Invalid params", args);
        return await entry.handler(args);
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
 */
export function connect(url, options = {}) {
    const Socket = options.WebSocket ?? globalThis.WebSocket;
    if (!Socket) {
        return Promise.reject(new TypeError("no global WebSocket: pass one, e.g. connect(url, { WebSocket }) from 'ws'"));
    }
    const socket = new Socket(url);
    const peer = new Peer(socket, options);
    return new Promise((resolve, reject) => {
        socket.addEventListener("open", () => resolve(peer));
        void peer.closed.then((info) => reject(new DisconnectedError(`could not connect to ${url} (${info.code})`, info.code, info.reason)));
        socket.addEventListener("error", () => reject(new DisconnectedError(`could not connect to ${url}`)));
    });
}
