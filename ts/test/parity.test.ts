// The generated bindings at parity with the runtime (issue 13, item 8):
// every client method and stream takes `{ signal, timeoutMs }` last; every
// implemented method gets the call's context, whose signal fires on
// `$/cancelRequest`; `connect` sends `protocols` and (with `ws`) `headers`;
// a refused handshake rejects with its HTTP status and body.

import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { after, before, describe, test } from "node:test";

import {
  CallAbortedError,
  CallTimeoutError,
  connect,
  DisconnectedError,
  HandshakeRefusedError,
  Peer,
  type CallContext,
  type ConnectionEvent,
} from "duplexrpc";
import { WebSocket, WebSocketServer } from "ws";

import { CalculatorClient, registerBrowser, TickerClient } from "../../examples/web/src/api.js";
import { FakeSocket, within } from "./fake-socket.js";
import { startServer, type ExampleServer } from "./server.js";

const cancelRequest = (id: number): unknown => ({ jsonrpc: "2.0", method: "$/cancelRequest", params: { id } });
const streamCancel = (id: number): unknown => ({ jsonrpc: "2.0", method: "$/stream/cancel", params: { subscription: id } });

describe("generated client methods take { signal, timeoutMs }", () => {
  test("aborting a call rejects it with CallAbortedError and sends $/cancelRequest", async () => {
    const socket = new FakeSocket();
    const calc = new CalculatorClient(new Peer(socket));
    const controller = new AbortController();
    const sum = calc.sumTo(100, { signal: controller.signal });
    assert.deepEqual(await socket.frame(0), { jsonrpc: "2.0", id: 1, method: "calc.sum_to", params: [100] });
    controller.abort("enough");
    await assert.rejects(within(sum, "the aborted call"), (e: unknown) => e instanceof CallAbortedError && e.reason === "enough");
    assert.deepEqual(await socket.frame(1), cancelRequest(1));
  });

  test("a call's timeoutMs rejects it with CallTimeoutError and sends $/cancelRequest", async () => {
    const socket = new FakeSocket();
    const calc = new CalculatorClient(new Peer(socket));
    const sum = calc.add(1, 2, { timeoutMs: 10 });
    await assert.rejects(within(sum, "the timed-out call"), (e: unknown) => e instanceof CallTimeoutError && e.timeoutMs === 10);
    assert.deepEqual(await socket.frame(1), cancelRequest(1));
  });

  test("a stream's timeoutMs bounds its acceptance; the late stream is cancelled too", async () => {
    const socket = new FakeSocket();
    const ticker = new TickerClient(new Peer(socket));
    const ticks = ticker.ticks(5, null, { timeoutMs: 10 });
    assert.deepEqual(await socket.frame(0), { jsonrpc: "2.0", id: 1, method: "tick.ticks", params: [5, null] });
    await assert.rejects(within(ticks, "the timed-out subscribe"), CallTimeoutError);
    assert.deepEqual(await socket.frame(1), cancelRequest(1));
    assert.deepEqual(await socket.frame(2), streamCancel(1));
  });

  test("aborting an accepted stream sends $/stream/cancel and its loop throws CallAbortedError", async () => {
    const socket = new FakeSocket();
    const ticker = new TickerClient(new Peer(socket));
    const controller = new AbortController();
    const opening = ticker.ticks(100, null, { signal: controller.signal });
    await socket.frame(0);
    socket.receive({ jsonrpc: "2.0", id: 1, result: null });
    const stream = await within(opening, "the subscribe");
    socket.receive({ jsonrpc: "2.0", method: "$/stream/item", params: { subscription: 1, item: 0 } });
    const seen: number[] = [];
    const loop = (async () => {
      for await (const tick of stream) {
        seen.push(tick);
        controller.abort("stop");
      }
    })();
    await assert.rejects(within(loop, "the aborted loop"), (e: unknown) => e instanceof CallAbortedError && e.reason === "stop");
    assert.deepEqual(seen, [0]);
    assert.deepEqual(await socket.frame(1), streamCancel(1));
    assert.equal(socket.sent.length, 2);
  });

  test("an already aborted signal sends no subscribe at all", async () => {
    const socket = new FakeSocket();
    const ticker = new TickerClient(new Peer(socket));
    await assert.rejects(within(ticker.ticks(1, null, { signal: AbortSignal.abort() }), "the subscribe"), CallAbortedError);
    assert.deepEqual(socket.sent, []);
  });
});

