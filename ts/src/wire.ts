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

import { ErrorCode, type ErrorObject } from "./errors.js";

/** A request id: what the spec allows and the Rust peer accepts. */
export type Id = number | string | null;

/** One classified incoming message. */
export type Incoming =
  | { kind: "request"; id: Id; method: string; params: unknown }
  | { kind: "notification"; method: string; params: unknown }
  | { kind: "response"; id: Id; outcome: { ok: true; result: unknown } | { ok: false; error: ErrorObject } }
  | { kind: "invalid"; id: Id }
  | { kind: "bad-response"; reason: string };

/** A whole incoming text frame. */
export type Frame =
  | { kind: "single"; message: Incoming }
  | { kind: "batch"; messages: Incoming[] }
  | { kind: "parse-error" }
  | { kind: "empty-batch" };

/** Classifies one received text frame. */
export function parseFrame(text: string): Frame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: "parse-error" };
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return { kind: "empty-batch" };
    return { kind: "batch", messages: value.map(classify) };
  }
  return { kind: "single", message: classify(value) };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function has(o: Record<string, unknown>, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key);
}

/** The id if it is one the spec allows (integers only, as the Rust peer). */
function validId(v: unknown): { ok: true; id: Id } | { ok: false } {
  if (v === null || typeof v === "string") return { ok: true, id: v };
  if (typeof v === "number" && Number.isInteger(v)) return { ok: true, id: v };
  return { ok: false };
}

/** Classifies one message (a frame's value or one element of a batch). */
export function classify(value: unknown): Incoming {
  if (!isObject(value)) return { kind: "invalid", id: null };
  const versionOk = value["jsonrpc"] === "2.0";
  if (has(value, "method")) {
    let id: Id | undefined;
    if (has(value, "id")) {
      const parsed = validId(value["id"]);
      if (!parsed.ok) return { kind: "invalid", id: null };
      id = parsed.id;
    }
    const method = value["method"];
    const params = value["params"];
    const paramsOk = !has(value, "params") || (typeof params === "object" && params !== null);
    if (typeof method !== "string" || !versionOk || !paramsOk) return { kind: "invalid", id: id ?? null };
    return id === undefined
      ? { kind: "notification", method, params }
      : { kind: "request", id, method, params };
  }
  const hasResult = has(value, "result");
  const hasError = has(value, "error");
  if (hasResult || hasError) {
    if (!versionOk) return { kind: "bad-response", reason: 'missing or wrong "jsonrpc" member' };
    const id = has(value, "id") ? validId(value["id"]) : { ok: false as const };
    if (!id.ok || id.id === null) return { kind: "bad-response", reason: "missing or invalid id" };
    if (hasResult && hasError) return { kind: "bad-response", reason: 'both "result" and "error"' };
    if (hasResult) return { kind: "response", id: id.id, outcome: { ok: true, result: value["result"] } };
    const error = value["error"];
    if (!isObject(error) || !Number.isInteger(error["code"]) || typeof error["message"] !== "string") {
      return { kind: "bad-response", reason: "malformed error object" };
    }
    const object: ErrorObject = { code: error["code"] as number, message: error["message"] };
    if (has(error, "data")) object.data = error["data"];
    return { kind: "response", id: id.id, outcome: { ok: false, error: object } };
  }
  const id = has(value, "id") ? validId(value["id"]) : { ok: false as const };
  return { kind: "invalid", id: id.ok ? id.id : null };
}

/** A request (with an id) or a notification. */
export function encodeCall(id: number | undefined, method: string, params: unknown): string {
  return id === undefined
    ? JSON.stringify({ jsonrpc: "2.0", method, params })
    : JSON.stringify({ jsonrpc: "2.0", id, method, params });
}

/** A success reply; a result that is `undefined` (a `void` handler) is sent as `null`. */
export function encodeResult(id: Id, result: unknown): string {
  return JSON.stringify({ jsonrpc: "2.0", result: result === undefined ? null : result, id });
}

/** An error reply. */
export function encodeError(id: Id, error: ErrorObject): string {
  return JSON.stringify({ jsonrpc: "2.0", error, id });
}

/** The spec's own message for the predefined codes. */
export function specError(code: number, data?: unknown): ErrorObject {
  const messages: Record<number, string> = {
    [ErrorCode.ParseError]: "Parse error",
    [ErrorCode.InvalidRequest]: "Invalid Request",
    [ErrorCode.MethodNotFound]: "Method not found",
    [ErrorCode.InvalidParams]: "Invalid params",
    [ErrorCode.InternalError]: "Internal error",
  };
  const error: ErrorObject = { code, message: messages[code] ?? "Server error" };
  if (data !== undefined) error.data = data;
  return error;
}

/**
 * The params of an incoming call as positional arguments, the way the Rust
 * side parses them into its generated params struct: an array must have
 * exactly one element per parameter; an object gives them by name (a name
 * ending in `?` is an `Option` and may be absent, as `null`; unknown keys are
 * ignored); absent params count as `{}`. Returns the reason when they do not fit.
 */
export function positionalArgs(params: unknown, names: readonly string[]): unknown[] | string {
  if (Array.isArray(params)) {
    if (params.length !== names.length) {
      return `invalid length ${params.length}, expected ${names.length} params`;
    }
    return params;
  }
  const object = params === undefined ? {} : params;
  if (!isObject(object)) return "params must be an array or an object";
  const args: unknown[] = [];
  for (const spec of names) {
    const optional = spec.endsWith("?");
    const name = optional ? spec.slice(0, -1) : spec;
    if (has(object, name)) args.push(object[name]);
    else if (optional) args.push(null);
    else return `missing field \`${name}\``;
  }
  return args;
}
