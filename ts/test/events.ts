// The connection events of a reconnecting peer, for the session tests: what
// was seen, and a wait for the next event of a type.

import type { ConnectionEvent } from "duplexrpc";

import { within } from "./fake-socket.js";

export class Events {
  seen: ConnectionEvent[] = [];
  #waiters: { type: ConnectionEvent["type"]; resolve: (e: ConnectionEvent) => void }[] = [];

  /** The `onEvent` callback. */
  readonly push = (event: ConnectionEvent): void => {
    this.seen.push(event);
    for (const w of [...this.#waiters]) {
      if (w.type === event.type) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(event);
      }
    }
  };

  /** The next event of `type` (rejects if none comes within 5 s). */
  next(type: ConnectionEvent["type"]): Promise<ConnectionEvent> {
    return within(new Promise((resolve) => this.#waiters.push({ type, resolve })), `the ${type} event`);
  }

  /** The event types seen, without the `retrying` ones (their number depends on timing). */
  types(): string[] {
    return this.seen.filter((e) => e.type !== "retrying").map((e) => e.type);
  }
}
