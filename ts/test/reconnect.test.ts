// The reconnecting peer: the Rust example server is killed and a new one is
// started on the same WebSocket port; the client reports the drop and the
// return, calls pending at the kill reject with the DisconnectedError (never
// retried), calls made while reconnecting go out on the new connection, and
// the implementations registered once serve the new connection too. Plus the
// backoff's arithmetic, the call timeout while reconnecting and giving up.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { backoffDelay, connect, DisconnectedError, type ConnectionEvent } from "duplexrpc";
import { WebSocket } from "ws";

import { CalculatorClient, registerBrowser, registerFeed, TickerClient } from "../../examples/web/src/api.js";
import { startServer, type ExampleServer } from "./server.js";

/** Collects events and lets a test wait for the next one of a type. */
class Events {
  seen: ConnectionEvent[] = [];
  #waiters: { type: ConnectionEvent["type"]; resolve: (e: ConnectionEvent) => void }[] = [];

  readonly push = (event: ConnectionEvent): void => {
    this.seen.push(event);
    for (const w of [...this.#waiters]) {
      if (w.type === event.type) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(event);
      }
    }
  };

  next(type: ConnectionEvent["type"]): Promise<ConnectionEvent> {
    return new Promise((resolve) => this.#waiters.push({ type, resolve }));
  }
}

function wsPort(server: ExampleServer): number {
  return Number(new URL(server.wsUrl).port);
}

describe("reconnect", { timeout: 60_000 }, () => {
  test("backoff: exponential, capped, jitter within +-jitter", () => {
    const o = { initialDelay: 100, maxDelay: 1000, multiplier: 2, jitter: 0.5 };
    assert.equal(backoffDelay(o, 1, 0.5), 100);
    assert.equal(backoffDelay(o, 2, 0.5), 200);
    assert.equal(backoffDelay(o, 4, 0.5), 800);
    assert.equal(backoffDelay(o, 5, 0.5), 1000);
    assert.equal(backoffDelay(o, 50, 0.5), 1000);
    assert.equal(backoffDelay(o, 1, 0), 50);
    assert.equal(backoffDelay(o, 3, 0.999999) < 600, true);
    assert.equal(backoffDelay({ ...o, jitter: 0 }, 3, 0), 400);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(o, 3);
      assert.ok(d >= 200 && d <= 600, String(d));
    }
  });

  test("the server restarts on the same port: events, pending calls reject, later calls and callbacks work", async () => {
    let first: ExampleServer | undefined = await startServer();
    let second: ExampleServer | undefined;
    const events = new Events();
    const peer = await connect(first.wsUrl, {
      WebSocket,
      reconnect: { initialDelay: 20, maxDelay: 200, onEvent: events.push },
    });
    try {
      let hang = true;
      const questions: string[] = [];
      let asked: () => void = () => {};
      const askedOnce = new Promise<void>((resolve) => {
        asked = resolve;
      });
      registerBrowser(peer, {
        confirm: (question) => {
          questions.push(question);
          asked();
          // The first question is never answered: its call stays pending until the kill.
          return hang ? new Promise<boolean>(() => {}) : true;
        },
        progress: () => {},
      });
      registerFeed(peer, {
        async *numbers(n: number) {
          for (let i = 1; i <= n; i++) yield i;
        },
      });
      const calc = new CalculatorClient(peer);
      const ticker = new TickerClient(peer);
      assert.equal(await calc.add(1, 2), 3);

      // (Its outcome is taken at once, so an early failure of the test leaves no unhandled rejection.)
      const pending = calc.clear("before the kill").then(
        (value) => value,
        (e: unknown) => e,
      );
      const stream = await ticker.ticks(1_000_000, null);
      await askedOnce;
      const port = wsPort(first);
      const dropped = events.next("disconnected");
      const back = events.next("connected");
      await first.stop();
      first = undefined;

      // The call pending at the drop fails with the disconnect error; the stream throws it.
      const outcome = await pending;
      assert.ok(outcome instanceof DisconnectedError, String(outcome));
      await assert.rejects(
        (async () => {
          for await (const _ of stream) {
            // drain what arrived before the drop
          }
        })(),
        DisconnectedError,
      );
      const drop = await dropped;
      assert.equal(drop.type, "disconnected");
      assert.equal(peer.isOpen, true, "a reconnecting peer stays open");
      assert.equal(peer.connected, false);

      // A call made while reconnecting waits for the new connection.
      const during = calc.add(20, 22);
      second = await startServer({ wsPort: port });
      const connected = await back;
      assert.equal(connected.type, "connected");
      assert.equal(await during, 42);
      assert.equal(peer.connected, true);

      // The implementations registered once serve the new connection.
      hang = false;
      assert.equal(await calc.clear("after the restart"), "cleared");
      assert.deepEqual(questions, ["Clear the memory (before the kill)?", "Clear the memory (after the restart)?"]);
      assert.equal(await ticker.sumFeed(10), 55);
      const ticks: number[] = [];
      for await (const t of await ticker.ticks(3, null)) ticks.push(t);
      assert.deepEqual(ticks, [0, 1, 2]);
      // Exactly one drop and one return (failed attempts while the port was closed are "retrying").
      assert.deepEqual(
        events.seen.filter((e) => e.type !== "retrying").map((e) => e.type),
        ["disconnected", "connected"],
      );
    } finally {
      peer.close();
      await first?.stop();
      await second?.stop();
    }
  });

  test("a call made while reconnecting fails after callTimeout (the peer keeps trying)", async () => {
    const server = await startServer();
    const events = new Events();
    const peer = await connect(server.wsUrl, {
      WebSocket,
      reconnect: { initialDelay: 20, maxDelay: 50, callTimeout: 100, onEvent: events.push },
    });
    try {
      const calc = new CalculatorClient(peer);
      assert.equal(await calc.add(2, 2), 4);
      const dropped = events.next("disconnected");
      await server.stop();
      await dropped;
      await assert.rejects(calc.add(1, 1), (e: unknown) => {
        assert.ok(e instanceof DisconnectedError);
        assert.match(e.message, /not reconnected within 100 ms/);
        return true;
      });
      assert.equal(peer.isOpen, true, "still reconnecting");
    } finally {
      peer.close();
      await server.stop();
    }
    await peer.closed;
    assert.equal(peer.isOpen, false);
  });

  test("after maxAttempts failed attempts the peer gives up: waiting calls reject, closed settles", async () => {
    const server = await startServer();
    const events = new Events();
    const peer = await connect(server.wsUrl, {
      WebSocket,
      reconnect: { initialDelay: 10, maxDelay: 20, maxAttempts: 3, onEvent: events.push },
    });
    try {
      const calc = new CalculatorClient(peer);
      assert.equal(await calc.add(2, 2), 4);
      const gaveUp = events.next("gave-up");
      const dropped = events.next("disconnected");
      await server.stop();
      await dropped;
      // Waits for a connection that never comes: fails when the peer gives up.
      const waiting = calc.add(1, 1);
      await gaveUp;
      await assert.rejects(waiting, DisconnectedError);
      await peer.closed;
      assert.equal(peer.isOpen, false);
      await assert.rejects(calc.add(1, 1), DisconnectedError);
      assert.deepEqual(
        events.seen.map((e) => (e.type === "retrying" ? `retrying ${e.attempt}` : e.type)),
        ["disconnected", "retrying 1", "retrying 2", "gave-up"],
      );
    } finally {
      peer.close();
      await server.stop();
    }
  });

  test("without the option a drop ends the peer (no reconnect)", async () => {
    const server = await startServer();
    const peer = await connect(server.wsUrl, { WebSocket, reconnect: false });
    try {
      await server.stop();
      await peer.closed;
      assert.equal(peer.isOpen, false);
      await assert.rejects(new CalculatorClient(peer).add(1, 1), DisconnectedError);
      assert.equal(peer.connected, false);
    } finally {
      peer.close();
    }
  });
});
