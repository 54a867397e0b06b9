// Streams in the runtime alone, over a fake socket whose every frame the test
// sees: the exact credit rules (a producer sends at most the window, then
// waits; a consumer returns half the window at a time), cancel both ways, and
// what the wire carries at the end.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Peer, RpcError, STREAM_WINDOW, type WebSocketLike } from "duplexrpc";

type Listener = (event: { data?: unknown; code?: number; reason?: string }) => void;

class FakeSocket implements WebSocketLike {
  readyState = 1;
  sent: unknown[] = [];
  #listeners = new Map<string, Listener[]>();
  #waiters: (() => void)[] = [];

  send(data: string): void {
    this.sent.push(JSON.parse(data));
    for (const wake of this.#waiters.splice(0)) wake();
  }

  close(): void {}

  addEventListener(type: string, listener: Listener): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }

  receive(value: unknown): void {
    for (const listener of this.#listeners.get("message") ?? []) listener({ data: JSON.stringify(value) });
  }

  emit(type: string, event: { code?: number; reason?: string } = {}): void {
    for (const listener of this.#listeners.get(type) ?? []) listener(event);
  }

  /** Waits until at least `n` frames were sent. */
  async frames(n: number): Promise<unknown[]> {
    while (this.sent.length < n) await new Promise<void>((wake) => this.#waiters.push(wake));
    return this.sent;
  }
}

/** Lets pending promise callbacks and the producer's awaits run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe("producer", () => {
  test("sends the reply, then at most the window of items; credits let more out; the end follows", async () => {
    const socket = new FakeSocket();
    const peer = new Peer(socket);
    peer.handle("count", ["n"], ([n]) =>
      (async function* () {
        for (let i = 0; i < (n as number); i++) yield i;
      })(),
    );
    const total = STREAM_WINDOW + 10;
    socket.receive({ jsonrpc: "2.0", id: "s1", method: "count", params: [total] });
    await socket.frames(1 + STREAM_WINDOW);
    await settle();
    assert.deepEqual(socket.sent[0], { jsonrpc: "2.0", result: null, id: "s1" });
    assert.equal(socket.sent.length, 1 + STREAM_WINDOW, "no item beyond the window without credit");
    assert.deepEqual(socket.sent[1], {
      jsonrpc: "2.0",
      method: "$/stream/item",
      params: { subscription: "s1", item: 0 },
    });
    socket.receive({ jsonrpc: "2.0", method: "$/stream/credit", params: { subscription: "s1", n: 5 } });
    await socket.frames(1 + STREAM_WINDOW + 5);
    await settle();
    assert.equal(socket.sent.length, 1 + STREAM_WINDOW + 5);
    socket.receive({ jsonrpc: "2.0", method: "$/stream/credit", params: { subscription: "s1", n: 1000 } });
    await socket.frames(1 + total + 1);
    const items = socket.sent.slice(1, 1 + total).map((m) => (m as { params: { item: number } }).params.item);
    assert.deepEqual(
      items,
      Array.from({ length: total }, (_, i) => i),
    );
    assert.deepEqual(socket.sent[1 + total], {
      jsonrpc: "2.0",
      method: "$/stream/end",
      params: { subscription: "s1" },
    });
  });

  test("cancel stops the iteration (its finally runs); an error ends with the error object", async () => {
    const socket = new FakeSocket();
    const peer = new Peer(socket);
    let stopped = false;
    peer.handle("forever", [], async () =>
      (async function* () {
        try {
          for (let i = 0; ; i++) yield i;
        } finally {
          stopped = true;
        }
      })(),
    );
    peer.handle("broken", [], () =>
      (async function* () {
        yield 1;
        throw new RpcError(9, "broke", { at: 1 });
      })(),
    );
    socket.receive({ jsonrpc: "2.0", id: 1, method: "forever" });
    await socket.frames(1 + STREAM_WINDOW);
    socket.receive({ jsonrpc: "2.0", method: "$/stream/cancel", params: { subscription: 1 } });
    await settle();
    assert.equal(stopped, true);
    assert.equal(socket.sent.length, 1 + STREAM_WINDOW, "nothing after the cancel, not even an end");

    socket.sent = [];
    socket.receive({ jsonrpc: "2.0", id: 2, method: "broken" });
    await socket.frames(3);
    assert.deepEqual(socket.sent[2], {
      jsonrpc: "2.0",
      method: "$/stream/end",
      params: { subscription: 2, error: { code: 9, message: "broke", data: { at: 1 } } },
    });
  });
});

describe("consumer", () => {
  test("returns half the window as credit once consumed; break sends cancel; items after it are dropped", async () => {
    const socket = new FakeSocket();
    const warnings: string[] = [];
    const peer = new Peer(socket, { onWarning: (w) => warnings.push(w) });
    const opening = peer.subscribe<number>("ticks", [100]);
    await socket.frames(1);
    assert.deepEqual(socket.sent[0], { jsonrpc: "2.0", id: 1, method: "ticks", params: [100] });
    // Items may come before the reply.
    socket.receive({ jsonrpc: "2.0", method: "$/stream/item", params: { subscription: 1, item: 0 } });
    socket.receive({ jsonrpc: "2.0", result: null, id: 1 });
    for (let i = 1; i < STREAM_WINDOW; i++) {
      socket.receive({ jsonrpc: "2.0", method: "$/stream/item", params: { subscription: 1, item: i } });
    }
    const stream = await opening;
    const got: number[] = [];
    for await (const t of stream) {
      got.push(t);
      if (got.length === STREAM_WINDOW / 2 + 1) break;
    }
    assert.deepEqual(
      got,
      Array.from({ length: STREAM_WINDOW / 2 + 1 }, (_, i) => i),
    );
    assert.deepEqual(socket.sent.slice(1), [
      { jsonrpc: "2.0", method: "$/stream/credit", params: { subscription: 1, n: STREAM_WINDOW / 2 } },
      { jsonrpc: "2.0", method: "$/stream/cancel", params: { subscription: 1 } },
    ]);
    assert.deepEqual(await stream.next(), { done: true, value: undefined });
    socket.receive({ jsonrpc: "2.0", method: "$/stream/item", params: { subscription: 1, item: 99 } });
    assert.equal(warnings.length, 1, "an item of a cancelled stream is dropped with a warning");
  });

  test("a producer beyond its window fails the stream instead of buffering; a drop throws the disconnect", async () => {
    const socket = new FakeSocket();
    const peer = new Peer(socket);
    const opening = peer.subscribe<number>("flood");
    socket.receive({ jsonrpc: "2.0", result: null, id: 1 });
    const stream = await opening;
    for (let i = 0; i <= STREAM_WINDOW; i++) {
      socket.receive({ jsonrpc: "2.0", method: "$/stream/item", params: { subscription: 1, item: i } });
    }
    let count = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of stream) count++;
      })(),
      /stream overflow/,
    );
    assert.equal(count, STREAM_WINDOW);

    const second = peer.subscribe<number>("ticks");
    socket.receive({ jsonrpc: "2.0", result: null, id: 2 });
    const live = await second;
    socket.emit("close", { code: 1006 });
    await assert.rejects(live.next(), { name: "DisconnectedError" });
  });
});
