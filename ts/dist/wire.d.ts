/**
 * The wire format, exactly as the Rust peer reads it (duplexrpc-core's
 * `message.rs`): every incoming message, and every element of a batch, is
 * classified on its own.
 *
 * - It has a `method`: a request if it has an `id` (even `null`), else a
 *   notification. `jsonrpc` must be `"2.0"`, `method` a string, the id a
 *   string, an integer or `null`, and `params`, when present, an array or an
 *   object; otherwise it is answered with -32600 (with its id when that is valid).
 * - It has no `method` but a `result` or an `error`: a response, matched to a
 *   pending call by id. A malformed or unmatched response is dropped, never
 *   answered (answering could start an error ping-pong between two peers).
 * - Anything else: -32600 Invalid Request.
 *
 * @module
 */
import { type ErrorObject } from "./errors.js";
/** A request id: what the spec allows and the Rust peer accepts. */
export type Id = number | string | null;
/** One classified incoming message. */
export type Incoming = {
    kind: "request";
    id: Id;
    method: string;
    params: unknown;
} | {
    kind: "notification";
    method: string;
    params: unknown;
} | {
    kind: "response";
    id: Id;
    outcome: {
        ok: true;
        result: unknown;
    } | {
        ok: false;
        error: ErrorObject;
    };
} | {
    kind: "invalid";
    id: Id;
} | {
    kind: "bad-response";
    reason: string;
};
/** A whole incoming text frame. */
export type Frame = {
    kind: "single";
    message: Incoming;
} | {
    kind: "batch";
    messages: Incoming[];
} | {
    kind: "parse-error";
} | {
    kind: "empty-batch";
};
/** Classifies one received text frame. */
export declare function parseFrame(text: string): Frame;
/** Classifies one message (a frame's value or one element of a batch). */
export declare function classify(value: unknown): Incoming;
/** A request (with an id) or a notification. */
export declare function encodeCall(id: number | undefined, method: string, params: unknown): string;
/** A success reply; a result that is `undefined` (a `void` handler) is sent as `null`. */
export declare function encodeResult(id: Id, result: unknown): string;
/** An error reply. */
export declare function encodeError(id: Id, error: ErrorObject): string;
/** The spec's own message for the predefined codes. */
export declare function specError(code: number, data?: unknown): ErrorObject;
/**
 * The params of an incoming call as positional arguments, the way the Rust
 * side parses them into its generated params struct: an array must have
 * exactly one element per parameter; an object gives them by name (a name
 * ending in `?` is an `Option` and may be absent, as `null`; unknown keys are
 * ignored); absent params count as `{}`. Returns the reason when they do not fit.
 */
export declare function positionalArgs(params: unknown, names: readonly string[]): unknown[] | string;
