/** The error codes JSON-RPC 2.0 defines (and the ones the Rust peer adds). */
export const ErrorCode = {
    /** Invalid JSON was received. */
    ParseError: -32700,
    /** The JSON sent is not a valid Request object. */
    InvalidRequest: -32600,
    /** The method does not exist or is not available. */
    MethodNotFound: -32601,
    /** Invalid method parameter(s). */
    InvalidParams: -32602,
    /** Internal JSON-RPC error (also: a handler threw something other than an RpcError). */
    InternalError: -32603,
    /** The Rust peer's answer when it already runs as many calls as it allows. */
    ServerBusy: -32000,
    /** The Rust peer's answer to a call its caller cancelled (`$/cancelRequest`). */
    RequestCancelled: -32001,
};
/**
 * A call failed on the other end: the error object of the reply, with its
 * `code`, `message` and optional `data`.
 *
 * Throw one from a handler (an implementation registered with a generated
 * `register{Trait}` function) to make the call fail with that code and data.
 */
export class RpcError extends Error {
    code;
    data;
    constructor(code, message, data) {
        super(message);
        this.name = "RpcError";
        this.code = code;
        this.data = data;
    }
    /** The error object sent on the wire (`data` only when it is defined). */
    toObject() {
        return this.data === undefined
            ? { code: this.code, message: this.message }
            : { code: this.code, message: this.message, data: this.data };
    }
    /** An RpcError from a received error object. */
    static fromObject(e) {
        return new RpcError(e.code, e.message, e.data);
    }
}
/**
 * A call could not complete because the connection closed or failed first.
 * Every call pending at that moment fails with the same error, at once.
 */
export class DisconnectedError extends Error {
    /** The WebSocket close code, when the connection closed with one. */
    closeCode;
    /** The close reason, when there was one. */
    reason;
    constructor(message, closeCode, reason = "") {
        super(message);
        this.name = "DisconnectedError";
        this.closeCode = closeCode;
        this.reason = reason;
    }
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
export class SessionLostError extends DisconnectedError {
    constructor(reason) {
        super(`the session could not be resumed: ${reason}`, undefined, reason);
        this.name = "SessionLostError";
    }
}
/**
 * A call the caller gave up on through its `AbortSignal`: the pending call
 * is dropped and `$/cancelRequest` tells the other end (if the request went out).
 */
export class CallAbortedError extends Error {
    /** The signal's `reason`. */
    reason;
    constructor(method, reason) {
        super(`the call to ${method} was aborted`);
        this.name = "CallAbortedError";
        this.reason = reason;
    }
}
/**
 * A call got no reply within its timeout: the pending call is dropped and
 * `$/cancelRequest` tells the other end (if the request went out).
 */
export class CallTimeoutError extends Error {
    /** The timeout that expired, in ms. */
    timeoutMs;
    constructor(method, timeoutMs) {
        super(`the call to ${method} timed out after ${timeoutMs} ms`);
        this.name = "CallTimeoutError";
        this.timeoutMs = timeoutMs;
    }
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
export class HandshakeRefusedError extends DisconnectedError {
    /** The HTTP status code, e.g. 403. */
    status;
    /** The response body as text (at most {@link HandshakeRefusedError.MAX_BODY} bytes of it). */
    body;
    /** The response headers, names in lower case. */
    headers;
    /** The most bytes of the response body kept (the rest is not read). */
    static MAX_BODY = 64 * 1024;
    constructor(status, body, headers = {}) {
        const shown = body.trim();
        const detail = shown.length > 200 ? `${shown.slice(0, 200)}...` : shown;
        super(`the server refused the WebSocket handshake: HTTP ${status}${detail ? ` ${JSON.stringify(detail)}` : ""}`);
        this.name = "HandshakeRefusedError";
        this.status = status;
        this.body = body;
        this.headers = headers;
    }
}
