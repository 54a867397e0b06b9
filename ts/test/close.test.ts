// The closing handshake seen from Node's `ws` (RFC 6455 §5.5.1): a client
// that closes first gets the Rust server's Close frame back, so its close
// event carries the code it sent (1000), not 1006 (abnormal closure).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { WebSocket } from "ws";

import { startServer, type ExampleServer } from "./server.js";

/** Liveness bound: a missing close event fails the test instead of hanging it. */
const LIVENESS_MS = 10_000;

let server: ExampleServer;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

test("a close the client starts is answered: close event 1000, with the reason echoed", async () => {
  const ws = new WebSocket(server.wsUrl);
  await new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no close event within 10 s")), LIVENESS_MS);
    ws.once("close", (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
  ws.close(1000, "bye");
  assert.deepEqual(await closed, { code: 1000, reason: "bye" });
});
