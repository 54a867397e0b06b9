/**
 * The opening handshake, where the platform lets a script see it: the HTTP
 * response of a refused handshake (Node's `ws` package emits it as
 * `unexpected-response`; browsers never show it to scripts).
 *
 * @module
 */
import { HandshakeRefusedError } from "./errors.js";
/**
 * If `socket` reports refused handshakes (the `ws` package does), calls
 * `refused` with the status, body and headers of one, then closes the socket
 * (whose `error` and `close` events follow).
 */
export declare function onRefusal(socket: object, close: () => void, refused: (error: HandshakeRefusedError) => void): void;
