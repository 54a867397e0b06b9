// Resumable sessions (`connect(url, { reconnect, resumable: true })`) against
// the fake session server (session-server.ts) through a TCP proxy the test
// cuts (cut-proxy.ts): a clean cut and a silent freeze in the middle of
// traffic both ways lose nothing and duplicate nothing; calls pending both
// ways, streams and calls made during the gap complete; the ends (window
// expired, the server lost the session, replay overflow, protocol errors)
// reject with SessionLostError and a fresh session follows; a normal close
// (1000) ends the session with the plain DisconnectedError; a server without
// sessions gets exactly the plain behaviour.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { setTimeout as delay } from "node:timers/promises";
import { afterEach, describe, test } from "node:test";

import {
  connect,
  DisconnectedError,
  SESSION_PROTOCOL,
  SessionLostError,
  type Peer,
  type SessionOptions,
} from "duplexrpc";
import { WebSocket } from "ws";

import { CutProxy } from "./cut-proxy.js";
import { Events } from "./events.js";
import { until, within } from "./fake-socket.js";
import { SessionServer, type SessionServerOptions } from "./session-server.js";

/** A promise and its resolver: a handler's answer the test releases. */
function gate<T>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** What each end received, and the answers the test holds back. */
class World {
  /** Notifications `seq` the server got, `tick` the client got. */
  atServer: number[] = [];
  atClient: number[] = [];
  /** `slow` calls on the server and `hold` calls on the client wait for these. */
  slow = gate<void>();
  hold = gate<void>();
  server!: SessionServer;
  proxy!: CutProxy;
  peer!: Peer;
  events = new Events();
  /** The client peer's warnings (a duplicated reply or an unknown stream shows here). */
  warnings: string[] = [];

  async start(options: SessionServerOptions = {}, session: SessionOptions = {}): Promise<void> {
    this.server = await SessionServer.start({
      ...options,
      setup: (peer) => {
        peer.handle("echo", ["x"], ([x]) => x);
        peer.handle("seq", ["i"], ([i]) => {
          this.atServer.push(i as number);
        });
        peer.handle("slow", ["x"], async ([x]) => {
          await this.slow.promise;
          return (x as number) * 10;
        });
        peer.handle("count", ["n"], async function* ([n]) {
          for (let i = 0; i < (n as number); i++) yield i;
        });
      },
    });
    this.proxy = await CutProxy.start(this.server.port);
    this.peer = await connect(this.proxy.url, {
      WebSocket,
      reconnect: { initialDelay: 10, maxDelay: 40, onEvent: this.events.push },
      // (A long liveness timeout: only the freeze test relies on it, so a slow machine causes no extra resume.)
      resumable: { ackDelay: 20, livenessTimeout: 5_000, ...session },
      onWarning: (w) => this.warnings.push(w),
    });
    this.peer.handle("double", ["x"], ([x]) => (x as number) * 2);
    this.peer.handle("tick", ["i"], ([i]) => {
      this.atClient.push(i as number);
    });
    this.peer.handle("hold", ["x"], async ([x]) => {
      await this.hold.promise;
      return x;
    });
  }

