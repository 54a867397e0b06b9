/**
 * The peer: one end of a WebSocket that calls the other end and serves its
 * calls at the same time.
 *
 * @module
 */
import { DisconnectedError, SessionLostError } from "./errors.js";
import { type SessionOptions } from "./session.js";
import { RpcStream } from "./stream.js";
/**
 * What the peer needs of a WebSocket: the browser's `WebSocket` and the `ws`
 * package's both fit.
 */
export interface WebSocketLike {
    readonly readyState: number;
    /** The subprotocol the server selected (`""` for none); read once open, for {@link PeerOptions.resumable}. */
    readonly protocol?: string;
    send(data: string): void;
    close(code?: number, reason?: string): void;
    addEventListener(type: "open" | "message" | "close" | "error", listener: (event: any) => void): void;
}
/**
 * A `WebSocket` class: the browser's global one, or `ws`'s in Node. Both
 * take the subprotocols second; `ws` also takes `{ headers }` third.
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[], options?: {
    headers?: Record<string, string>;
}) => WebSocketLike;
/**
 * A handler of incoming calls: gets the params by position (and the call's
 * context), returns the result (or a promise of it).
 */
export type Handler = (args: unknown[], context: CallContext) => unknown;
/** The notification that cancels a request: `{"id": <the request's id>}` (as the Rust peer's `CANCEL_METHOD`). */
export declare const CANCEL_REQUEST = "$/cancelRequest";
/** What the runtime needs of an `AbortSignal` (the DOM's and Node's both fit). */
export interface AbortSignalLike {
    readonly aborted: boolean;
    readonly reason?: unknown;
    addEventListener(type: "abort", listener: () => void): void;
    removeEventListener(type: "abort", listener: () => void): void;
}
/** What a handler gets next to its params. */
export interface CallContext {
    /**
     * Fires when the caller cancels the request (`$/cancelRequest`); the
     * request is then answered with -32001 "Request cancelled" and what the
     * handler returns later is dropped. Never fires for a notification.
     */
    readonly signal: AbortSignalLike;
}
/**
 * Settings of one {@link Peer.call} or {@link Peer.subscribe} (every method
 * of a generated client takes them as its optional last argument).
 */
export interface CallOptions {
    /**
     * Aborting it rejects the call with a {@link CallAbortedError} and cancels
     * the request on the other end (`$/cancelRequest`). Aborting a stream that
     * was already accepted cancels it (`$/stream/cancel`): its loop throws the
     * {@link CallAbortedError}.
     */
    signal?: AbortSignalLike;
    /**
     * Rejects the call with a {@link CallTimeoutError} and cancels the request
     * if no reply came within this many ms (for a stream: until it is
     * accepted). Default: the peer's `timeoutMs`.
     */
    timeoutMs?: number;
}
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
    /**
     * Reconnect automatically when an established connection drops (needs a
     * way to open a new socket: {@link connect} has one; `new Peer` takes it as
     * its third argument). `true`: with the default {@link ReconnectOptions}.
     * `false` or absent: a dropped connection ends the peer.
     */
    reconnect?: ReconnectOptions | boolean;
    /**
     * Resumable sessions (needs `reconnect`): a dropped connection loses
     * nothing. {@link connect} offers the WebSocket subprotocol
     * `duplexrpc.session.v1` (with `new Peer`, open every socket with
     * {@link SESSION_PROTOCOL} among its protocols). If the server selects it,
     * messages are numbered, acknowledged and kept for replay; after a drop the
     * peer reconnects (with `reconnect`'s backoff), resumes the session and
     * replays what the other end missed, so pending calls both ways, streams
     * and handlers carry on, and what is sent meanwhile goes out on resume
     * (events `disconnected`, then `resumed`). If the session cannot be
     * resumed (the server answers `#lost`, the server's resume window expires
     * while disconnected, or the replay buffer would overflow while
     * disconnected), everything pending fails with a {@link SessionLostError}
     * (event `sessionLost`) and a fresh session follows (event `reconnected`).
     * If the server does not select the subprotocol, the connection is plain
     * (as without this option). `true` takes the defaults of {@link SessionOptions}.
     */
    resumable?: boolean | SessionOptions;
    /** Default timeout (ms) of every {@link Peer.call} and {@link Peer.subscribe} (see {@link CallOptions.timeoutMs}). Default: none. */
    timeoutMs?: number;
}
/**
 * How a peer reconnects: exponential backoff with jitter, as the Rust
 * client's `Backoff` (`rpc-ws/src/reconnect.rs`). The delay before attempt
 * `k` (1-based) is `min(initialDelay * multiplier^(k-1), maxDelay)`, spread
 * by `+-jitter` of itself.
 *
 * What survives a reconnect: the handlers registered on the peer (a generated
 * `register{Trait}` runs once; the new connection serves them too) and the
 * typed clients built on it. What does not: calls pending at the drop reject
 * with the {@link DisconnectedError} (never retried: a call may have had
 * effects), streams throw it, and streams this side produced stop.
 * Calls made while reconnecting wait until the peer is connected again, up to
 * {@link ReconnectOptions.callTimeout}; notifications wait until then too.
 * With {@link PeerOptions.resumable} and a server that speaks sessions, all of
 * it survives instead: pending calls, streams and what is sent meanwhile
 * carry on in the resumed session.
 */
