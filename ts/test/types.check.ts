// Type-level tests of the generated bindings: compiled by `tsc` (with the
// other tests), never run. Each `@ts-expect-error` line must be a compile
// error; if the error vanished (say, params typed `any`), tsc would fail
// with TS2578 "Unused '@ts-expect-error' directive".

import { decodeInt64, type AbortSignalLike, type CallContext, type Peer } from "duplexrpc";

import {
  CalculatorClient,
  EvaluatorClient,
  isCalcError,
  registerBrowser,
  TickerClient,
  type Browser,
  type Expr,
  type Scope,
  type Summary,
} from "../../examples/web/src/api.js";

export function typeChecks(peer: Peer, signal: AbortSignalLike): void {
  const calc = new CalculatorClient(peer);
  const evaluator = new EvaluatorClient(peer);

  const sum: Promise<number> = calc.add(2, 3);
  void sum;
  // @ts-expect-error: a string is not a number (wrong argument type)
  void calc.add("2", 3);
  // @ts-expect-error: too few arguments
  void calc.add(2);
  // @ts-expect-error: the result is a number, not a string
  const text: Promise<string> = calc.add(2, 3);
  void text;
  // @ts-expect-error: a notification returns void, not a promise
  void calc.log("line").then(() => {});

  const expr: Expr = { op: "add", left: { op: "num", value: 1 }, right: { op: "var", name: "x" } };
  void evaluator.eval(expr);
  // @ts-expect-error: "pow" is not one of the enum's tags
  void evaluator.eval({ op: "pow", left: expr, right: expr });
  // @ts-expect-error: a "num" carries `value`, not `name`
  void evaluator.eval({ op: "num", name: "x" });

  void evaluator.summarize([1, 2]).then((s: Summary) => {
    const count: number = s.count;
    const mean: number | null = s.mean;
    // @ts-expect-error: `mean` may be null
    const strictMean: number = s.mean;
    // @ts-expect-error: fields are camelCased, as serde's rename_all
    void s.min_max;
    void [count, mean, strictMean];
  });

  // @ts-expect-error: a Browser must implement `progress` too
  const partial: Browser = { confirm: () => true };
  void partial;
  const scope: Scope = { lookup: async (name) => (name === "x" ? 1 : null) };
  void scope;
  // @ts-expect-error: `confirm` must answer a boolean
  registerBrowser(peer, { confirm: () => "yes", progress: () => {} });

  // Call options: `{ signal, timeoutMs }` last, on calls and streams.
  void calc.add(2, 3, { signal, timeoutMs: 500 });
  void new TickerClient(peer).ticks(3, null, { timeoutMs: 500 });
  // A trailing Option<T> param may be left out (`failAt?: number | null`).
  void new TickerClient(peer).ticks(3);
  // @ts-expect-error: `n` is required
  void new TickerClient(peer).ticks();
  // @ts-expect-error: the option is `timeoutMs`, not `timeout`
  void calc.add(2, 3, { timeout: 500 });
  // @ts-expect-error: a notification has no reply to time out or abort
  calc.log("line", { signal });
  // The call's context: an implementation may take it (its signal fires when the caller cancels).
  registerBrowser(peer, {
    confirm: (_question, context: CallContext) => !context.signal.aborted,
    progress: () => {},
  });
  // @ts-expect-error: the second argument is the CallContext, not a string
  registerBrowser(peer, { confirm: (_question, context: string) => context === "", progress: () => {} });

  // A custom error type: a union of RpcErrors on `code`, narrowed by its guard.
  void calc.divide(1, 0).catch((e: unknown) => {
    // @ts-expect-error: a caught value is unknown until the guard narrows it
    void e.code;
    if (isCalcError(e)) {
      const code: 1 = e.code;
      const dividend: number = e.data;
      const message: string = e.message;
      // @ts-expect-error: the data of code 1 (division by zero) is a number
      const wrong: string = e.data;
      // @ts-expect-error: CalcError has no code 2
      void (e.code === 2);
      void [code, dividend, message, wrong];
    }
  });

  const exact: bigint = decodeInt64("9223372036854775807");
  // @ts-expect-error: an Int64 arrives as a string, not a number
  void decodeInt64(9007199254740993);
  void exact;
}
