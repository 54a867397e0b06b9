// Generated from the #[rpc] traits by duplexrpc_core::typescript. Do not edit.
// Regenerate with: cargo run -p examples --bin export-ts -- --out examples/web/src/api.ts
//
// Integers are JSON numbers: 64-bit ones are typed `number` and are exact
// only up to Number.MAX_SAFE_INTEGER (2^53 - 1). duplexrpc_core::int64's
// Int64 and Uint64 are exact: typed `string` here (decodeInt64 makes a bigint).
/**
 * True if `e` is one of the errors of `CalcError` (an error with one of its codes).
 */
export function isCalcError(e) {
    return e instanceof Error && "code" in e && (e.code === 1);
}
/**
 * Served by the server; clients call it.
 *
 * Calls `Calculator` on the other end of a connection (the other end implements it).
 */
export class CalculatorClient {
    /** The connection the calls go through. */
    peer;
    constructor(peer) {
        this.peer = peer;
    }
    /**
     * Adds two numbers.
     *
     * JSON-RPC method `calc.add`.
     */
    add(a, b, options) {
        return this.peer.call("calc.add", [a, b], options);
    }
    /**
     * Integer division; fails with [`CalcError::DivisionByZero`].
     *
     * JSON-RPC method `calc.divide`.
     *
     * @throws {CalcError} the errors of `CalcError` (narrow with `isCalcError`)
     */
    divide(a, b, options) {
        return this.peer.call("calc.divide", [a, b], options);
    }
    /**
     * Asks the calling client to confirm (a call back into the caller) and
     * clears the memory if it agrees; fails with [`DECLINED`] otherwise.
     *
     * JSON-RPC method `calc.clear`.
     */
    clear(reason, options) {
        return this.peer.call("calc.clear", [reason], options);
    }
    /**
     * Sums 1..=n slowly, sending the caller `progress` notifications.
     *
     * JSON-RPC method `calc.sum_to`.
     */
    sumTo(n, options) {
        return this.peer.call("calc.sum_to", [n], options);
    }
    /**
     * Fire-and-forget: the server logs the line.
     *
     * JSON-RPC method `calc.log`.
     */
    log(line) {
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
    peer;
    constructor(peer) {
        this.peer = peer;
    }
    /**
     * Evaluates an expression. Its variables are looked up by calling the
     * caller's [`Scope`] (once per name); fails with [`UNKNOWN_VARIABLE`]
     * or [`DIVISION_BY_ZERO`] (data: the dividend).
     *
     * JSON-RPC method `expr.eval`.
     */
    eval(expr, options) {
        return this.peer.call("expr.eval", [expr], options);
    }
    /**
     * Statistics of a list of numbers.
     *
     * JSON-RPC method `expr.summarize`.
     */
    summarize(values, options) {
        return this.peer.call("expr.summarize", [values], options);
    }
}
/**
 * Served by the server next to [`Calculator`]: streams both ways.
 *
 * Calls `Ticker` on the other end of a connection (the other end implements it).
 */
export class TickerClient {
    /** The connection the calls go through. */
    peer;
    constructor(peer) {
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
    ticks(n, failAt, options) {
        return this.peer.subscribe("tick.ticks", [n, failAt], options);
    }
    /**
     * Subscribes to the caller's [`Feed::numbers`] (a stream the client
     * produces) and returns the sum of its items; a failing feed fails the call
     * with the feed's error.
     *
     * JSON-RPC method `tick.sum_feed`.
     */
    sumFeed(n, options) {
        return this.peer.call("tick.sum_feed", [n], options);
    }
}
/**
 * Serves `impl` on `peer`: each call of the other end runs the matching method, and what it
 * returns (or the `RpcError` it throws) is the reply. Params may come by position or by name.
 */
export function registerBrowser(peer, impl) {
    peer.handle("ui.confirm", ["question"], (args, context) => impl.confirm(args[0], context));
    peer.handle("ui.progress", ["pct"], (args, context) => impl.progress(args[0], context));
}
/**
 * Serves `impl` on `peer`: each call of the other end runs the matching method, and what it
 * returns (or the `RpcError` it throws) is the reply. Params may come by position or by name.
 */
export function registerScope(peer, impl) {
    peer.handle("scope.lookup", ["name"], (args, context) => impl.lookup(args[0], context));
}
/**
 * Serves `impl` on `peer`: each call of the other end runs the matching method, and what it
 * returns (or the `RpcError` it throws) is the reply. Params may come by position or by name.
 */
export function registerFeed(peer, impl) {
    peer.handle("feed.numbers", ["n"], (args, context) => impl.numbers(args[0], context));
}
