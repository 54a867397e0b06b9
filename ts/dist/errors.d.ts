/** The error codes JSON-RPC 2.0 defines (and the ones the Rust peer adds). */
export declare const ErrorCode: {
    /** Invalid JSON was received. */
    readonly ParseError: -32700;
    /** The JSON sent is not a valid Request object. */
    readonly InvalidRequest: -32600;
    /** The method does not exist or is not available. */
    readonly MethodNotFound: -32601;
    /** Invalid method parameter(s). */
    readonly InvalidParams: -32602;
    /** Internal JSON-RPC error (also: a handler threw something other than an RpcError). */
    readonly InternalError: -32603;
    /** The Rust peer's answer when it already runs as many calls as it allows. */
    readonly ServerBusy: -32000;
    /** The Rust peer's answer to a call its caller cancelled (`$/cancelRequest`). */
    readonly RequestCancelled: -32001;
};
/** The `error` member of a JSON-RPC response. */
export interface ErrorObject {
    code: number;
    message: string;
    data?: unknown;
}
/**
 * A call failed on the other end: the error object of the reply, with its
 * `code`, `message` and optional `data`.
 *
 * Throw one from a handler (an implementation registered with a generated
 * `register{Trait}` function) to make the call fail with that code and data.
 */
export declare class RpcError extends Error {
    readonly code: number;
    readonly data: unknown;
    constructor(code: number, message: string, data?: unknown);
    /** The error object sent on the wire (`data` only when it is defined). */
    toObject(): ErrorObject;
    /** An RpcError from a received error object. */
    static fromObject(e: ErrorObject): RpcError;
}
/**
 * A call could not complete because the connection closed or failed first.
 * Every call pending at that moment fails with the same error, at once.
 */
export declare class DisconnectedError extends Error {
    /** The WebSocket close code, when the connection closed with one. */
    readonly closeCode: number | undefined;
    /** The close reason, when there was one. */
    readonly reason: string;
    constructor(message: string, closeCode?: number, reason?: string);
}
/**
 * A resumable session (`connect(url, { reconnect, resumable: true })`) ended
 * for good: the server answered `#lost` (unknown or expired session, a
 * server restart, its replay buffer overflowed, another auth identity), the
 * resume window expired while disconnected, this side's replay buffer
 * overflowed while disconnected, or the protocol was broken. Every call
 * pending in the session rejects with it and its streams throw it; the peer
 * then starts a fresh session (a `sessionLost` event, then `reconnected`).
 *
 * It extends {@link DisconnectedError}, so `e instanceof DisconnectedError`
 * is true: code that handles a disconnect keeps working when sessions are
 * turned on; check `instanceof SessionLostError` first to tell the two apart.
 * `reason` holds the reason words (e.g. `"resume window expired"`).
 */
export declare class SessionLostError extends DisconnectedError {
    constructor(reason: string);
}
/**
 * A call the caller gave up on through its `AbortSignal`: the pending call
 * is dropped and `$/cancelRequest` tells the other end (if the request went out).
 */
export declare class CallAbortedError extends Error {
    /** The signal's `reason`. */
    readonly reason: unknown;
    constructor(method: string, reason: unknown);
}
/**
 * A call got no reply within its timeout: the pending call is dropped and
 * `$/cancelRequest` tells the other end (if the request went out).
 */
export declare class CallTimeoutError extends Error {
    /** The timeout that expired, in ms. */
    readonly timeoutMs: number;
    constructor(method: string, timeoutMs: number);
}
/**
 * The server refused the WebSocket handshake with an HTTP response (e.g.
 * 401 or 403 from an auth hook or an Origin check) instead of upgrading.
 * `connect` rejects with it (and a reconnecting peer's `retrying` event
 * carries it) where the platform exposes the response: in Node with the `ws`
 * package. Browsers hide a refused handshake's status and body from scripts
 * (an `error` event, then close code 1006): there `connect` rejects with a
 * plain {@link DisconnectedError}.
 */
export declare class HandshakeRefusedError extends DisconnectedError {
    /** The HTTP status code, e.g. 403. */
    readonly status: number;
    /** The response body as text (at most {@link HandshakeRefusedError.MAX_BODY} bytes of it). */
    readonly body: string;
    /** The response headers, names in lower case. */
    readonly headers: Readonly<Record<string, string | string[] | undefined>>;
    /** The most bytes of the response body kept (the rest is not read). */
    static readonly MAX_BODY: number;
    constructor(status: number, body: string, headers?: Readonly<Record<string, string | string[] | undefined>>);
}
