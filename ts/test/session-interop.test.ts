// The TypeScript client's resumable sessions against the Rust example server
// with sessions on (`RPC_SESSIONS=1`: WsConfig::sessions and a 100 ms / 300 ms
// keepalive, so that the server acknowledges often and notices a freeze
// soon), through the cut proxy: a clean cut and a silent freeze with a call
// pending into the client (the server's confirm()) and a stream running;
// a server restart (#lost unknown session, SessionLostError, a fresh
// session). The example server must select the session subprotocol when
// started with RPC_SESSIONS set (the test fails otherwise); the test against
// the server without sessions (a plain connection) runs too.

import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { after, before, describe, test } from "node:test";

import { connect, SESSION_PROTOCOL, SessionLostError, type Peer } from "duplexrpc";
import { WebSocket } from "ws";

import { CalculatorClient, registerBrowser, TickerClient } from "../../examples/web/src/api.js";
import { CutProxy } from "./cut-proxy.js";
import { Events } from "./events.js";
import { within } from "./fake-socket.js";
import { startServer, type ExampleServer } from "./server.js";

/** Starts the example server with sessions on. */
function startSessionServer(options: { wsPort?: number } = {}): Promise<ExampleServer> {
  process.env["RPC_SESSIONS"] = "1";
  try {
    return startServer(options);
  } finally {
    delete process.env["RPC_SESSIONS"];
  }
}

/** Whether the server at `url` selects the session subprotocol. */
function selectsSessions(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, [SESSION_PROTOCOL]);
    ws.on("open", () => {
      resolve(ws.protocol === SESSION_PROTOCOL);
      ws.close(1000);
    });
    ws.on("error", () => resolve(false));
  });
}

interface Client {
  peer: Peer;
  proxy: CutProxy;
}

describe("resumable sessions against the Rust example server", { timeout: 60_000 }, () => {
  let server: ExampleServer | undefined;
  let supported = false;

  before(async () => {
    server = await startSessionServer();
    supported = await selectsSessions(server.wsUrl);
    assert.ok(supported, "the example server started with RPC_SESSIONS selects duplexrpc.session.v1");
  });

  after(async () => {
    await server?.stop();
  });

  /** A resumable peer through a new proxy, with a confirm() that waits for `answer`. */
  async function client(url: string, events: Events, answer: Promise<boolean>): Promise<Client> {
    const proxy = await CutProxy.start(Number(new URL(url).port));
    const peer = await connect(proxy.url, {
      WebSocket,
      reconnect: { initialDelay: 10, maxDelay: 50, onEvent: events.push },
      resumable: { livenessTimeout: 1_000, ackDelay: 20 },
    });
    registerBrowser(peer, { confirm: () => answer, progress: () => {} });
    return { peer, proxy };
  }

  for (const how of ["clean cut", "silent freeze"] as const) {
    test(`a ${how}: the server's pending call into the client and a stream carry on`, async (t) => {
      if (!supported || !server) return t.skip("the example server does not select duplexrpc.session.v1");
      const events = new Events();
      let release!: (ok: boolean) => void;
      const answer = new Promise<boolean>((resolve) => {
        release = resolve;
      });
      const { peer, proxy } = await client(server.wsUrl, events, answer);
      try {
        const calc = new CalculatorClient(peer);
        const ticker = new TickerClient(peer);
        assert.equal(await calc.add(2, 3), 5);
        // The server calls confirm() on this side: pending across the cut.
        const cleared = calc.clear("across the cut");
        const ticks: number[] = [];
        const stream = await ticker.ticks(300, null);
        const consumed = (async () => {
          for await (const tick of stream) {
            ticks.push(tick);
            if (tick === 100) {
              if (how === "clean cut") proxy.cut();
              else proxy.freeze();
            }
          }
        })();
        await events.next("disconnected");
        release(true); // the reply waits in the replay buffer
        const during = calc.add(20, 22);
        await events.next("resumed");
        assert.equal(await within(cleared, "clear()"), "cleared");
        assert.equal(await within(during, "the call made during the gap"), 42);
        await within(consumed, "the stream");
        assert.deepEqual(
          ticks,
          Array.from({ length: 300 }, (_, i) => i),
        );
        assert.equal(await calc.add(1, 1), 2);
        const types = events.types();
        assert.ok(!types.includes("sessionLost") && types.includes("resumed"), String(types));
      } finally {
        peer.close();
        await proxy.stop();
      }
    });
  }

  test("a server without sessions: a resumable client gets a plain connection", async () => {
    const plain = await startServer();
    const events = new Events();
    const { peer, proxy } = await client(plain.wsUrl, events, Promise.resolve(true));
    try {
      const calc = new CalculatorClient(peer);
      assert.equal(await calc.add(2, 3), 5);
      assert.equal(await calc.clear("plain"), "cleared");
      // A drop is a plain drop: the pending call fails with DisconnectedError, then `connected`.
      proxy.cut();
      await events.next("connected");
      assert.equal(await calc.add(1, 2), 3);
      assert.deepEqual(events.types(), ["disconnected", "connected"]);
    } finally {
      peer.close();
      await proxy.stop();
      await plain.stop();
    }
  });

  test("the server restarts: #lost unknown session, SessionLostError, a fresh session", async (t) => {
    if (!supported || !server) return t.skip("the example server does not select duplexrpc.session.v1");
    const events = new Events();
    const { peer, proxy } = await client(server.wsUrl, events, new Promise<boolean>(() => {}));
    try {
      const calc = new CalculatorClient(peer);
      assert.equal(await calc.add(2, 3), 5);
      // Pending at the restart: the server's confirm() never answered.
      const pending = calc.clear("before the restart").then(
        () => undefined,
        (e: unknown) => e,
      );
      await delay(100);
      const port = Number(new URL(server.wsUrl).port);
      await server.stop();
      server = await startSessionServer({ wsPort: port });
      const lost = await events.next("sessionLost");
      assert.equal(lost.type === "sessionLost" && lost.reason, "unknown session");
      const error = await within(pending, "the pending call");
      assert.ok(error instanceof SessionLostError, String(error));
      await events.next("reconnected");
      assert.equal(await calc.add(40, 2), 42);
      assert.deepEqual(events.types(), ["disconnected", "sessionLost", "reconnected"]);
    } finally {
      peer.close();
      await proxy.stop();
    }
  });
});
