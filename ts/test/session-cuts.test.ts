// Resumable sessions under repeated cuts: ten clients, each behind its own
// cut proxy, exchange numbered notifications and calls both ways while the
// test cuts (clean) and freezes their connections again and again at random
// points (seeded, so a failure replays; SESSION_CUTS_SEED picks another seed). Every message arrives exactly once
// and in order, every call is answered, no session is lost.

import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { test } from "node:test";

import { connect, type ConnectionEvent, type Peer } from "duplexrpc";
import { WebSocket } from "ws";

import { CutProxy } from "./cut-proxy.js";
import { within } from "./fake-socket.js";
import { SessionServer } from "./session-server.js";

const CLIENTS = 10;
const MESSAGES = 400;
const CUTS_PER_CLIENT = 3;

/** A small seeded PRNG (mulberry32): the same cuts on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

const name = "ten clients, repeated random cuts and freezes: every message once and in order, no session lost";
test(name, { timeout: 60_000 }, async () => {
  const rand = random(Number(process.env["SESSION_CUTS_SEED"] ?? 15));
  const atServer = range(CLIENTS).map((): number[] => []);
  const atClient = range(CLIENTS).map((): number[] => []);
  const serverPeers = new Map<number, Peer>();
  const server = await SessionServer.start({
    setup: (peer) => {
      peer.handle("hello", ["c"], ([c]) => {
        serverPeers.set(c as number, peer);
      });
      peer.handle("seq", ["c", "i"], ([c, i]) => {
        atServer[c as number]?.push(i as number);
      });
      peer.handle("echo", ["x"], ([x]) => x);
    },
  });
  const proxies: CutProxy[] = [];
  const peers: Peer[] = [];
  const events: ConnectionEvent[][] = range(CLIENTS).map(() => []);
  try {
    for (const c of range(CLIENTS)) {
      const proxy = await CutProxy.start(server.port);
      proxies.push(proxy);
      const peer = await connect(proxy.url, {
        WebSocket,
        reconnect: { initialDelay: 5, maxDelay: 40, onEvent: (e) => events[c]?.push(e) },
        resumable: { ackDelay: 20, livenessTimeout: 300 },
      });
      peer.handle("tick", ["i"], ([i]) => {
        atClient[c]?.push(i as number);
      });
      peer.handle("double", ["x"], ([x]) => (x as number) * 2);
      peers.push(peer);
      await peer.call("hello", [c]);
    }
    // Where each client's connection is cut: random message numbers, random kinds.
    const cuts = range(CLIENTS).map(() =>
      new Map(range(CUTS_PER_CLIENT).map(() => [Math.floor(rand() * MESSAGES), rand() < 0.5] as const)),
    );
    const calls: Promise<unknown>[] = [];
    const expected: unknown[] = [];
    for (const i of range(MESSAGES)) {
      for (const c of range(CLIENTS)) {
        const peer = peers[c];
        const serverPeer = serverPeers.get(c);
        if (!peer || !serverPeer) throw new Error(`client ${c} has no peers`);
        peer.notify("seq", [c, i]);
        serverPeer.notify("tick", [i]);
        if (i % 10 === 0) {
          calls.push(peer.call("echo", [`${c}:${i}`]), serverPeer.call("double", [i]));
          expected.push(`${c}:${i}`, i * 2);
        }
        const freeze = cuts[c]?.get(i);
        if (freeze === true) proxies[c]?.freeze();
        else if (freeze === false) proxies[c]?.cut();
      }
      if (i % 20 === 0) await delay(5);
    }
    assert.deepEqual(await within(Promise.all(calls), "the calls both ways"), expected);
    await within(
      (async () => {
        while (atServer.some((a) => a.length < MESSAGES) || atClient.some((a) => a.length < MESSAGES)) await delay(10);
      })(),
      "every notification",
    );
    await delay(50);
    for (const c of range(CLIENTS)) {
      assert.deepEqual(atServer[c], range(MESSAGES), `client ${c} -> server`);
      assert.deepEqual(atClient[c], range(MESSAGES), `server -> client ${c}`);
      const types = events[c]?.map((e) => e.type) ?? [];
      assert.ok(types.includes("resumed"), `client ${c}: ${types.join(", ")}`);
      assert.ok(!types.includes("sessionLost") && !types.includes("reconnected"), `client ${c}: ${types.join(", ")}`);
    }
    assert.equal(server.created.length, CLIENTS, "one session per client throughout");
    assert.deepEqual(server.warnings, []);
  } finally {
    for (const peer of peers) peer.close();
    for (const proxy of proxies) await proxy.stop();
    await server.stop();
  }
});
