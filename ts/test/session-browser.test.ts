// Resumable sessions in headless Chromium, over the browser's own WebSocket:
// the page loads the runtime (ts/dist) and connects through the cut proxy to
// the fake session server. A silent freeze in the middle of traffic both ways
// (the browser can neither ping nor see pings: the silence is noticed, the
// frozen socket is closed and the session resumes) loses and duplicates
// nothing; against a server without sessions (whose 101 selects no
// subprotocol, which Chromium refuses) the peer falls back to connecting
// without offering it.
//
// The browser is Debian's /usr/bin/chromium (never a download), started with
// a fresh, temporary profile, as in browser.test.ts.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { after, afterEach, before, test } from "node:test";

import { chromium, type BrowserContext, type Page } from "playwright-core";

import { CutProxy } from "./cut-proxy.js";
import { until, within } from "./fake-socket.js";
import { repoRoot } from "./server.js";
import { SessionServer } from "./session-server.js";

const CHROMIUM = process.env["CHROMIUM"] ?? "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"];
const LIVENESS_MS = 30_000;

/** Serves an empty page and the runtime's modules (ts/dist/*.js). */
function startPageServer(): Promise<Server> {
  const dist = join(repoRoot, "ts", "dist");
  const server = createServer((request, response) => {
    const name = /^\/dist\/([a-z0-9-]+\.js)$/.exec(request.url ?? "")?.[1];
    if (request.url === "/") {
      response.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>sessions</title>");
    } else if (name) {
      response.writeHead(200, { "content-type": "text/javascript" }).end(readFileSync(join(dist, name)));
    } else {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** What the page keeps on `window`. */
interface PageState {
  ticks: number[];
  events: string[];
  replies: unknown[];
}

let pages: Server;
let profile: string;
let browser: BrowserContext;
let page: Page;
let server: SessionServer | undefined;
let proxy: CutProxy | undefined;

before(async () => {
  pages = await startPageServer();
  profile = mkdtempSync(join(tmpdir(), "wsrpc-chromium-sessions-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    timeout: LIVENESS_MS,
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(LIVENESS_MS);
});

afterEach(async () => {
  await page.goto("about:blank");
  await proxy?.stop();
  await server?.stop();
});

after(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => pages?.close(() => resolve()));
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** Opens the page and connects its peer (resumable) to `url`; handlers `tick` and `double`. */
async function connectPage(url: string): Promise<void> {
  await page.goto(`http://127.0.0.1:${(pages.address() as AddressInfo).port}/`);
  await page.evaluate(async (url) => {
    const runtime = "/dist/index.js";
    const { connect } = await import(runtime);
    const w = window as unknown as Record<string, unknown> & PageState;
    w.ticks = [];
    w.events = [];
    w.replies = [];
    const peer = await connect(url, {
      reconnect: { initialDelay: 10, maxDelay: 40, onEvent: (e: { type: string }) => w.events.push(e.type) },
      resumable: { livenessTimeout: 400, ackDelay: 20 },
    });
    peer.handle("tick", ["i"], ([i]: [number]) => {
      w.ticks.push(i);
    });
    peer.handle("double", ["x"], ([x]: [number]) => x * 2);
    w["peer"] = peer;
  }, url);
}

function state(): Promise<PageState> {
  return page.evaluate(() => {
    const w = window as unknown as PageState;
    return { ticks: w.ticks, events: w.events, replies: w.replies };
  });
}

async function untilPage(check: (s: PageState) => boolean, what: string): Promise<PageState> {
  return within(
    (async () => {
      for (;;) {
        const s = await state();
        if (check(s)) return s;
        await delay(20);
      }
    })(),
    what,
  );
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

test("a silent freeze mid-traffic both ways in Chromium: resumed, every message once and in order", async () => {
  const atServer: number[] = [];
  server = await SessionServer.start({
    setup: (peer) => {
      peer.handle("echo", ["x"], ([x]) => x);
      peer.handle("seq", ["i"], ([i]) => {
        atServer.push(i as number);
      });
    },
  });
  proxy = await CutProxy.start(server.port);
  await connectPage(proxy.url);
  // connect() resolves at the socket's open; the server sees `#new` a moment later.
  await until(() => (server?.sessions.size ?? 0) > 0, "the session at the server");
  const session = server.session;
  const N = 200;
  // The page sends notifications and calls (its replies collected on the page) ...
  await page.evaluate((n) => {
    const w = window as unknown as Record<string, unknown> & PageState;
    const peer = w["peer"] as {
      notify(m: string, p: unknown[]): void;
      call(m: string, p: unknown[]): Promise<unknown>;
    };
    void (async () => {
      for (let i = 0; i < n; i++) {
        peer.notify("seq", [i]);
        void peer.call("echo", [i]).then((r) => w.replies.push(r));
        if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
  }, N);
  // ... while the server does the same, and the connection freezes halfway.
  const serverCalls: Promise<unknown>[] = [];
  for (const i of range(N)) {
    session.peer.notify("tick", [i]);
    serverCalls.push(session.peer.call("double", [i]));
    if (i === N / 2) proxy.freeze();
    if (i % 10 === 0) await delay(2);
  }
  assert.deepEqual(
    await within(Promise.all(serverCalls), "the server's calls into the page"),
    range(N).map((i) => i * 2),
  );
  const s = await untilPage((s) => s.ticks.length >= N && s.replies.length >= N, "the page's messages");
  await delay(50);
  const final = await state();
  assert.deepEqual(final.ticks, range(N));
  assert.deepEqual([...final.replies].sort((a, b) => (a as number) - (b as number)), range(N));
  assert.equal(final.replies.length, N);
  assert.deepEqual(atServer, range(N));
  assert.ok(s.events.includes("resumed"), String(s.events));
  assert.ok(!s.events.includes("sessionLost"), String(s.events));
  assert.equal(server.created.length, 1);
  assert.ok(session.resumes >= 1);
  assert.deepEqual(server.warnings, []);
});

test("a server without sessions in Chromium: plain connections after a refused offer, no # frame", async () => {
  server = await SessionServer.start({
    sessions: false,
    setup: (peer) => peer.handle("echo", ["x"], ([x]) => x),
  });
  proxy = await CutProxy.start(server.port);
  await connectPage(proxy.url);
  const reply = await page.evaluate(() => {
    const peer = (window as unknown as Record<string, unknown>)["peer"] as {
      call(m: string, p: unknown[]): Promise<unknown>;
    };
    return peer.call("echo", ["plain"]);
  });
  assert.equal(reply, "plain");
  proxy.cut();
  await untilPage((s) => s.events.includes("connected"), "the plain reconnect");
  assert.deepEqual(
    (await state()).events.filter((e) => e !== "retrying"),
    ["disconnected", "connected"],
  );
  // Chromium refuses a 101 without the offered subprotocol: each time the peer
  // has no session to resume, an attempt that offered it and failed is followed
  // by one that does not.
  assert.deepEqual(
    server.connections.map((c) => [c.offered, c.protocol, c.frames.length]),
    [
      ["duplexrpc.session.v1", "", 0],
      ["", "", 0],
      ["duplexrpc.session.v1", "", 0],
      ["", "", 0],
    ],
  );
});