describe("generated register functions pass the call's context", () => {
  test("a typed handler's signal fires on $/cancelRequest; the caller gets -32001 once", async () => {
    const socket = new FakeSocket();
    const peer = new Peer(socket);
    const contexts: CallContext[] = [];
    let stoppedEarly = false;
    registerBrowser(peer, {
      confirm: (_question, context) => {
        contexts.push(context);
        return new Promise<boolean>((resolve) => {
          context.signal.addEventListener("abort", () => {
            stoppedEarly = true;
            resolve(false);
          });
        });
      },
      progress: () => {},
    });
    socket.receive({ jsonrpc: "2.0", id: 3, method: "ui.confirm", params: ["sure?"] });
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(contexts.length, 1);
    assert.equal(contexts[0]?.signal.aborted, false);
    socket.receive(cancelRequest(3));
    assert.equal(stoppedEarly, true);
    assert.deepEqual(await socket.frame(0), {
      jsonrpc: "2.0",
      id: 3,
      error: { code: -32001, message: "Request cancelled" },
    });
  });
});

describe("connect: protocols and headers", () => {
  let wss: WebSocketServer;
  let url: string;
  const handshakes: IncomingMessage[] = [];

  before(async () => {
    wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    wss.on("connection", (_ws, request) => void handshakes.push(request));
    await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
    const address = wss.address();
    assert.ok(typeof address === "object" && address !== null);
    url = `ws://127.0.0.1:${address.port}/`;
  });

  after(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise((resolve) => wss.close(resolve));
  });

  test("the handshake carries the headers and offers the protocols, on every reconnect too", async () => {
    handshakes.length = 0;
    let reconnected!: () => void;
    const connected = new Promise<void>((resolve) => {
      reconnected = resolve;
    });
    const onEvent = (e: ConnectionEvent): void => {
      if (e.type === "connected") reconnected();
    };
    const peer = await connect(url, {
      WebSocket,
      headers: { Authorization: "Bearer t0ken", "X-Client": "parity" },
      protocols: ["duplexrpc.v1", "json"],
      reconnect: { initialDelay: 1, jitter: 0, onEvent },
    });
    try {
      assert.equal(handshakes.length, 1);
      for (const client of wss.clients) client.terminate(); // the server drops it: the peer reconnects
      await within(connected, "the reconnect");
      assert.equal(handshakes.length, 2);
      for (const request of handshakes) {
        assert.equal(request.headers["authorization"], "Bearer t0ken");
        assert.equal(request.headers["x-client"], "parity");
        assert.equal(request.headers["sec-websocket-protocol"], "duplexrpc.v1,json");
      }
    } finally {
      peer.close();
    }
  });

  test("headers without a WebSocket class are refused with a TypeError (browsers cannot send them)", async () => {
    await assert.rejects(connect(url, { headers: { Authorization: "x" } }), /headers need the ws package/);
  });

  test("a constructor gets only what was asked for: (url), (url, protocols) or (url, protocols, { headers })", async () => {
    const seen: unknown[][] = [];
    class Recording extends FakeSocket {
      constructor(...args: unknown[]) {
        super();
        seen.push(args);
        this.readyState = 0;
        setTimeout(() => this.open(), 0);
      }
    }
    for (const options of [{}, { protocols: "p" }, { headers: { A: "b" } }]) {
      (await connect("ws://x/", { WebSocket: Recording, ...options })).close();
    }
    assert.deepEqual(seen, [["ws://x/"], ["ws://x/", "p"], ["ws://x/", undefined, { headers: { A: "b" } }]]);
  });
});

