// Generated from the #[rpc] traits by duplexrpc_core::typescript. Do not edit.
// Regenerate with: cargo run -p examples --bin export-ts -- --out examples/web/src/api.ts
//
// Integers are JSON numbers: 64-bit ones are typed `number` and are exact
// only up to Number.MAX_SAFE_INTEGER (2^53 - 1). duplexrpc_core::int64's
// Int64 and Uint64 are exact: typed `string` here (decodeInt64 makes a bigint).

import type { CallContext, CallOptions, Peer, RpcError, RpcStream } from "duplexrpc";

/**
 * An arithmetic expression: a tree the client builds and the server
 * evaluates. On the wire, an object tagged by `op` (serde's internal tagging).
 */
export type Expr = { "op": "num",
  /**
   * The number.
   */
  value: number, } | { "op": "var",
  /**
   * The variable's name.
   */
  name: string, } | { "op": "add",
  /**
   * The left operand.
   */
  left: Expr,
  /**
   * The right operand.
   */
  right: Expr, } | { "op": "mul",
  /**
   * The left operand.
   */
  left: Expr,
  /**
   * The right operand.
   */
  right: Expr, } | { "op": "div",
  /**
   * The dividend.
   */
  left: Expr,
  /**
   * The divisor.
   */
  right: Expr, } | { "op": "neg",
  /**
   * The operand.
   */
  expr: Expr, };

/**
 * Which side of zero a number is on: a map key in [`Summary::by_sign`].
 */
export type Sign = "negative" | "zero" | "positive";

/**
 * Statistics of a list of numbers ([`Evaluator::summarize`]). Fields are
 * camelCased on the wire.
 */
export type Summary = {
  /**
   * How many values. A `u64` is a JSON number: exact in JavaScript up to
   * 2^53 - 1 (`Number.MAX_SAFE_INTEGER`).
   */
  count: number,
  /**
   * Their sum.
   */
  sum: number,
  /**
   * Their mean; `null` for no values.
   */
  mean: number | null,
  /**
   * The smallest and the largest value; `null` for no values.
   */
  minMax: [number, number] | null,
  /**
   * The median; absent (not `null`) for no values.
   */
  median?: number | null,
  /**
   * The values, sorted.
   */
  sorted: Array<number>,
  /**
   * How many values are negative, zero, positive (signs with none are left out).
   */
  bySign: { [key in Sign]?: number }, };

/**
 * The errors `CalcError` fails a call with: an `RpcError` with one of these codes.
 * Narrow a caught error with `isCalcError(e)`, then on `e.code`.
 */
export type CalcError =
  /**
   * "division by zero": Code [`DIVISION_BY_ZERO`]; data: the dividend.
   */
  | (RpcError & { readonly code: 1; readonly data: number });

/**
 * True if `e` is one of the errors of `CalcError` (an error with one of its codes).
 */
export function isCalcError(e: unknown): e is CalcError {
  return e instanceof Error && "code" in e && (e.code === 1);
}

/**
 * Served by the server; clients call it.
 *
 * Calls `Calculator` on the other end of a connection (the other end implements it).
 */
export class CalculatorClient {
  /** The connection the calls go through. */
  readonly peer: Peer;

  constructor(peer: Peer) {
    this.peer = peer;
  }

  /**
   * Adds two numbers.
   *
   * JSON-RPC method `calc.add`.
   */
  add(a: number, b: number, options?: CallOptions): Promise<number> {
    return this.peer.call<number>("calc.add", [a, b], options);
  }

  /**
   * Integer division; fails with [`CalcError::DivisionByZero`].
   *
   * JSON-RPC method `calc.divide`.
   *
   * @throws {CalcError} the errors of `CalcError` (narrow with `isCalcError`)
   */
  divide(a: number, b: number, options?: CallOptions): Promise<number> {
    return this.peer.call<number>("calc.divide", [a, b], options);
  }

  /**
   * Asks the calling client to confirm (a call back into the caller) and
   * clears the memory if it agrees; fails with [`DECLINED`] otherwise.
   *
   * JSON-RPC method `calc.clear`.
   */
  clear(reason: string, options?: CallOptions): Promise<string> {
    return this.peer.call<string>("calc.clear", [reason], options);
  }

  /**
   * Sums 1..=n slowly, sending the caller `progress` notifications.
   *
   * JSON-RPC method `calc.sum_to`.
   */
  sumTo(n: number, options?: CallOptions): Promise<number> {
    return this.peer.call<number>("calc.sum_to", [n], options);
  }

  /**
   * Fire-and-forget: the server logs the line.
   *
   * JSON-RPC method `calc.log`.
   */
  log(line: string): void {
    this.peer.notify("calc.log", [line]);
  }
}

