// Cancellation and per-call timeouts, as the Rust peer does them (duplexrpc-core's
// peer.rs CANCEL_METHOD and dispatch.rs): a caller that gives up sends
// `$/cancelRequest` with the request's id; the callee aborts the handler and
// answers once with -32001 "Request cancelled". Over a fake socket, then
// against the Rust example server.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  CallAbortedError,
  CallTimeoutError,
  connect,
  ErrorCode,
  Peer,
  RpcError,
  type AbortSignalLike,
} from "duplexrpc";
import { WebSocket } from "ws";

import { CalculatorClient, registerBrowser } from "../../examples/web/src/api.js";
import { FakeSocket } from "./fake-socket.js";
import { startServer, type ExampleServer } from "./server.js";

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

describe("caller side", () => {
  test("aborting a sent call rejects it, sends $/cancelRequest with its id, and ignores the late reply", async () => {
    const socket = new FakeSocket();
    const warnings: string[] = [];
    const peer = new Peer(socket, { onWarning: (w) => warnings.push(w) });
    const controller = new AbortController();
    const call = peer.call<number>("slow", [1], { signal: controller.signal });
    assert.deepEqual(await socket.frame(0), { jsonrpc: "2.0", id: 1, method: "slow", params: [1] });
    controller.abort("user gave up");
    await assert.rejects(call, (e: unknown) => {
      assert.ok(e instanceof CallAbortedError);
      assert.equal(e.reason, "user gave up");
      return true;
    });
    assert.equal(socket.sent[1], '{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":1}}');
    socket.receive({ jsonrpc: "2.0", id: 1, error: { code: ErrorCode.RequestCancelled, message: "Request cancelled" } });
    assert.equal(socket.sent.length, 2);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /matches no pending call/);
    // The peer goes on working.
    const next = peer.call<number>("add", [1, 2]);
    assert.deepEqual(await socket.frame(2), { jsonrpc: "2.0", id: 2, method: "add", params: [1, 2] });
    socket.receive({ jsonrpc: "2.0", id: 2, result: 3 });
    assert.equal(await next, 3);
  });

  test("an already aborted signal rejects without sending anything", async () => {
    const socket = new FakeSocket();
    const peer = new Peer(socket);
    await assert.rejects(peer.call("x", [], { signal: AbortSignal.abort() }), CallAbortedError);
    assert.deepEqual(socket.sent, []);
  });

  test("a call aborted before its socket opened is withdrawn, not cancelled", async () => {
    const socket = new FakeSocket();
    socket.readyState = 0;
    const peer = new Peer(socket);
    const controller = new AbortController();
    const call = peer.call("x", [], { signal: controller.signal });
    controller.abort();
    await assert.rejects(call, CallAbortedError);
    socket.open();
    assert.deepEqual(socket.sent, []);
    // A call made now goes out with the next id.
    void peer.call("y").catch(() => undefined);
    assert.deepEqual(await socket.frame(0), { jsonrpc: "2.0", id: 2, method: "y", params: [] });
  });

  test("a per-call timeout rejects with CallTimeoutError and sends $/cancelRequest", async () => {
    const socket = new FakeSocket();
    const peer = new Peer(socket);
    const call = peer.call("slow", [], { timeoutMs: 10 });
    assert.deepEqual(await socket.frame(0), { jsonrpc: "2.0", id: 1, method: "slow", params: [] });
    await assert.rejects(call, (e: unknown) => {
      assert.ok(e instanceof CallTimeoutError);
      assert.ok(!(e instanceof CallAbortedError));
      assert.equal(e.timeoutMs, 10);
      return true;
    });
    assert.deepEqual(await socket.frame(1), { jsonrpc: "2.0", method: "$/cancelRequest", params: { id: 1 } });
  });

  test("the peer-level timeout applies to every call; a call's own timeoutMs overrides it", async () => {
    const socket = new FakeSocket();
    const peer = new Peer(socket, { timeoutMs: 10 });
    const timed = peer.call("a");
    const patient = peer.call<string>("b", [], { timeoutMs: 60_000 });
    await assert.rejects(timed, CallTimeoutError);
    assert.deepEqual(await socket.frame(2), { jsonrpc: "2.0", method: "$/cancelRequest", params: { id: 1 } });
    socket.receive({ jsonrpc: "2.0", id: 2, result: "ok" });
    assert.equal(await patient, "ok");
    assert.equal(socket.sent.length, 3);
  });

  test("a reply in time settles the call and neither the timeout nor a later abort sends anything", async () => {
    const socket = new FakeSocket();
    const peer = new Peer(socket);
    const controller = new AbortController();
    const call = peer.call<number>("a", [], { signal: controller.signal, timeoutMs: 20 });
    await socket.frame(0);
    socket.receive({ jsonrpc: "2.0", id: 1, result: 5 });
    assert.equal(await call, 5);
    controller.abort();
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(socket.sent.length, 1);
  });
});