test("a reconnecting peer's retrying event carries the refusal's status, body and headers", async () => {
  let accepted = 0;
  const wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    // The first handshake is let in; later ones are refused, as after a token expired.
    verifyClient: (_info, done) =>
      accepted++ === 0 ? done(true) : done(false, 401, "token expired", { "WWW-Authenticate": "Bearer" }),
  });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  const address = wss.address();
  assert.ok(typeof address === "object" && address !== null);
  let refusedWith!: (error: unknown) => void;
  const refusal = new Promise<unknown>((resolve) => {
    refusedWith = resolve;
  });
  const onEvent = (e: ConnectionEvent): void => {
    if (e.type === "retrying") refusedWith(e.error);
  };
  const peer = await connect(`ws://127.0.0.1:${address.port}/`, {
    WebSocket,
    reconnect: { initialDelay: 1, jitter: 0, onEvent },
  });
  try {
    for (const client of wss.clients) client.terminate();
    const error = await within(refusal, "the refused reconnect");
    assert.ok(error instanceof HandshakeRefusedError, String(error));
    assert.equal(error.status, 401);
    assert.equal(error.body, "token expired");
    assert.equal(error.headers["www-authenticate"], "Bearer");
  } finally {
    peer.close();
    await new Promise((resolve) => wss.close(resolve));
  }
});

test("a refusal's body is read up to 64 KiB, and the socket is closed", async () => {
  type Listener = (...args: unknown[]) => void;
  const response = {
    statusCode: 503,
    headers: {},
    destroyed: false,
    listeners: new Map<string, Listener>(),
    on(event: string, listener: Listener) {
      this.listeners.set(event, listener);
      return this;
    },
    destroy() {
      this.destroyed = true;
    },
  };
  let closed = 0;
  class Refusing extends FakeSocket {
    refuse: Listener | undefined;
    once(event: string, listener: Listener): this {
      if (event === "unexpected-response") this.refuse = listener;
      return this;
    }
    override close(): void {
      closed++;
    }
  }
  const socket = new Refusing();
  socket.readyState = 0;
  const peer = new Peer(socket);
  const call = peer.call("x");
  socket.refuse?.({}, response);
  const chunk = new Uint8Array(40 * 1024).fill(0x61); // "aaa..."
  for (let i = 0; i < 3; i++) response.listeners.get("data")?.(chunk);
  const error = await within(
    call.then(() => assert.fail("the call went through"), (e: unknown) => e),
    "the refused call",
  );
  assert.ok(error instanceof HandshakeRefusedError, String(error));
  assert.equal(error.status, 503);
  assert.equal(error.body.length, HandshakeRefusedError.MAX_BODY);
  assert.equal(response.destroyed, true);
  assert.equal(closed, 1);
});

describe("a refused handshake", () => {
  let server: ExampleServer;

  before(async () => {
    server = await startServer();
  });

  after(async () => {
    await server?.stop();
  });

  test("rejects with HandshakeRefusedError carrying the HTTP status and body (the server's Origin check)", async () => {
    const refused = await within(
      connect(server.wsUrl, { WebSocket, headers: { Origin: "http://evil.example" } }).then(
        (peer) => {
          peer.close();
          return assert.fail("a foreign Origin was let in");
        },
        (e: unknown) => e,
      ),
      "the refused connect",
    );
    assert.ok(refused instanceof HandshakeRefusedError, String(refused));
    assert.ok(refused instanceof DisconnectedError, "still a DisconnectedError for existing catch blocks");
    assert.equal(refused.status, 403);
    assert.match(refused.body, /origin not allowed/);
    assert.match(refused.message, /HTTP 403/);
    // The page's own origin is let in.
    const peer = await connect(server.wsUrl, { WebSocket, headers: { Origin: new URL(server.pageUrl).origin } });
    try {
      assert.equal(await new CalculatorClient(peer).add(2, 3), 5);
    } finally {
      peer.close();
    }
  });
});