export interface ReconnectOptions {
    /** Delay before the first attempt, in ms. Default 100. */
    initialDelay?: number;
    /** Longest delay between attempts, in ms. Default 10000. */
    maxDelay?: number;
    /** Growth of the delay per failed attempt. Default 2. */
    multiplier?: number;
    /** Random spread as a fraction of the delay (0.3 = +-30 %), clamped to 0..1. Default 0.3. */
    jitter?: number;
    /** Give up after this many failed attempts in a row. Default: never. */
    maxAttempts?: number;
    /** How long (ms) a call made while reconnecting waits for the connection. Default 10000. */
    callTimeout?: number;
    /**
     * Told when the connection drops, each failed attempt, when it is back, and
     * when the peer gives up; with {@link PeerOptions.resumable}, also when the
     * session resumed, was lost, or started afresh.
     */
    onEvent?: (event: ConnectionEvent) => void;
}
/** What happened to a reconnecting peer's connection. */
export type ConnectionEvent = 
/** Connected again after `attempt` attempts (a plain connection: no session). */
{
    type: "connected";
    attempt: number;
}
/** A resumable session continues on a new connection after `attempt` attempts: nothing was lost. */
 | {
    type: "resumed";
    attempt: number;
}
/** A fresh resumable session started after `attempt` attempts (the previous one was lost). */
 | {
    type: "reconnected";
    attempt: number;
}
/** The session could not be resumed (`reason`): what was pending rejected with `error`; a fresh session follows. */
 | {
    type: "sessionLost";
    reason: string;
    error: SessionLostError;
}
/**
 * The connection dropped; a reconnect follows. Without a session `error` is
 * what pending calls rejected with; with a resumable one they wait for the resume.
 */
 | {
    type: "disconnected";
    error: DisconnectedError;
}
/** Attempt number `attempt` failed; the next comes after `delay` ms. */
 | {
    type: "retrying";
    attempt: number;
    error: DisconnectedError;
    delay: number;
}
/** `maxAttempts` attempts failed in a row: the peer is closed for good. */
 | {
    type: "gave-up";
    error: DisconnectedError;
};
/**
 * The delay (ms) before reconnect attempt `attempt` (1-based), jitter
 * included; `random` is a uniform number in [0, 1).
 */
export declare function backoffDelay(options: ReconnectOptions, attempt: number, random?: number): number;
/** Settings of {@link connect}. */
export interface ConnectOptions extends PeerOptions {
    /**
     * The WebSocket class to connect with. Default: the global `WebSocket`
     * (browsers, Node 22+). In Node 20 pass the `ws` package's: `{ WebSocket }`.
     */
    WebSocket?: WebSocketConstructor;
    /** The subprotocols to offer (`Sec-WebSocket-Protocol`), in every environment. */
    protocols?: string | string[];
    /**
     * HTTP headers of the opening handshake (e.g. `Authorization`), sent on
     * every (re)connect. Only the `ws` package can send them (pass its class as
     * `WebSocket`): browsers let no script set handshake headers, so `connect`
     * rejects with a `TypeError` when `headers` come without a `WebSocket` class.
     */
    headers?: Record<string, string>;
}
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
export declare class Peer {
    #private;
    /** Settles once the connection has closed for good (a reconnecting peer: closed locally, or gave up). */
    readonly closed: Promise<CloseInfo>;
    /**
     * A peer over `socket`, which may still be connecting: what is sent before
     * it opens waits in a queue. With `options.reconnect`, `reopen` opens the
     * socket of each new attempt.
     */
    constructor(socket: WebSocketLike, options?: PeerOptions, reopen?: () => WebSocketLike);
    /** True until the peer has closed for good (a reconnecting peer stays open while it reconnects). */
    get isOpen(): boolean;
    /** True while the socket is open (false while connecting or reconnecting, or while a session resumes). */
    get connected(): boolean;
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
    call<T>(method: string, params?: unknown[] | Record<string, unknown>, options?: CallOptions): Promise<T>;
    /**
     * Calls a streaming method: resolves with the stream once the other end
     * has accepted the call (its reply is `null`), rejects as
     * {@link Peer.call} does. Iterate it with `for await`; see {@link RpcStream}.
     *
     * `options` are {@link Peer.call}'s: the timeout bounds the wait for the
     * acceptance; the signal also cancels the accepted stream.
     */
    subscribe<T>(method: string, params?: unknown[] | Record<string, unknown>, options?: CallOptions): Promise<RpcStream<T>>;
    /**
     * Sends a notification: no reply, and no way to know whether it arrived.
     * Throws a {@link DisconnectedError} if the peer has closed; while a
     * reconnecting peer reconnects, it waits to be sent on the new connection.
     */
    notify(method: string, params?: unknown[] | Record<string, unknown>): void;
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
    handle(method: string, names: readonly string[], handler: Handler): void;
    /**
     * Closes the connection (and stops reconnecting). Calls still waiting fail
     * at once with a {@link DisconnectedError}; {@link Peer.closed} settles
     * once the socket has closed. A resumable session ends with it (no resume).
     */
    close(code?: number, reason?: string): void;
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
export declare function connect(url: string, options?: ConnectOptions): Promise<Peer>;
