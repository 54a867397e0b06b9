// Node drives the Rust example server through the generated client
// (examples/web/src/api.ts) and the runtime, over `ws`: calls, errors with
// code and data, notifications both ways, and server -> client calls
// answered by the implementations registered here.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { connect, DisconnectedError, ErrorCode, RpcError, type Peer } from "duplexrpc";
import { WebSocket } from "ws";

import {
  CalculatorClient,
  EvaluatorClient,
  registerBrowser,
  registerScope,
  type Browser,
  type Expr,
  type Scope,
  type Summary,
} from "../../examples/web/src/api.js";
import { startServer, type ExampleServer } from "./server.js";

/** What the server called on this side. */
class Recorder implements Browser, Scope {
  questions: string[] = [];
  percents: number[] = [];
  lookups: string[] = [];
  answer = true;
  variables = new Map<string, number>([
    ["x", 6],
    ["y", 2],
  ]);

  confirm(question: string): boolean {
    this.questions.push(question);
    return this.answer;
  }

  progress(pct: number): void {
    this.percents.push(pct);
  }

  async lookup(name: string): Promise<number | null> {
    this.lookups.push(name);
    await Promise.resolve(); // an async implementation works as well as a sync one
    if (name === "secret") throw new RpcError(42, "not telling", { name, why: "classified" });
    if (name === "broken") throw new Error("the lookup table is broken");
    return this.variables.get(name) ?? null;
  }
}