  async stop(): Promise<void> {
    this.peer?.close();
    await this.proxy?.stop();
    await this.server?.stop();
  }
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe("resumable sessions", { timeout: 30_000 }, () => {
  let world: World;
  afterEach(async () => {
    await world.stop();
  });

  for (const how of ["a clean cut (FIN, no close frame)", "a silent freeze (no FIN, nothing passes)"] as const) {
    test(`${how} mid-traffic both ways: every message once, in order, every call answered`, async () => {
      world = new World();
      const freeze = how.startsWith("a silent");
      await world.start({}, freeze ? { livenessTimeout: 400 } : {});
      const { peer, server, proxy, events } = world;
      assert.equal(await peer.call("echo", ["hello"]), "hello");
      const session = server.session;
      const N = 300;
      const clientCalls: Promise<unknown>[] = [];
      const serverCalls: Promise<unknown>[] = [];
      const resumed = events.next("resumed");
      for (const i of range(N)) {
        peer.notify("seq", [i]);
        clientCalls.push(peer.call("echo", [i]));
        session.peer.notify("tick", [i]);
        serverCalls.push(session.peer.call("double", [i]));
        if (i === N / 2) {
          if (freeze) proxy.freeze();
          else proxy.cut();
        }
        // Let the traffic flow, so the cut falls into messages in flight.
        if (i % 20 === 0) await delay(2);
      }
      await resumed;
      assert.deepEqual(await within(Promise.all(clientCalls), "the client's calls"), range(N));
      assert.deepEqual(
        await within(Promise.all(serverCalls), "the server's calls"),
        range(N).map((i) => i * 2),
      );
      await until(() => world.atServer.length >= N && world.atClient.length >= N, "the notifications");
      await delay(50); // a duplicate would come right behind
      assert.deepEqual(world.atServer, range(N));
      assert.deepEqual(world.atClient, range(N));
      // No reply nor request came twice (a duplicated reply matches no pending call: a warning).
      assert.deepEqual(world.warnings, []);
      assert.deepEqual(server.warnings, []);
      // One session throughout, resumed (not restarted); the client's events say so.
      assert.equal(server.created.length, 1);
      assert.ok(session.resumes >= 1);
      assert.ok(session.replayed > 0, "the cut fell into traffic: the server replayed what the client missed");
      assert.equal(server.session, session);
      // (A slow machine may add a false alarm of the liveness check: one more drop and resume.)
      const types = events.types();
      const pairs = types.every((t, i) => t === (i % 2 === 0 ? "disconnected" : "resumed"));
      assert.ok(types.length >= 2 && types.length % 2 === 0 && pairs, String(types));
      assert.equal(peer.connected, true);
      // Each connection began with the handshake frames of the spec.
      assert.match(server.connections[0]?.frames[0] ?? "", /^#new$/);
      assert.match(server.connections[1]?.frames[0] ?? "", new RegExp(`^#resume ${session.token} \\d+$`));
      assert.equal(server.connections[0]?.protocol, SESSION_PROTOCOL);
    });
  }

  test("a silent freeze while only the server sends: the client notices the silence, nothing is lost", async () => {
    world = new World();
    await world.start({}, { livenessTimeout: 400 });
    const { peer, server, proxy, events } = world;
    assert.equal(await peer.call("echo", [0]), 0);
    const session = server.session;
    await delay(50); // the reply's ack has gone out: from now on the client sends no message
    const resumed = events.next("resumed");
    const N = 100;
    for (const i of range(N)) {
      session.peer.notify("tick", [i]);
      if (i === 30) proxy.freeze();
      if (i % 10 === 0) await delay(2);
    }
    await resumed;
    await until(() => world.atClient.length >= N, "the notifications");
    await delay(50);
    assert.deepEqual(world.atClient, range(N));
    assert.ok(session.replayed > 0, "the server replayed what the frozen connection swallowed");
    assert.equal(server.created.length, 1);
  });

  test("calls pending both ways, a stream, and calls made during the gap complete across the cut", async () => {
    world = new World();
    await world.start();
    const { peer, server, proxy, events } = world;
    assert.equal(await peer.call("echo", [0]), 0);
    const session = server.session;
    // The client waits for the server's `slow`; the server waits for the client's `hold`.
    const slow = peer.call("slow", [4]);
    const hold = session.peer.call("hold", ["held"]);
    const stream = await peer.subscribe<number>("count", [200]);
    const items: number[] = [];
    const consumed = (async () => {
      for await (const item of stream) {
        items.push(item);
        if (item === 50) {
          // Cut mid-stream, and keep the client out for a while.
          proxy.block(true);
          proxy.cut();
        }
      }
    })();
    await events.next("disconnected");
    // During the gap: the client answers the server's call (the reply waits in
    // the replay buffer), makes new calls and notifications, and the server's
    // handler finishes (its reply waits in the server's buffer).
    world.hold.open();
    const during = peer.call("echo", ["during the gap"]);
    peer.notify("seq", [0]);
    world.slow.open();
    await delay(50);
    assert.equal(peer.connected, false);
    assert.equal(peer.isOpen, true);
    proxy.block(false);
    await events.next("resumed");
    assert.equal(await within(slow, "slow"), 40);
    assert.equal(await within(hold, "hold"), "held");
    assert.equal(await within(during, "the call made during the gap"), "during the gap");
    await within(consumed, "the stream");
    assert.deepEqual(items, range(200));
    assert.deepEqual(world.warnings, []);
    assert.deepEqual(server.warnings, []);
    await until(() => world.atServer.length === 1, "the notification sent during the gap");
    assert.deepEqual(world.atServer, [0]);
    assert.equal(server.created.length, 1);
    assert.deepEqual(events.types(), ["disconnected", "resumed"]);
  });

  test("the resume window expires: pending calls reject with SessionLostError, then a fresh session", async () => {
    world = new World();
    await world.start({ windowMs: 200 });
    const { peer, server, proxy, events } = world;
    assert.equal(await peer.call("echo", [1]), 1);
    const slow = peer.call("slow", [1]).then(
      () => undefined,
      (e: unknown) => e,
    );
    await until(() => server.session.received >= 2, "the slow call at the server");
    proxy.block(true);
    proxy.cut();
    const lost = await events.next("sessionLost");
    const error = await within(slow, "the pending call");
    assert.ok(error instanceof SessionLostError, String(error));
    assert.ok(error instanceof DisconnectedError, "a SessionLostError is a DisconnectedError");
    assert.equal(error.reason, "resume window expired");
    assert.equal(lost.type === "sessionLost" && lost.reason, "resume window expired");
    const fresh = events.next("reconnected");
    proxy.block(false);
    await fresh;
    assert.equal(await peer.call("echo", ["again"]), "again");
    assert.equal(server.created.length, 2);
    assert.equal(server.connections.at(-1)?.frames[0], "#new");
    assert.deepEqual(events.types(), ["disconnected", "sessionLost", "reconnected"]);
  });

  test("the server lost the session (restart): #lost, SessionLostError, a fresh session", async () => {
    world = new World();
    await world.start();
    const { peer, server, events } = world;
    assert.equal(await peer.call("echo", [1]), 1);
    const first = server.session;
    const slow = peer.call("slow", [1]).then(
      () => undefined,
      (e: unknown) => e,
    );
    await until(() => first.received >= 2, "the slow call at the server");
    server.forgetSessions();
    const lost = await events.next("sessionLost");
    assert.equal(lost.type === "sessionLost" && lost.reason, "unknown session");
    const error = await within(slow, "the pending call");
    assert.ok(error instanceof SessionLostError, String(error));
    assert.match(error.message, /could not be resumed: unknown session/);
    await events.next("reconnected");
    assert.equal(await peer.call("echo", ["fresh"]), "fresh");
    assert.notEqual(server.session, first);
    assert.deepEqual(
      server.connections.map((c) => c.frames[0]?.split(" ")[0]),
      ["#new", "#resume", "#new"],
    );
    assert.deepEqual(events.types(), ["disconnected", "sessionLost", "reconnected"]);
  });

  // The limits while disconnected, exactly: the client's buffer holds the
  // unacknowledged `slow` call; the message that would exceed a limit ends
  // the session at once (synchronously, in notify()).
  const payload = "é".repeat(60); // 60 UTF-16 units, 120 UTF-8 bytes
  const notification = JSON.stringify({ jsonrpc: "2.0", method: "seq", params: [payload] });
  const slowCall = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "slow", params: [1] });
  const utf8 = (text: string): number => Buffer.byteLength(text, "utf8");
  for (const [limit, options, fits] of [
    ["replayMessages", { replayMessages: 4 }, 3],
    // Room for the call and two notifications in UTF-8 bytes (five if counted in UTF-16 units).
    ["replayBytes", { replayBytes: utf8(slowCall) + 2 * utf8(notification) + 10 }, 2],
  ] as const) {
    test(`${limit} overflows while disconnected: SessionLostError at the exact message, then fresh`, async () => {
      world = new World();
      // The server acknowledges nothing (no tick, no ackEvery): what the client sent stays in its buffer.
      await world.start({ tickMs: 60_000, ackEvery: 1_000_000 }, options);
      const { peer, server, proxy, events } = world;
      const slow = peer.call("slow", [1]).then(
        () => undefined,
        (e: unknown) => e,
      );
      await until(() => server.sessions.size === 1 && server.session.received === 1, "the slow call at the server");
      proxy.block(true);
      proxy.cut();
      await events.next("disconnected");
      for (let i = 0; i < fits; i++) {
        peer.notify("seq", [payload]);
        assert.ok(!events.types().includes("sessionLost"), `message ${i} fits`);
      }
      peer.notify("seq", [payload]);
      const lost = events.seen.find((e) => e.type === "sessionLost");
      assert.equal(lost?.type === "sessionLost" && lost.reason, "replay buffer overflow");
      const error = await within(slow, "the pending call");
      assert.ok(error instanceof SessionLostError, String(error));
      const fresh = events.next("reconnected");
      proxy.block(false);
      await fresh;
      assert.equal(await peer.call("echo", ["fresh"]), "fresh");
      assert.equal(server.created.length, 2);
    });
  }

  test("connected with a full replay buffer: messages wait (in order) until acks make room", async () => {
    world = new World();
    await world.start({ tickMs: 60_000, ackEvery: 1_000_000 }, { replayMessages: 4 });
    const { peer, server } = world;
    for (const i of range(10)) peer.notify("seq", [i]);
    await until(() => server.sessions.size === 1 && server.session.received === 4, "the first four");
    await delay(50);
    assert.equal(server.session.received, 4, "nothing beyond the buffer went out");
    server.session.ack();
    await until(() => server.session.received === 8, "four more after the ack");
    server.session.ack();
    await until(() => world.atServer.length === 10, "the rest");
    assert.deepEqual(world.atServer, range(10));
    assert.deepEqual(world.events.types(), [], "no drop, no loss");
  });

  test("a protocol error (#ack of messages never sent): SessionLostError, close 1002, fresh", async () => {
    world = new World();
    await world.start();
    const { peer, server, events } = world;
    assert.equal(await peer.call("echo", [1]), 1);
    const first = server.session;
    const slow = peer.call("slow", [1]).then(
      () => undefined,
      (e: unknown) => e,
    );
    await until(() => first.received >= 2, "the slow call at the server");
    first.link?.send("#ack 1000000");
    const lost = await events.next("sessionLost");
    assert.match(lost.type === "sessionLost" ? lost.reason : "", /^protocol: #ack 1000000 of \d+ messages sent$/);
    assert.ok((await slow) instanceof SessionLostError);
    await events.next("reconnected");
    assert.equal(server.connections[0]?.closeCode, 1002);
    assert.equal(await peer.call("echo", ["fresh"]), "fresh");
  });

  for (const [what, frames, reason] of [
    ["a malformed #session", ["#session 0123 x"], /^protocol: malformed "#session 0123 x"$/],
    [
      "a message before #session",
      ['{"jsonrpc":"2.0","method":"tick","params":[0]}'],
      /^protocol: a message before #session$/,
    ],
    ["#resumed on a fresh session", ["#resumed 0"], /^protocol: unexpected #resumed$/],
  ] as const) {
    test(`the first connection answers with ${what}: SessionLostError (protocol), close 1002, fresh`, async () => {
      world = new World();
      await world.start({
        answer: (ws, frame, index) => {
          if (index > 0 || frame !== "#new") return false;
          for (const f of frames) ws.send(f);
          return true;
        },
      });
      const { peer, server, events } = world;
      const lost = await events.next("sessionLost");
      assert.match(lost.type === "sessionLost" ? lost.reason : "", reason);
      await events.next("reconnected");
      assert.equal(await peer.call("echo", ["fresh"]), "fresh");
      await until(() => server.connections[0]?.closeCode !== undefined, "the first connection's close");
      assert.equal(server.connections[0]?.closeCode, 1002);
      assert.deepEqual(world.atClient, [], "the message before #session was not delivered");
    });
  }

  for (const [what, count] of [
    ["beyond what the client sent", 1000],
    ["from before what the server acknowledged", 0],
  ] as const) {
    test(`#resumed ${what}: SessionLostError (protocol), fresh`, async () => {
      world = new World();
      await world.start({
        answer: (ws, frame, index) => {
          if (index !== 1) return false;
          assert.match(frame, /^#resume /);
          ws.send(`#resumed ${count}`);
          return true;
        },
      });
      const { peer, server, proxy, events } = world;
      assert.equal(await peer.call("echo", [1]), 1);
      // The server's tick acknowledges the call: the client keeps nothing from before message 1.
      await until(() => server.session.lastAck >= 1, "the server's ack");
      await delay(100);
      proxy.cut();
      const lost = await events.next("sessionLost");
      const expected = `protocol: #resumed ${count}: never sent or already acknowledged`;
      assert.equal(lost.type === "sessionLost" && lost.reason, expected);
      await events.next("reconnected");
      assert.equal(await peer.call("echo", ["fresh"]), "fresh");
    });
  }

  test("the server closes normally (1000): the session is over, the plain DisconnectedError, fresh", async () => {
    world = new World();
    await world.start();
    const { peer, server, events } = world;
    assert.equal(await peer.call("echo", [1]), 1);
    const slow = peer.call("slow", [1]).then(
      () => undefined,
      (e: unknown) => e,
    );
    await until(() => server.session.received >= 2, "the slow call at the server");
    server.session.end(1000);
    const error = await within(slow, "the pending call");
    assert.ok(error instanceof DisconnectedError, String(error));
    assert.ok(!(error instanceof SessionLostError), "a normal close, as without sessions");
    assert.equal(error.closeCode, 1000);
    await events.next("reconnected");
    await until(() => server.connections[1]?.frames[0] !== undefined, "the second connection's first frame");
    assert.equal(server.connections.length, 2);
    assert.equal(server.connections[1]?.frames[0], "#new");
    assert.deepEqual(events.types(), ["disconnected", "reconnected"]);
  });

  test("acks: every ackEvery messages at once, the rest after ackDelay; acked ones are dropped", async () => {
    world = new World();
    await world.start({ tickMs: 10_000, ackEvery: 1_000 }, { ackDelay: 150, livenessTimeout: 60_000 });
    const { peer, server } = world;
    assert.equal(await peer.call("echo", [1]), 1);
    const session = server.session;
    const acksBefore = server.connections[0]?.frames.filter((f) => f.startsWith("#ack")).length ?? 0;
    for (const i of range(70)) session.peer.notify("tick", [i]);
    await until(() => world.atClient.length === 70, "the notifications");
    const acks = (): string[] =>
      (server.connections[0]?.frames ?? []).filter((f) => f.startsWith("#ack")).slice(acksBefore);
    // 1 reply + 70 notifications received: acks at 32 and 64 right away, the 71st after the delay.
    await until(() => acks().length >= 2, "the two acks");
    assert.deepEqual(acks().slice(0, 2), ["#ack 32", "#ack 64"]);
    await until(() => acks().length === 3, "the delayed ack");
    assert.equal(acks()[2], "#ack 71");
    assert.equal(session.replay.length, 0, "the server dropped what the client acknowledged");
  });

  test("close() ends the session for good: 1000, no resume", async () => {
    world = new World();
    await world.start();
    const { peer, server, events } = world;
    assert.equal(await peer.call("echo", [1]), 1);
    const session = server.session;
    peer.close();
    await until(() => session.lost, "the session's end at the server");
    assert.equal(server.connections[0]?.closeCode, 1000);
    await peer.closed;
    await delay(50);
    assert.equal(server.connections.length, 1, "no reconnect");
    assert.deepEqual(events.types(), []);
  });

  test("a closed peer leaves no timer behind: a Node process exits at once after close()", async () => {
    world = new World();
    await world.start();
    const { proxy } = world;
    // The client runs in a child process with the default (long) timers: the
    // window, the liveness check and a reconnect attempt's limit would each
    // keep it alive for 30 s or more.
    const script = `
      import { connect } from ${JSON.stringify(new URL("../../../dist/index.js", import.meta.url).href)};
      import { WebSocket } from "ws";
      import { createInterface } from "node:readline";
      const peer = await connect(${JSON.stringify(proxy.url)}, {
        WebSocket,
        reconnect: { initialDelay: 10, onEvent: (e) => console.log(e.type) },
        resumable: true,
      });
      console.log(await peer.call("echo", ["ready"]));
      createInterface({ input: process.stdin }).once("line", () => {
        peer.close();
        console.log("closed");
        process.stdin.destroy();
      });
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      cwd: fileURLToPath(new URL("../../..", import.meta.url)),
      stdio: ["pipe", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      await until(() => out.includes("ready"), "the child's first call");
      proxy.cut();
      await until(() => out.includes("resumed"), "the child's resume");
      child.stdin.write("close\n");
      assert.equal(await within(exited, "the child's exit after close()"), 0);
      assert.deepEqual(out.trim().split("\n"), ["ready", "disconnected", "resumed", "closed"]);
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("a server without sessions: plain behaviour, no # frame, the plain DisconnectedError", async () => {
    world = new World();
    await world.start({ sessions: false });
    const { peer, server, proxy, events } = world;
    assert.equal(await peer.call("echo", [1]), 1);
    assert.equal(server.connections.at(-1)?.protocol, "");
    const slow = peer.call("slow", [1]).then(
      () => undefined,
      (e: unknown) => e,
    );
    await delay(20);
    proxy.cut();
    const error = await within(slow, "the pending call");
    assert.ok(error instanceof DisconnectedError, String(error));
    assert.ok(!(error instanceof SessionLostError), "a plain disconnect");
    await events.next("connected");
    assert.equal(await peer.call("echo", [2]), 2);
    for (const c of server.connections) assert.deepEqual(c.frames, []);
    assert.deepEqual(events.types(), ["disconnected", "connected"]);
    // `ws` refuses a 101 without the offered subprotocol: connect() then connected
    // once more without offering it, and so does every reconnect.
    assert.deepEqual(
      server.connections.map((c) => c.offered),
      [SESSION_PROTOCOL, "", ""],
    );
  });

  test("resumable without reconnect is refused", async () => {
    world = new World();
    await assert.rejects(connect("ws://127.0.0.1:9/", { WebSocket, resumable: true }), TypeError);
  });
});