describe("callee side", () => {
  function serving(): { socket: FakeSocket; signals: AbortSignalLike[]; finish: (value: unknown) => void } {
    const socket = new FakeSocket();
    const peer = new Peer(socket);
    const signals: AbortSignalLike[] = [];
    let finish!: (value: unknown) => void;
    peer.handle("slow", [], (_args, { signal }) => {
      signals.push(signal);
      return new Promise((resolve) => {
        finish = resolve;
      });
    });
    return { socket, signals, finish: (value) => finish(value) };
  }

  test("$/cancelRequest fires the handler's signal and answers exactly once with -32001", async () => {
    const { socket, signals, finish } = serving();
    socket.receive({ jsonrpc: "2.0", id: 7, method: "slow", params: [] });
    await tick();
    assert.equal(signals.length, 1);
    assert.equal(signals[0]?.aborted, false);
    socket.receive({ jsonrpc: "2.0", method: "$/cancelRequest", params: { id: 7 } });
    assert.equal(signals[0]?.aborted, true);
    assert.deepEqual(await socket.frame(0), {
      jsonrpc: "2.0",
      id: 7,
      error: { code: ErrorCode.RequestCancelled, message: "Request cancelled" },
    });
    // The handler's later result is dropped, and a second cancel does nothing.
    finish("too late");
    socket.receive({ jsonrpc: "2.0", method: "$/cancelRequest", params: { id: 7 } });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(socket.sent.length, 1);
  });

  test("a cancel for an unknown id is ignored; the running request still gets its result", async () => {
    const { socket, signals, finish } = serving();
    socket.receive({ jsonrpc: "2.0", id: "a", method: "slow", params: [] });
    await tick();
    socket.receive({ jsonrpc: "2.0", method: "$/cancelRequest", params: { id: 99 } });
    socket.receive({ jsonrpc: "2.0", method: "$/cancelRequest", params: { id: "b" } });
    assert.equal(signals[0]?.aborted, false);
    finish(42);
    assert.deepEqual(await socket.frame(0), { jsonrpc: "2.0", id: "a", result: 42 });
    assert.equal(socket.sent.length, 1);
  });

  test("a handler that throws on abort still gets only the one -32001 reply", async () => {
    const socket = new FakeSocket();
    const peer = new Peer(socket);
    peer.handle(
      "wait",
      [],
      (_args, { signal }) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener("abort", () => reject(new RpcError(5, "aborted here")));
        }),
    );
    socket.receive({ jsonrpc: "2.0", id: 1, method: "wait", params: [] });
    await tick();
    socket.receive({ jsonrpc: "2.0", method: "$/cancelRequest", params: { id: 1 } });
    assert.deepEqual(await socket.frame(0), {
      jsonrpc: "2.0",
      id: 1,
      error: { code: -32001, message: "Request cancelled" },
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(socket.sent.length, 1);
  });
});

describe("against the Rust example server", () => {
  let server: ExampleServer;

  before(async () => {
    server = await startServer();
  });

  after(async () => {
    await server?.stop();
  });

  test("a short timeout on the slow calc.sum_to rejects with CallTimeoutError; the connection stays usable", async () => {
    const peer = await connect(server.wsUrl, { WebSocket });
    const percents: number[] = [];
    registerBrowser(peer, { confirm: () => true, progress: (pct) => void percents.push(pct) });
    try {
      // sum_to sleeps 2 ms per step: 255 steps take over half a second.
      await assert.rejects(peer.call("calc.sum_to", [255], { timeoutMs: 20 }), CallTimeoutError);
      const calc = new CalculatorClient(peer);
      assert.equal(await calc.add(2, 3), 5);
      // The server aborted sum_to: its progress stopped short of 100 %.
      const seen = percents.length;
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(percents.length, seen);
    } finally {
      peer.close();
    }
  });
});
