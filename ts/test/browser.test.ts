// Headless Chromium loads the page the Rust example server serves; the page's
// script (examples/web/src/app.ts) uses the generated client over the
// browser's own WebSocket. The test clicks "run everything", answers the
// server's confirm() question, and asserts on what the page reports.
//
// The browser is Debian's /usr/bin/chromium (never a download), started with
// a fresh, temporary profile.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { chromium, type BrowserContext, type Page } from "playwright-core";

import { startServer, type ExampleServer } from "./server.js";

const CHROMIUM = process.env["CHROMIUM"] ?? "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];
/** Liveness bound for anything the page does: a hang fails the test instead of the CI job. */
const LIVENESS_MS = 30_000;

let server: ExampleServer;
let profile: string;
let browser: BrowserContext;
let page: Page;
const dialogs: string[] = [];
const consoleErrors: string[] = [];

before(async () => {
  server = await startServer();
  profile = mkdtempSync(join(tmpdir(), "wsrpc-chromium-"));
  // Playwright passes the profile as --user-data-dir itself.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    timeout: LIVENESS_MS,
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(LIVENESS_MS);
  page.on("dialog", (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.accept();
  });
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** The page's `#results` as step -> { ok, value }. */
async function results(): Promise<Map<string, { ok: boolean; value: unknown }>> {
  const items = await page.$$eval("#results li", (lis) =>
    lis.map((li) => {
      const el = li as HTMLElement;
      return { step: el.dataset["step"] ?? "", ok: el.dataset["ok"] === "true", value: el.dataset["value"] ?? "null" };
    }),
  );
  return new Map(items.map((i) => [i.step, { ok: i.ok, value: JSON.parse(i.value) as unknown }]));
}

test("the page calls the server and serves the server's calls, over the browser's WebSocket", async () => {
  await page.goto(server.pageUrl);
  await page.waitForSelector('#status[data-state="connected"]');
  await page.click("#run-all");
  await page.waitForSelector('#status[data-state="done"]');

  const r = await results();
  const get = (step: string) => {
    const found = r.get(step);
    assert.ok(found, `the page reported no ${step}: ${JSON.stringify([...r])}`);
    return found;
  };

  // page -> server calls, typed results
  assert.deepEqual(get("add"), { ok: true, value: 9 }); // the page's inputs: 7 + 2
  assert.deepEqual(get("concurrent"), {
    ok: true,
    value: Array.from({ length: 20 }, (_, i) => 2 * i),
  });
  // errors with code, message and data
  assert.deepEqual(get("divide-by-zero"), { ok: false, value: { code: 1, message: "division by zero", data: 7 } });
  assert.deepEqual(get("eval-unknown"), {
    ok: false,
    value: { code: 3, message: "unknown variable", data: { name: "z" } },
  });

  // server -> page call: confirm() reached the page's Browser implementation,
  // the user (this test) accepted the dialog, and the answer was the reply.
  const question = "Clear the memory (asked by the page)?";
  assert.deepEqual(get("confirm-asked"), { ok: true, value: question });
  assert.deepEqual(dialogs, [`confirm: ${question}`]);
  assert.deepEqual(get("clear"), { ok: true, value: "cleared" });

  // server -> page notifications, all before the call's reply
  assert.deepEqual(get("sum"), { ok: true, value: 55 });
  assert.deepEqual(get("progress"), { ok: true, value: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100] });

  // typed values: an expression tree in, the page's Scope answering lookups
  assert.deepEqual(get("eval"), { ok: true, value: 5 }); // (6 + 4) / 2
  assert.deepEqual((get("lookups").value as string[]).sort(), ["x", "y"]);
  assert.deepEqual(get("summarize"), {
    ok: true,
    value: {
      count: 4,
      sum: 4,
      mean: 1,
      minMax: [-1, 3],
      median: 1,
      sorted: [-1, 0, 2, 3],
      bySign: { negative: 1, zero: 1, positive: 2 },
    },
  });

  // page -> server notification: the server printed the line
  assert.deepEqual(get("log"), { ok: true, value: "hello from the page" });
  await server.waitForOutput("[server] log: hello from the page\n");

  // The traffic log shows both directions.
  const traffic = await page.$$eval("#traffic li", (lis) => lis.map((li) => li.className));
  assert.ok(traffic.includes("to") && traffic.includes("from"), traffic.join(","));
  assert.deepEqual(consoleErrors, []);
});

test("a page from another origin may not connect (Origin allow-list)", async () => {
  // about:blank has an opaque origin ("null"), which is not the page's.
  await page.goto("about:blank");
  const outcome = await page.evaluate(
    (url) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(url);
        ws.onopen = () => resolve("open");
        ws.onclose = () => resolve("refused");
      }),
    server.wsUrl,
  );
  assert.equal(outcome, "refused");
});
