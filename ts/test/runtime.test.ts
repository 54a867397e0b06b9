// The runtime alone, over a fake socket whose every frame the test sees:
// JSON-RPC 2.0 exactly as the Rust peer speaks it (duplexrpc-core's message.rs and
// dispatch.rs): replies to malformed input, batches mixing kinds, responses
// matched by id and unmatched ones ignored, params by position or by name,
// and every pending call failing at once when the connection ends.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { DisconnectedError, ErrorCode, Peer, RpcError, type WebSocketLike } from "duplexrpc";

type Listener = (event: { data?: unknown; code?: number; reason?: string }) => void;

/** A socket that records what the peer sends and lets the test play the other end. */
class FakeSocket implements WebSocketLike {
  readyState = 1;
  sent: string[] = [];
  closedWith: { code: number | undefined; reason: string | undefined } | undefined;
  #listeners = new Map<string, Listener[]>();
  #waiters: (() => void)[] = [];

  send(data: string): void {
    this.sent.push(data);
    for (const wake of this.#waiters.splice(0)) wake();
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
  }

  addEventListener(type: string, listener: Listener): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }

  emit(type: string, event: { data?: unknown; code?: number; reason?: string } = {}): void {
    for (const listener of this.#listeners.get(type) ?? []) listener(event);
  }

  /** The other end sends `value` (JSON-encoded unless it is a string). */
  receive(value: unknown): void {
    this.emit("message", { data: typeof value === "string" ? value : JSON.stringify(value) });
  }

  /** Resolves with the `n`-th frame the peer sends (0-based), parsed. */
  async frame(n: number): Promise<unknown> {
    while (this.sent.length <= n) await new Promise<void>((wake) => this.#waiters.push(wake));
    return JSON.parse(this.sent[n] ?? "null");
  }
}

function setup(): { socket: FakeSocket; peer: Peer; warnings: string[] } {
  const socket = new FakeSocket();
  const warnings: string[] = [];
  const peer = new Peer(socket, { onWarning: (w) => warnings.push(w) });
  peer.handle("subtract", ["minuend", "subtrahend"], ([a, b]) => (a as number) - (b as number));
  peer.handle("greet", ["name", "title?"], ([name, title]) => (title === null ? `hi ${name}` : `hi ${title} ${name}`));
  peer.handle("slow", [], () => new Promise((resolve) => setTimeout(() => resolve("late"), 5)));
  peer.handle("fail", [], () => {
    throw new RpcError(7, "nope", { why: "because" });
  });
  peer.handle("crash", [], () => {
    throw new TypeError("boom");
  });
  peer.handle("nothing", [], () => undefined);
  return { socket, peer, warnings };
}

describe("calls", () => {
  test("ids are allocated per call; replies are matched by id, in any order", async () => {
    const { socket, peer } = setup();
    const a = peer.call<number>("a", [1]);
    const b = peer.call<string>("b", { x: 1 });
    assert.deepEqual(await socket.frame(0), { jsonrpc: "2.0", id: 1, method: "a", params: [1] });
    assert.deepEqual(await socket.frame(1), { jsonrpc: "2.0", id: 2, method: "b", params: { x: 1 } });
    socket.receive({ jsonrpc: "2.0", result: "bee", id: 2 });
    socket.receive({ jsonrpc: "2.0", result: 10, id: 1 });
    assert.equal(await a, 10);
    assert.equal(await b, "bee");
  });

  test("an error reply rejects with an RpcError carrying code, message and data", async () => {
    const { socket, peer } = setup();
    const call = peer.call("x");
    socket.receive({ jsonrpc: "2.0", error: { code: -32601, message: "Method not found" }, id: 1 });
    await assert.rejects(call, (e: unknown) => {
      assert.ok(e instanceof RpcError);
      assert.equal(e.code, ErrorCode.MethodNotFound);
      assert.equal(e.data, undefined);
      return true;
    });
    const withData = peer.call("y");
    socket.receive({ jsonrpc: "2.0", error: { code: 5, message: "m", data: [1, { a: null }] }, id: 2 });
    await assert.rejects(withData, (e: unknown) => e instanceof RpcError && e.code === 5 && e.message === "m");
    await withData.catch((e: RpcError) => assert.deepEqual(e.data, [1, { a: null }]));
  });

  test("unmatched and malformed responses are dropped, never answered", async () => {
    const { socket, peer, warnings } = setup();
    const call = peer.call<number>("a");
    socket.receive({ jsonrpc: "2.0", result: 1, id: 99 });
    socket.receive({ jsonrpc: "2.0", result: 1, id: "1" });
    socket.receive({ result: 1, id: 1 });
    socket.receive({ jsonrpc: "2.0", result: 1, error: { code: 1, message: "x" }, id: 1 });
    socket.receive({ jsonrpc: "2.0", error: { code: "x" }, id: 1 });
    socket.receive({ jsonrpc: "2.0", result: 1 });
    socket.receive({ jsonrpc: "2.0", result: 3, id: 1 });
    assert.equal(await call, 3);
    assert.equal(socket.sent.length, 1, "only the call itself was sent");
    assert.equal(warnings.length, 6);
  });

  test("a notification has no id; no reply is expected", async () => {
    const { socket, peer } = setup();
    peer.notify("ping", [1, 2]);
    assert.deepEqual(await socket.frame(0), { jsonrpc: "2.0", method: "ping", params: [1, 2] });
  });

  test("messages sent while connecting wait for the open event", async () => {
    const socket = new FakeSocket();
    socket.readyState = 0;
    const peer = new Peer(socket);
    const call = peer.call<number>("early", []);
    peer.notify("n", []);
    assert.equal(socket.sent.length, 0);
    socket.readyState = 1;
    socket.emit("open");
    assert.deepEqual(await socket.frame(0), { jsonrpc: "2.0", id: 1, method: "early", params: [] });
    assert.deepEqual(await socket.frame(1), { jsonrpc: "2.0", method: "n", params: [] });
    socket.receive({ jsonrpc: "2.0", result: 4, id: 1 });
    assert.equal(await call, 4);
  });

  test("a close rejects every pending call at once, with one DisconnectedError", async () => {
    const { socket, peer } = setup();
    const calls = [peer.call("a"), peer.call("b"), peer.call("c")];
    socket.emit("close", { code: 1001, reason: "going away" });
    const outcomes = await Promise.allSettled(calls);
    const reasons = outcomes.map((o) => (o.status === "rejected" ? (o.reason as unknown) : undefined));
    assert.ok(reasons[0] instanceof DisconnectedError);
    assert.equal(reasons[0].closeCode, 1001);
    assert.equal(reasons[0].reason, "going away");
    assert.ok(reasons.every((r) => r === reasons[0]));
    assert.deepEqual(await peer.closed, { code: 1001, reason: "going away" });
    await assert.rejects(peer.call("later"), DisconnectedError);
    assert.throws(() => peer.notify("later"), DisconnectedError);
  });

  test("a socket error rejects every pending call at once too", async () => {
    const { socket, peer } = setup();
    const calls = [peer.call("a"), peer.call("b")];
    socket.emit("error");
    for (const outcome of await Promise.allSettled(calls)) {
      assert.equal(outcome.status, "rejected");
      assert.ok(outcome.reason instanceof DisconnectedError);
    }
    assert.equal(peer.isOpen, false);
  });

  test("close() fails pending calls at once and closes the socket", async () => {
    const { socket, peer } = setup();
    const call = peer.call("a");
    peer.close(4000, "bye");
    await assert.rejects(call, DisconnectedError);
    assert.deepEqual(socket.closedWith, { code: 4000, reason: "bye" });
  });

  test("params that cannot be encoded fail the call, not the connection", async () => {
    const { peer } = setup();
    await assert.rejects(peer.call("a", [10n]), TypeError);
    assert.equal(peer.isOpen, true);
  });
});

describe("serving", () => {
  test("a request is answered with its result, by position or by name", async () => {
    const { socket } = setup();
    socket.receive({ jsonrpc: "2.0", method: "subtract", params: [42, 23], id: 1 });
    assert.deepEqual(await socket.frame(0), { jsonrpc: "2.0", result: 19, id: 1 });
    socket.receive({ jsonrpc: "2.0", method: "subtract", params: { subtrahend: 23, minuend: 42 }, id: "s" });
    assert.deepEqual(await socket.frame(1), { jsonrpc: "2.0", result: 19, id: "s" });
    socket.receive({ jsonrpc: "2.0", method: "greet", params: { name: "ann" }, id: null });
    assert.deepEqual(await socket.frame(2), { jsonrpc: "2.0", result: "hi ann", id: null });
    socket.receive({ jsonrpc: "2.0", method: "nothing", id: 4 });
    assert.deepEqual(await socket.frame(3), { jsonrpc: "2.0", result: null, id: 4 });
  });

  test("wrong params are -32602 with the reason as data", async () => {
    const { socket } = setup();
    socket.receive({ jsonrpc: "2.0", method: "subtract", params: [1, 2, 3], id: 1 });
    socket.receive({ jsonrpc: "2.0", method: "subtract", params: { minuend: 1 }, id: 2 });
    const replies = [await socket.frame(0), await socket.frame(1)];
    assert.deepEqual(replies, [
      {
        jsonrpc: "2.0",
        error: { code: -32602, message: "Invalid params", data: "invalid length 3, expected 2 params" },
        id: 1,
      },
      { jsonrpc: "2.0", error: { code: -32602, message: "Invalid params", data: "missing field `subtrahend`" }, id: 2 },
    ]);
  });

  test("handler errors: an RpcError as it is, anything else as -32603; unknown methods -32601", async () => {
    const { socket } = setup();
    socket.receive({ jsonrpc: "2.0", method: "fail", id: 1 });
    assert.deepEqual(await socket.frame(0), {
      jsonrpc: "2.0",
      error: { code: 7, message: "nope", data: { why: "because" } },
      id: 1,
    });
    socket.receive({ jsonrpc: "2.0", method: "crash", id: 2 });
    assert.deepEqual(await socket.frame(1), {
      jsonrpc: "2.0",
      error: { code: -32603, message: "Internal error", data: "handler threw: boom" },
      id: 2,
    });
    socket.receive({ jsonrpc: "2.0", method: "missing", id: 3 });
    assert.deepEqual(await socket.frame(2), {
      jsonrpc: "2.0",
      error: { code: -32601, message: "Method not found" },
      id: 3,
    });
  });

  test("notifications are run and never answered, even when they fail", async () => {
    const { socket, peer, warnings } = setup();
    const seen: unknown[] = [];
    peer.handle("note", ["x"], ([x]) => {
      seen.push(x);
    });
    socket.receive({ jsonrpc: "2.0", method: "note", params: [1] });
    socket.receive({ jsonrpc: "2.0", method: "fail" });
    socket.receive({ jsonrpc: "2.0", method: "missing", params: {} });
    socket.receive({ jsonrpc: "2.0", method: "subtract", params: [1, 2], id: 9 });
    assert.deepEqual(await socket.frame(0), { jsonrpc: "2.0", result: -1, id: 9 });
    assert.deepEqual(seen, [1]);
    assert.equal(socket.sent.length, 1);
    assert.equal(warnings.length, 2);
  });

  test("malformed input is answered as the spec's examples say", async () => {
    const { socket } = setup();
    const cases: [unknown, unknown][] = [
      ['{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]', { code: -32700, id: null }],
      [{ jsonrpc: "2.0", method: 1, params: "bar" }, { code: -32600, id: null }],
      ["[]", { code: -32600, id: null }],
      [{ jsonrpc: "1.0", method: "subtract", id: 5 }, { code: -32600, id: 5 }],
      [{ jsonrpc: "2.0", method: "subtract", params: null, id: 6 }, { code: -32600, id: 6 }],
      [{ jsonrpc: "2.0", method: "subtract", params: 3, id: 7 }, { code: -32600, id: 7 }],
      [{ jsonrpc: "2.0", method: "subtract", id: 1.5 }, { code: -32600, id: null }],
      [{ jsonrpc: "2.0", id: 9 }, { code: -32600, id: 9 }],
      ["1", { code: -32600, id: null }],
    ];
    for (const [i, [input, want]] of cases.entries()) {
      socket.receive(input);
      const reply = (await socket.frame(i)) as { error: { code: number }; id: unknown };
      assert.deepEqual({ code: reply.error.code, id: reply.id }, want, JSON.stringify(input));
    }
  });

  test("a batch mixing kinds: one array with the replies to its requests and invalid elements", async () => {
    const { socket, peer } = setup();
    const pending = peer.call<number>("mine");
    await socket.frame(0);
    const noted: unknown[] = [];
    peer.handle("note", ["x"], ([x]) => {
      noted.push(x);
    });
    socket.receive([
      { jsonrpc: "2.0", method: "slow", id: "a" },
      { jsonrpc: "2.0", method: "note", params: [5] },
      { jsonrpc: "2.0", result: 77, id: 1 },
      { foo: "boo" },
      { jsonrpc: "2.0", method: "subtract", params: [5, 3], id: "b" },
      1,
    ]);
    assert.equal(await pending, 77);
    assert.deepEqual(noted, [5]);
    const reply = (await socket.frame(1)) as { id: unknown }[];
    assert.ok(Array.isArray(reply));
    const byId = reply.map((r) => JSON.stringify(r)).sort();
    assert.deepEqual(byId, [
      JSON.stringify({ jsonrpc: "2.0", error: { code: -32600, message: "Invalid Request" }, id: null }),
      JSON.stringify({ jsonrpc: "2.0", error: { code: -32600, message: "Invalid Request" }, id: null }),
      JSON.stringify({ jsonrpc: "2.0", result: "late", id: "a" }),
      JSON.stringify({ jsonrpc: "2.0", result: 2, id: "b" }),
    ]);
    // A batch of notifications only gets no reply at all.
    socket.receive([{ jsonrpc: "2.0", method: "note", params: [6] }]);
    socket.receive({ jsonrpc: "2.0", method: "subtract", params: [1, 1], id: "c" });
    assert.deepEqual(await socket.frame(2), { jsonrpc: "2.0", result: 0, id: "c" });
  });

  test("registering a name twice is refused", () => {
    const { peer } = setup();
    assert.throws(() => peer.handle("subtract", [], () => 0), /already registered/);
  });

  test("a binary frame closes the connection with 1003, as the Rust peer does", () => {
    const { socket } = setup();
    socket.emit("message", { data: new Uint8Array([1, 2]) });
    assert.equal(socket.closedWith?.code, 1003);
  });
});
