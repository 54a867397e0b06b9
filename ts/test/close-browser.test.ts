// The closing handshake in headless Chromium: a page that closes its
// WebSocket gets the Rust server's Close frame back, so the close event is
// clean (`wasClean`) with the code the page sent.
//
// The browser is Debian's /usr/bin/chromium (never a download), started with
// a fresh, temporary profile, as in browser.test.ts.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { chromium, type BrowserContext } from "playwright-core";

import { startServer, type ExampleServer } from "./server.js";

const CHROMIUM = process.env["CHROMIUM"] ?? "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"];
const LIVENESS_MS = 30_000;

let server: ExampleServer;
let profile: string;
let browser: BrowserContext;

before(async () => {
  server = await startServer();
  profile = mkdtempSync(join(tmpdir(), "wsrpc-chromium-close-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    timeout: LIVENESS_MS,
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test("a close the page starts ends cleanly: wasClean, code 1000", async () => {
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(LIVENESS_MS);
  await page.goto(server.pageUrl);
  const event = await page.evaluate(
    (url) =>
      new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.onerror = () => reject(new Error("WebSocket error"));
        ws.onopen = () => ws.close(1000, "bye");
        ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
      }),
    server.wsUrl,
  );
  assert.deepEqual(event, { code: 1000, reason: "bye", wasClean: true });
});
