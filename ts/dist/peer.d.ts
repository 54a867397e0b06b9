/**
 * The peer: one end of a WebSocket that calls the other end and serves its
 * calls at the same time.
 *
 * @module
 */
/**
 * What the peer needs of a WebSocket: the browser's `WebSocket` and the `ws`
 * package's both fit.
 */
export interface WebSocketLike {
    readonly readyState: number;
    send(data: string): void;
    close(code?: number, reason?: string): void;
    addEventListener(type: "open" | "message" | "close" | "error", listener: (event: any) => void): void;
}
/** A `WebSocket` class: the browser's global one, or `ws`'s in Node. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;
/** A handler of incoming calls: gets the params by position, returns the result (or a promise of it). */
export type Handler = (args: unknown[]) => unknown;
/** How the connection ended. */
export interface CloseInfo {
    /** The WebSocket close code (1006 when the connection failed without one). */
    code: number;
    /** The close reason. */
    reason: string;
}
/** Settings of a peer. */
export interface PeerOptions {
    /**
     * Told about input the protocol says to drop without an answer (a malformed
     * or unmatched response, a failing notification handler). Default: nothing.
     */
    onWarning?: (message: string) => void;
}
/** Settings of {@link connect}. */
export interface ConnectOptions extends PeerOptions {
    /**
     * The WebSocket class to connect with. Default: the global `WebSocket`
     * (browsers, Node 22+). In Node 20 pass the `ws` package's: `{ WebSocket }`.
     */
    WebSocket?: WebSocketConstructor;
}
/**
 * One end of a JSON-RPC 2.0 connection over a WebSocket. Both ends are the
 * same: a peer {@link Peer.call | calls} and {@link Peer.notify | notifies}
 * the other end, and {@link Peer.handle | serves} the other end's calls.
 *
 * Generated bindings wrap it: `new CalculatorClient(peer)` for calls,
 * `registerBrowser(peer, impl)` for serving.
 */
export declare class Peer {
    #private;
    /** Settles once the connection has closed. */
    readonly closed: Promise<CloseInfo>;
    /**
     * A peer over `socket`, which may still be connecting: what is sent before
     * it opens waits in a queue.
     */
    constructor(socket: WebSocketLike, options?: PeerOptions);
    /** True until the connection has closed or failed. */
    get isOpen(): boolean;
    /**
     * Calls `method` on the other end with params by position (an array) or by
     * name (an object). Resolves with the result; rejects with an
     * {@link RpcError} (the other end's error object) or a
     * {@link DisconnectedError} (the connection ended first).
     *
     * The result is not checked at run time: `T` is what the caller (usually
     * generated code) says the other end returns.
     */
    call<T>(method: string, params?: unknown[] | Record<string, unknown>): Promise<T>;
    /**
     * Sends a notification: no reply, and no way to know whether it arrived.
     * Throws a {@link DisconnectedError} if the connection has already ended.
     */
    notify(method: string, params?: unknown[] | Record<string, unknown>): void;
    /**
     * Serves `method`. `names` are the parameter names in order (a trailing
     * `?` marks an optional one), used when the other end sends params by
     * name; `handler` gets the params by position. What it returns (or resolves
     * with) is the reply's result (`undefined` is sent as `null`); an
     * {@link RpcError} it throws is the reply's error; anything else it throws
     * becomes -32603 Internal error. Called as a notification, the outcome is dropped.
     */
    handle(method: string, names: readonly string[], handler: Handler): void;
    /**
     * Closes the connection. Calls still waiting fail at once with a
     * {@link DisconnectedError}; {@link Peer.closed} settles once the socket has closed.
     */
    close(code?: number, reason?: string): void;
}
/**
 * Opens a WebSocket to `url` and resolves with its peer once it is open;
 * rejects with a {@link DisconnectedError} if it fails first.
 *
 * Register handlers (e.g. a generated `register{Trait}`) right after the
 * promise resolves: no message is handled before that code runs.
 */
export declare function connect(url: string, options?: ConnectOptions): Promise<Peer>;
