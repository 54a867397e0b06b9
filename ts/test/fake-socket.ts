// A socket for the runtime's tests: records what the peer sends and lets the
// test play the other end (open, messages, close).

import { setTimeout as delay } from "node:timers/promises";

import type { WebSocketLike } from "duplexrpc";

type Listener = (event: { data?: unknown; code?: number; reason?: string }) => void;

export class FakeSocket implements WebSocketLike {
  readyState = 1;
  sent: string[] = [];
  #listeners = new Map<string, Listener[]>();
  #waiters: (() => void)[] = [];

  send(data: string): void {
    this.sent.push(data);
    for (const wake of this.#waiters.splice(0)) wake();
  }

  close(): void {}

  addEventListener(type: string, listener: Listener): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }

  /** The connection opens. */
  open(): void {
    this.readyState = 1;
    for (const listener of this.#listeners.get("open") ?? []) listener({});
  }

  /** The other end sends `value`, JSON-encoded. */
  receive(value: unknown): void {
    for (const listener of this.#listeners.get("message") ?? []) listener({ data: JSON.stringify(value) });
  }

  /** Resolves with the `n`-th frame the peer sends (0-based), parsed. */
  async frame(n: number): Promise<unknown> {
    while (this.sent.length <= n) await new Promise<void>((wake) => this.#waiters.push(wake));
    return JSON.parse(this.sent[n] ?? "null");
  }
}

/** `promise`, or a rejection if it has not settled within 5 s (so a broken feature fails instead of hanging). */
export function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within 5 s`)), 5_000);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Resolves once `check()` holds (polled every 5 ms), or rejects after 5 s. */
export async function until(check: () => boolean, what: string): Promise<void> {
  await within(
    (async () => {
      while (!check()) await delay(5);
    })(),
    what,
  );
}
