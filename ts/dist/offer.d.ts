/**
 * Which subprotocols each connection attempt of a resumable peer offers:
 * the session subprotocol first, unless the server is known (or likely) to
 * refuse it.
 *
 * A server without sessions answers with a 101 that selects no subprotocol;
 * Chromium and Node's `ws` then fail the connection (RFC 6455 lets them),
 * where SESSION-SPEC expects a plain connection. So when an attempt that
 * offered the subprotocol fails before opening and there is no session to
 * resume, the next attempt goes without it. `ws` says why it failed: then
 * the subprotocol is offered no more.
 *
 * @module
 */
/** What the offer listens to on a socket (the browser's and `ws`'s fit). */
interface Listenable {
    addEventListener(type: "open" | "error" | "close", listener: (event: unknown) => void): void;
}
export declare class SubprotocolOffer {
    #private;
    /** `protocols`: the caller's own subprotocols. */
    constructor(resumable: boolean, protocols: string | string[] | undefined);
    /** Whether the last attempt's failure suggests one without the subprotocol. */
    get retryPlain(): boolean;
    /**
     * Opens the next attempt with `open(protocols)`; `resuming`: there is a
     * session to resume (then the subprotocol is offered whatever happened).
     */
    open<S extends Listenable>(resuming: boolean, open: (protocols: string | string[] | undefined) => S): S;
}
export {};
