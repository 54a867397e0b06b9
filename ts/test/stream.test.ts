// Typed streams against the Rust example server, both directions: the
// server's `tick.ticks` consumed with `for await` (order, more items than the
// credit window, break cancels the producer, the producer's error, a lost
// connection), and the client's `feed.numbers` (an async generator registered
// here) consumed by the server's `tick.sumFeed`.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { connect, DisconnectedError, RpcError, STREAM_WINDOW, type Peer } from "duplexrpc";
import { WebSocket } from "ws";

import { registerFeed, TickerClient, type Feed } from "../../examples/web/src/api.js";
import { startServer, type ExampleServer } from "./server.js";

/** The client's feed: `0..n`, or an error at `failAt`; counts what it produced and whether it was stopped. */
class Numbers implements Feed {
  failAt: number | undefined;
  produced = 0;
  finished = 0;

  async *numbers(n: number): AsyncGenerator<number> {
    try {
      for (let i = 0; i < n; i++) {
        if (i === this.failAt) throw new RpcError(77, "feed broke", { at: i });
        this.produced++;
        yield i;
      }
    } finally {
      this.finished++;
    }
  }
}

describe("streams with the Rust example server", { timeout: 60_000 }, () => {
  let server: ExampleServer;
  let peer: Peer;
  let ticker: TickerClient;
  const feed = new Numbers();

  before(async () => {
    server = await startServer();
    peer = await connect(server.wsUrl, { WebSocket });
    registerFeed(peer, feed);
    ticker = new TickerClient(peer);
  });

  after(async () => {
    peer?.close();
    await server?.stop();
  });

  test("Rust -> TS: for await yields every item in order, then ends", async () => {
    const ticks: number[] = [];
    for await (const t of await ticker.ticks(5, null)) ticks.push(t);
    assert.deepEqual(ticks, [0, 1, 2, 3, 4]);
    await server.waitForOutput("[server] ticks(5) stopped after 5\n");
  });

  test("more items than the credit window arrive (credits go back as items are consumed)", async () => {
    const n = STREAM_WINDOW * 4 + 7;
    const ticks: number[] = [];
    for await (const t of await ticker.ticks(n, null)) {
      ticks.push(t);
      // A slow consumer now and then: the producer waits for credits.
      if (t % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.deepEqual(
      ticks,
      Array.from({ length: n }, (_, i) => i),
    );
  });

  test("break cancels the stream: the server's producer stops early", async () => {
    const n = 1_000_000;
    const ticks: number[] = [];
    for await (const t of await ticker.ticks(n, null)) {
      ticks.push(t);
      if (ticks.length === 3) break;
    }
    assert.deepEqual(ticks, [0, 1, 2]);
    await server.waitForOutput(`[server] ticks(${n}) stopped after `);
    const sent = Number(new RegExp(`ticks\\(${n}\\) stopped after (\\d+)`).exec(server.output())?.[1]);
    // At most the first window (plus what was in flight) went out, never the million.
    assert.ok(sent >= 3 && sent < n, `sent ${sent}`);
    assert.equal(await ticker.sumFeed(3), 3, "the connection still works after the cancel");
  });

  test("the producer's error ends the stream with an RpcError (code, message, data) after the items before it", async () => {
    const ticks: number[] = [];
    const stream = await ticker.ticks(10, 4);
    await assert.rejects(
      (async () => {
        for await (const t of stream) ticks.push(t);
      })(),
      (e: unknown) => {
        assert.ok(e instanceof RpcError, String(e));
        assert.equal(e.code, 4); // TICK_FAILED
        assert.equal(e.message, "tick failed");
        assert.equal(e.data, 4);
        return true;
      },
    );
    assert.deepEqual(ticks, [0, 1, 2, 3]);
    // After the error the stream is over.
    assert.deepEqual(await stream.next(), { done: true, value: undefined });
  });

  test("TS -> Rust: the server consumes the client's async generator, beyond the window", async () => {
    feed.failAt = undefined;
    const before = feed.finished;
    const n = STREAM_WINDOW * 5 + 3;
    assert.equal(await ticker.sumFeed(n), (n * (n - 1)) / 2);
    assert.equal(feed.finished, before + 1);
    assert.equal(await ticker.sumFeed(0), 0);
  });

  test("TS -> Rust: an error thrown by the generator reaches the Rust consumer with code and data", async () => {
    feed.failAt = 10;
    await assert.rejects(ticker.sumFeed(100), (e: unknown) => {
      assert.ok(e instanceof RpcError, String(e));
      assert.equal(e.code, 77);
      assert.equal(e.message, "feed broke");
      assert.deepEqual(e.data, { at: 10 });
      return true;
    });
    feed.failAt = undefined;
  });

  test("a lost connection makes the stream throw the DisconnectedError, not end normally", async () => {
    const other = await startServer();
    try {
      const otherPeer = await connect(other.wsUrl, { WebSocket });
      const otherTicker = new TickerClient(otherPeer);
      const stream = await otherTicker.ticks(1_000_000, null);
      const first = await stream.next();
      assert.deepEqual(first, { done: false, value: 0 });
      await other.stop();
      await assert.rejects(
        (async () => {
          for await (const _ of stream) {
            // drain what arrived before the drop
          }
        })(),
        DisconnectedError,
      );
    } finally {
      await other.stop();
    }
  });
});
