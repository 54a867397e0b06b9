// Type-level tests of the generated bindings: compiled by `tsc` (with the
// other tests), never run. Each `@ts-expect-error` line must be a compile
// error; if the error vanished (say, params typed `any`), tsc would fail
// with TS2578 "Unused '@ts-expect-error' directive".

import type { Peer } from "duplexrpc";

import {
  CalculatorClient,
  EvaluatorClient,
  registerBrowser,
  type Browser,
  type Expr,
  type Scope,
  type Summary,
} from "../../examples/web/src/api.js";

export function typeChecks(peer: Peer): void {
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
}
