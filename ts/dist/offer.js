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
import { SESSION_PROTOCOL } from "./session.js";
export class SubprotocolOffer {
    #own;
    #protocols;
    /** Whether to offer the session subprotocol at all (false once `ws` said the server selects none). */
    #sessions;
    /** The last attempt offered it without a session to resume and failed before opening. */
    #retryPlain = false;
    #latest;
    /** `protocols`: the caller's own subprotocols. */
    constructor(resumable, protocols) {
        this.#sessions = resumable;
        this.#protocols = protocols;
        this.#own = protocols === undefined ? [] : [protocols].flat();
    }
    /** Whether the last attempt's failure suggests one without the subprotocol. */
    get retryPlain() {
        return this.#retryPlain;
    }
    /**
     * Opens the next attempt with `open(protocols)`; `resuming`: there is a
     * session to resume (then the subprotocol is offered whatever happened).
     */
    open(resuming, open) {
        const offer = this.#sessions && (resuming || !this.#retryPlain);
        this.#retryPlain = false;
        const socket = open(offer ? [SESSION_PROTOCOL, ...this.#own] : this.#protocols);
        this.#latest = socket;
        if (offer) {
            // (Added before the peer's listeners, so that they see the verdict.)
            let opened = false;
            const failed = (event) => {
                if (noSubprotocol(event))
                    this.#sessions = false;
                if (!opened && !resuming && socket === this.#latest)
                    this.#retryPlain = true;
            };
            socket.addEventListener("open", () => {
                opened = true;
            });
            socket.addEventListener("error", failed);
            socket.addEventListener("close", failed);
        }
        return socket;
    }
}
/** Whether a socket's `error` event is `ws` refusing a 101 that selects none of the offered subprotocols. */
function noSubprotocol(event) {
    return event?.message === "Server sent no subprotocol";
}