describe("the generated client against the Rust example server", () => {
  let server: ExampleServer;
  let peer: Peer;
  let calc: CalculatorClient;
  let evaluator: EvaluatorClient;
  const me = new Recorder();

  before(async () => {
    server = await startServer();
    peer = await connect(server.wsUrl, { WebSocket });
    registerBrowser(peer, me);
    registerScope(peer, me);
    calc = new CalculatorClient(peer);
    evaluator = new EvaluatorClient(peer);
  });

  after(async () => {
    peer?.close();
    await server?.stop();
  });

  test("calls return typed results", async () => {
    assert.equal(await calc.add(2, 3), 5);
    assert.equal(await calc.divide(7, 2), 3);
  });

  test("concurrent calls on one connection each get their own reply", async () => {
    const sums = await Promise.all(Array.from({ length: 200 }, (_, i) => calc.add(i, 1000 * i)));
    assert.deepEqual(
      sums,
      Array.from({ length: 200 }, (_, i) => 1001 * i),
    );
  });

  test("an application error arrives as an RpcError with code, message and data", async () => {
    const error = await calc.divide(9, 0).then(
      () => assert.fail("divide by zero succeeded"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof RpcError);
    assert.equal(error.code, 1);
    assert.equal(error.message, "division by zero");
    assert.equal(error.data, 9);
  });

  test("protocol errors carry the spec's codes", async () => {
    await assert.rejects(peer.call("calc.nope", []), (e: unknown) => {
      assert.ok(e instanceof RpcError);
      assert.equal(e.code, ErrorCode.MethodNotFound);
      return true;
    });
    await assert.rejects(peer.call("calc.add", ["two", 3]), (e: unknown) => {
      assert.ok(e instanceof RpcError);
      assert.equal(e.code, ErrorCode.InvalidParams);
      assert.match(String(e.data), /invalid type/);
      return true;
    });
    // By name works too (the generated client sends by position).
    assert.equal(await peer.call<number>("calc.add", { b: 40, a: 2 }), 42);
  });

  test("a server -> client call reaches the registered implementation; its answer is the reply", async () => {
    me.answer = true;
    assert.equal(await calc.clear("from node"), "cleared");
    assert.deepEqual(me.questions, ["Clear the memory (from node)?"]);
    me.answer = false;
    await assert.rejects(calc.clear("again"), (e: unknown) => {
      assert.ok(e instanceof RpcError);
      assert.equal(e.code, 2); // DECLINED
      assert.equal(e.message, "declined by the user");
      return true;
    });
    assert.equal(me.questions.length, 2);
  });

  test("server -> client notifications arrive before the call's reply", async () => {
    me.percents = [];
    assert.equal(await calc.sumTo(10), 55);
    assert.deepEqual(me.percents, [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  });

  test("a client -> server notification arrives (the server logs it)", async () => {
    const line = `hello from node ${process.pid}`;
    const result: void = calc.log(line);
    assert.equal(result, undefined);
    await server.waitForOutput(`[server] log: ${line}\n`);
  });

  test("typed values both ways: an expression tree in, variables looked up in the client", async () => {
    // (x + 4) / y
    const expr: Expr = {
      op: "div",
      left: { op: "add", left: { op: "var", name: "x" }, right: { op: "num", value: 4 } },
      right: { op: "var", name: "y" },
    };
    me.lookups = [];
    assert.equal(await evaluator.eval(expr), 5);
    assert.deepEqual(me.lookups.sort(), ["x", "y"]);
    assert.equal(await evaluator.eval({ op: "neg", expr: { op: "mul", left: expr, right: expr } }), -25);
  });

  test("errors the client's implementation returns or throws go back as the server's replies", async () => {
    // `null` from lookup: the server answers UNKNOWN_VARIABLE with data.
    await assert.rejects(evaluator.eval({ op: "var", name: "zzz" }), (e: unknown) => {
      assert.ok(e instanceof RpcError);
      assert.equal(e.code, 3);
      assert.deepEqual(e.data, { name: "zzz" });
      return true;
    });
    // An RpcError thrown here is the reply to the server's call, which the
    // server passes on as its own error: code and data survive both hops.
    await assert.rejects(evaluator.eval({ op: "var", name: "secret" }), (e: unknown) => {
      assert.ok(e instanceof RpcError);
      assert.equal(e.code, 42);
      assert.equal(e.message, "not telling");
      assert.deepEqual(e.data, { name: "secret", why: "classified" });
      return true;
    });
    // Any other exception is -32603 Internal error.
    await assert.rejects(evaluator.eval({ op: "var", name: "broken" }), (e: unknown) => {
      assert.ok(e instanceof RpcError);
      assert.equal(e.code, ErrorCode.InternalError);
      assert.match(String(e.data), /the lookup table is broken/);
      return true;
    });
    // Division by zero inside an expression: data is the dividend.
    await assert.rejects(
      evaluator.eval({ op: "div", left: { op: "num", value: 3 }, right: { op: "num", value: 0 } }),
      (e: unknown) => e instanceof RpcError && e.code === 1 && e.data === 3,
    );
  });

  test("a struct result follows serde: camelCase, null, absent, tuple, map with enum keys", async () => {
    const summary: Summary = await evaluator.summarize([3, -1, 0, 2]);
    assert.deepEqual(summary, {
      count: 4,
      sum: 4,
      mean: 1,
      minMax: [-1, 3],
      median: 1,
      sorted: [-1, 0, 2, 3],
      bySign: { negative: 1, zero: 1, positive: 2 },
    });
    const empty = await evaluator.summarize([]);
    assert.equal(empty.mean, null);
    assert.equal("median" in empty, false, "skip_serializing_if: absent, not null");
    assert.deepEqual(empty.bySign, {});
  });

  test("when the connection ends, every pending call fails at once", async () => {
    const second = await startServer();
    try {
      const other = await connect(second.wsUrl, { WebSocket });
      registerBrowser(other, { confirm: () => new Promise<boolean>(() => {}), progress: () => {} });
      const otherCalc = new CalculatorClient(other);
      // Each clear waits on a confirm this side never answers.
      const pending = [otherCalc.clear("one"), otherCalc.clear("two"), otherCalc.clear("three")];
      const settled = Promise.allSettled(pending);
      await otherCalc.add(1, 1); // the three requests went out before this reply came back
      await second.stop(); // the server dies with the calls pending
      const outcomes = await settled;
      for (const outcome of outcomes) {
        assert.equal(outcome.status, "rejected");
        assert.ok(outcome.reason instanceof DisconnectedError, String(outcome.reason));
      }
      assert.equal(other.isOpen, false);
      await assert.rejects(otherCalc.add(1, 2), DisconnectedError);
      assert.throws(() => otherCalc.log("too late"), DisconnectedError);
      const info = await other.closed;
      assert.equal(typeof info.code, "number");
    } finally {
      await second.stop();
    }
  });
});