/**
 * Served by the server next to [`Calculator`]: typed values both ways.
 *
 * Calls `Evaluator` on the other end of a connection (the other end implements it).
 */
export class EvaluatorClient {
  /** The connection the calls go through. */
  readonly peer: Peer;

  constructor(peer: Peer) {
    this.peer = peer;
  }

  /**
   * Evaluates an expression. Its variables are looked up by calling the
   * caller's [`Scope`] (once per name); fails with [`UNKNOWN_VARIABLE`]
   * or [`DIVISION_BY_ZERO`] (data: the dividend).
   *
   * JSON-RPC method `expr.eval`.
   */
  eval(expr: Expr, options?: CallOptions): Promise<number> {
    return this.peer.call<number>("expr.eval", [expr], options);
  }

  /**
   * Statistics of a list of numbers.
   *
   * JSON-RPC method `expr.summarize`.
   */
  summarize(values: Array<number>, options?: CallOptions): Promise<Summary> {
    return this.peer.call<Summary>("expr.summarize", [values], options);
  }
}

/**
 * Served by the server next to [`Calculator`]: streams both ways.
 *
 * Calls `Ticker` on the other end of a connection (the other end implements it).
 */
export class TickerClient {
  /** The connection the calls go through. */
  readonly peer: Peer;

  constructor(peer: Peer) {
    this.peer = peer;
  }

  /**
   * Ticks `0..n`, one every millisecond; fails with [`TICK_FAILED`] (data:
   * the tick) instead of sending tick `fail_at`, if given. The server prints
   * `[server] ticks(N) stopped after K` when the stream ends, finished or
   * cancelled by its consumer.
   *
   * JSON-RPC method `tick.ticks`.
   */
  ticks(n: number, failAt?: number | null, options?: CallOptions): Promise<RpcStream<number>> {
    return this.peer.subscribe<number>("tick.ticks", [n, failAt], options);
  }

  /**
   * Subscribes to the caller's [`Feed::numbers`] (a stream the client
   * produces) and returns the sum of its items; a failing feed fails the call
   * with the feed's error.
   *
   * JSON-RPC method `tick.sum_feed`.
   */
  sumFeed(n: number, options?: CallOptions): Promise<number> {
    return this.peer.call<number>("tick.sum_feed", [n], options);
  }
}

/**
 * Served by each client; the server calls it on the connection that is
 * calling it.
 *
 * Implemented on this side; the other end calls it. Route its calls here with `registerBrowser`.
 */
export interface Browser {
  /**
   * Asks the user a yes/no question.
   *
   * JSON-RPC method `ui.confirm`.
   */
  confirm(question: string, context: CallContext): boolean | Promise<boolean>;

  /**
   * Progress of a long call, in percent.
   *
   * JSON-RPC method `ui.progress`.
   */
  progress(pct: number, context: CallContext): void | Promise<void>;
}

/**
 * Serves `impl` on `peer`: each call of the other end runs the matching method, and what it
 * returns (or the `RpcError` it throws) is the reply. Params may come by position or by name.
 */
export function registerBrowser(peer: Peer, impl: Browser): void {
  peer.handle("ui.confirm", ["question"], (args, context) => impl.confirm(args[0] as string, context));
  peer.handle("ui.progress", ["pct"], (args, context) => impl.progress(args[0] as number, context));
}

/**
 * Served by each client next to [`Browser`]: the variables of the
 * expressions it asks the server to evaluate.
 *
 * Implemented on this side; the other end calls it. Route its calls here with `registerScope`.
 */
export interface Scope {
  /**
   * The value of a variable; `None` if it is not defined.
   *
   * JSON-RPC method `scope.lookup`.
   */
  lookup(name: string, context: CallContext): number | null | Promise<number | null>;
}

/**
 * Serves `impl` on `peer`: each call of the other end runs the matching method, and what it
 * returns (or the `RpcError` it throws) is the reply. Params may come by position or by name.
 */
export function registerScope(peer: Peer, impl: Scope): void {
  peer.handle("scope.lookup", ["name"], (args, context) => impl.lookup(args[0] as string, context));
}

/**
 * Served by each client next to [`Browser`]: a stream the server consumes.
 *
 * Implemented on this side; the other end calls it. Route its calls here with `registerFeed`.
 */
export interface Feed {
  /**
   * `n` numbers of the client's choosing.
   *
   * JSON-RPC method `feed.numbers`.
   */
  numbers(n: number, context: CallContext): AsyncIterable<number> | Promise<AsyncIterable<number>>;
}

/**
 * Serves `impl` on `peer`: each call of the other end runs the matching method, and what it
 * returns (or the `RpcError` it throws) is the reply. Params may come by position or by name.
 */
export function registerFeed(peer: Peer, impl: Feed): void {
  peer.handle("feed.numbers", ["n"], (args, context) => impl.numbers(args[0] as number, context));
}
