/**
 * Resumable sessions (wire protocol `duplexrpc.session.v1`): the layer below
 * the peer that numbers, acknowledges and replays messages, so that a
 * dropped connection loses nothing.
 *
 * A {@link Session} is transport-agnostic bookkeeping over one socket at a
 * time: the peer {@link Session.start | starts} it on a fresh connection
 * (`#new`), {@link Session.detach | detaches} it when the connection drops,
 * and {@link Session.resume | resumes} it on the next one (`#resume`).
 *
 * @module
 */

/** The WebSocket subprotocol that asks the server for a resumable session. */
export const SESSION_PROTOCOL = "duplexrpc.session.v1";

/**
 * Settings of a resumable session (`connect(url, { reconnect, resumable })`).
 * The defaults are the Rust `SessionConfig`'s.
 */
export interface SessionOptions {
  /** Most messages kept for replay (sent, not yet acknowledged). Default 4096. */
  replayMessages?: number;
  /** Most bytes (UTF-8) kept for replay. Default 1 MiB. */
  replayBytes?: number;
  /** Acknowledge after this many received messages. Default 32. */
  ackEvery?: number;
  /** Acknowledge after this many received bytes (UTF-8). Default 64 KiB. */
  ackBytes?: number;
  /** Acknowledge what is unacknowledged after this many ms without another reason to. Default 1000. */
  ackDelay?: number;
  /**
   * The connection counts as frozen (and the session resumes on a new one)
   * when nothing at all arrives for this many ms. Browsers can neither send
   * nor see pings, so this relies on the server sending a frame at least
   * once per keepalive interval: the Rust server sends `#ack` on every
   * keepalive tick (default every 30 s). Keep it above the server's
   * keepalive interval; 0 turns the check off (a frozen connection then
   * lasts until the socket itself fails). A reconnect attempt that has not
   * opened within it is given up as well. Default 40000.
   */
  livenessTimeout?: number;
}

/** What a session needs of a socket. */
export interface SessionSocket {
  send(data: string): void;
}

/** What a session tells its peer. */
export interface SessionEvents {
  /** `#resumed` arrived and the replay went out: the connection carries the session again. */
  resumed(): void;
  /** The session ended for good (`#lost`, window expired, protocol error): everything pending fails. */
  lost(reason: string, protocolError: boolean): void;
  /** Nothing arrived for {@link SessionOptions.livenessTimeout}. */
  frozen(): void;
}

/** The reason of a session whose buffer would overflow while detached. */
export const REPLAY_OVERFLOW = "replay buffer overflow";

const timers = globalThis as unknown as {
  setTimeout(handler: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
};

/** Where a session is in its handshake on the current socket. */
type State = "starting" | "attached" | "resuming" | "detached" | "lost";

const TOKEN = /^[0-9a-f]{16}\.[0-9a-f]{32}$/;
const COUNT = /^(0|[1-9][0-9]{0,19})$/;
/** Liveness ticks per timeout: a frozen connection is noticed within 1.25 timeouts. */
const LIVENESS_TICKS = 4;

/**
 * One session: counts the messages received and sent, keeps the sent ones
 * until acknowledged, acknowledges what it receives, and replays on resume.
 */
export class Session {
  readonly #events: SessionEvents;
  readonly #replayMessages: number;
  readonly #replayBytes: number;
  readonly #ackEvery: number;
  readonly #ackBytes: number;
  readonly #ackDelay: number;
  readonly #livenessTimeout: number;
  #socket: SessionSocket | undefined;
  #state: State = "starting";
  #token: string | undefined;
  #windowMs = 0;
  /** Messages received in this session. */
  #received = 0;
  /** Received messages (and their bytes) not acknowledged yet. */
  #unacked = 0;
  #unackedBytes = 0;
  /** Messages sent (given a sequence number) in this session. */
  #sent = 0;
  /** Sent messages not acknowledged yet: seq `#sent - #replay.length` onwards. */
  #replay: string[] = [];
  #replaySizes: number[] = [];
  #replayHead = 0;
  #replayByteCount = 0;
  /** Messages waiting for room in the replay buffer (or for the connection), not numbered yet. */
  #outbox: string[] = [];
  #outboxBytes = 0;
  #ackTimer: unknown;
  #windowTimer: unknown;
  #livenessTimer: unknown;
  /** Frames received since the last liveness tick; silent ticks in a row. */
  #heard = 0;
  #silentTicks = 0;

  constructor(options: SessionOptions, events: SessionEvents) {
    this.#events = events;
    this.#replayMessages = Math.max(1, options.replayMessages ?? 4096);
    this.#replayBytes = Math.max(1, options.replayBytes ?? 1024 * 1024);
    this.#ackEvery = Math.max(1, options.ackEvery ?? 32);
    this.#ackBytes = Math.max(1, options.ackBytes ?? 64 * 1024);
    this.#ackDelay = delay(options.ackDelay ?? 1000);
    this.#livenessTimeout = livenessTimeout(options);
  }

  /** Starts the session on a fresh connection: `#new`; messages may follow at once. */
  start(socket: SessionSocket): void {
    this.#socket = socket;
    this.#state = "starting";
    socket.send("#new");
    this.#watch();
  }

  /** Asks to resume on a new connection: `#resume`; messages wait for `#resumed`. */
  resume(socket: SessionSocket): void {
    if (this.#state !== "detached" || this.#token === undefined) return;
    this.#socket = socket;
    this.#state = "resuming";
    socket.send(`#resume ${this.#token} ${this.#received}`);
    this.#watch();
  }

  /**
   * The connection dropped. Returns false if the session cannot be resumed
   * (it had not started: no token yet); else its window starts (if it has not
   * already: a failed resume attempt keeps the first drop's deadline).
   */
  detach(): boolean {
    if (this.#state === "lost") return false;
    this.#socket = undefined;
    this.#stopTimer("ack");
    this.#stopTimer("liveness");
    if (this.#token === undefined) {
      this.#end();
      return false;
    }
    this.#state = "detached";
    if (this.#windowTimer === undefined) {
      this.#windowTimer = timers.setTimeout(() => {
        this.#windowTimer = undefined;
        if (this.#state === "detached" || this.#state === "resuming") this.#lose("resume window expired", false);
      }, delay(this.#windowMs));
    }
    return true;
  }

  /**
   * Sends `text` (a message) now, or keeps it until there is room or a
   * connection. Returns false when keeping it would overflow the replay
   * buffer while detached: the session is then over (the caller loses it).
   */
  send(text: string): boolean {
    if (this.#state === "lost") return false;
    const size = utf8Length(text);
    if (this.#state === "attached" || this.#state === "starting") {
      if (this.#outbox.length === 0 && this.#hasRoom(size)) {
        this.#transmit(text, size);
      } else {
        // Back-pressure: waits for acks (unbounded while connected, as the socket's own buffer).
        this.#outbox.push(text);
        this.#outboxBytes += size;
      }
      return true;
    }
    const messages = this.#replay.length - this.#replayHead + this.#outbox.length + 1;
    if (messages > this.#replayMessages || this.#replayByteCount + this.#outboxBytes + size > this.#replayBytes) {
      this.#end();
      return false;
    }
    this.#outbox.push(text);
    this.#outboxBytes += size;
    return true;
  }

  /**
   * A text frame from the current connection: returns it if it is a message
   * for the peer, or undefined if it was a session frame (handled here).
   */
  receive(data: string): string | undefined {
    this.#heard++;
    if (data.charCodeAt(0) !== 35 /* # */) {
      if (this.#state !== "attached") {
        this.#lose(`protocol: a message before ${this.#state === "resuming" ? "#resumed" : "#session"}`);
        return undefined;
      }
      this.#received++;
      this.#unacked++;
      this.#unackedBytes += utf8Length(data);
      if (this.#unacked >= this.#ackEvery || this.#unackedBytes >= this.#ackBytes) this.#ack();
      else if (this.#ackTimer === undefined) this.#ackTimer = timers.setTimeout(() => this.#ackTick(), this.#ackDelay);
      return data;
    }
    this.#control(data);
    return undefined;
  }

  /** Ends the session for good without telling anyone (the peer closed). */
  dispose(): void {
    this.#end();
  }

  #control(frame: string): void {
    const [kind, ...fields] = frame.split(" ");
    switch (kind) {
      case "#session": {
        const [token, window] = fields;
        if (this.#state !== "starting" || this.#token !== undefined) return this.#lose("protocol: unexpected #session");
        if (fields.length !== 2 || !token || !TOKEN.test(token) || !window || !COUNT.test(window)) {
          return this.#lose(`protocol: malformed ${JSON.stringify(frame.slice(0, 120))}`);
        }
        this.#token = token;
        this.#windowMs = Number(window);
        this.#state = "attached";
        return;
      }
      case "#resumed": {
        const n = this.#count(fields);
        if (this.#state !== "resuming") return this.#lose("protocol: unexpected #resumed");
        if (n === undefined) return this.#lose(`protocol: malformed ${JSON.stringify(frame.slice(0, 120))}`);
        if (n < this.#sent - (this.#replay.length - this.#replayHead) || n > this.#sent) {
          return this.#lose(`protocol: #resumed ${n}: never sent or already acknowledged`);
        }
        this.#acked(n);
        this.#state = "attached";
        this.#stopTimer("window");
        for (let i = this.#replayHead; i < this.#replay.length; i++) this.#socket?.send(this.#replay[i] ?? "");
        this.#drain();
        // The ack that may have been due while detached.
        if (this.#unacked > 0) this.#ack();
        this.#events.resumed();
        return;
      }
      case "#lost":
        return this.#lose(fields.join(" ") || "lost", false);
      case "#ack": {
        const n = this.#count(fields);
        if (n === undefined) return this.#lose(`protocol: malformed ${JSON.stringify(frame.slice(0, 120))}`);
        if (n > this.#sent) return this.#lose(`protocol: #ack ${n} of ${this.#sent} messages sent`);
        if (this.#state !== "attached") return;
        this.#acked(n);
        this.#drain();
        return;
      }
      default:
        // A frame of a later version of the protocol: not for this one.
        return;
    }
  }

  /** The one decimal count of a frame. */
  #count(fields: string[]): number | undefined {
    const [value] = fields;
    if (fields.length !== 1 || !value || !COUNT.test(value)) return undefined;
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : undefined;
  }

  /** The other end has received `n` messages: drops them from the replay buffer. */
  #acked(n: number): void {
    let first = this.#sent - (this.#replay.length - this.#replayHead);
    while (first < n && this.#replayHead < this.#replay.length) {
      this.#replayByteCount -= this.#replaySizes[this.#replayHead] ?? 0;
      this.#replayHead++;
      first++;
    }
    if (this.#replayHead === this.#replay.length) {
      this.#replay = [];
      this.#replaySizes = [];
      this.#replayHead = 0;
    } else if (this.#replayHead > 1024 && this.#replayHead * 2 > this.#replay.length) {
      this.#replay = this.#replay.slice(this.#replayHead);
      this.#replaySizes = this.#replaySizes.slice(this.#replayHead);
      this.#replayHead = 0;
    }
  }

  #hasRoom(size: number): boolean {
    const kept = this.#replay.length - this.#replayHead;
    // A message larger than the byte limit still goes when the buffer is empty.
    return kept === 0 || (kept < this.#replayMessages && this.#replayByteCount + size <= this.#replayBytes);
  }

  /** Numbers `text`, keeps it for replay and sends it. */
  #transmit(text: string, size: number): void {
    this.#sent++;
    this.#replay.push(text);
    this.#replaySizes.push(size);
    this.#replayByteCount += size;
    this.#socket?.send(text);
  }

  /** Sends what waits in the outbox, as far as the replay buffer has room. */
  #drain(): void {
    let i = 0;
    while (i < this.#outbox.length) {
      const text = this.#outbox[i] ?? "";
      const size = utf8Length(text);
      if (!this.#hasRoom(size)) break;
      this.#outboxBytes -= size;
      this.#transmit(text, size);
      i++;
    }
    if (i > 0) this.#outbox = this.#outbox.slice(i);
  }

  #ack(): void {
    this.#stopTimer("ack");
    this.#unacked = 0;
    this.#unackedBytes = 0;
    this.#socket?.send(`#ack ${this.#received}`);
  }

  #ackTick(): void {
    this.#ackTimer = undefined;
    if (this.#unacked > 0 && this.#state === "attached") this.#ack();
  }

  /** Starts the liveness ticks on a new connection. */
  #watch(): void {
    this.#stopTimer("liveness");
    if (this.#livenessTimeout === 0) return;
    this.#silentTicks = 0;
    this.#heard = 0;
    this.#armLiveness();
  }

  #armLiveness(): void {
    this.#livenessTimer = timers.setTimeout(() => this.#livenessTick(), this.#livenessTimeout / LIVENESS_TICKS);
  }

  /** Counts a tick without any frame received; after a timeout's worth of them the connection froze. */
  #livenessTick(): void {
    this.#livenessTimer = undefined;
    if (this.#socket === undefined) return;
    this.#silentTicks = this.#heard === 0 ? this.#silentTicks + 1 : 0;
    this.#heard = 0;
    if (this.#silentTicks >= LIVENESS_TICKS) this.#events.frozen();
    else this.#armLiveness();
  }

  #stopTimer(which: "ack" | "window" | "liveness"): void {
    const timer = which === "ack" ? this.#ackTimer : which === "window" ? this.#windowTimer : this.#livenessTimer;
    if (timer !== undefined) timers.clearTimeout(timer);
    if (which === "ack") this.#ackTimer = undefined;
    else if (which === "window") this.#windowTimer = undefined;
    else this.#livenessTimer = undefined;
  }

  /** The session is over: timers stop, buffers go. */
  #end(): void {
    this.#state = "lost";
    this.#socket = undefined;
    this.#stopTimer("ack");
    this.#stopTimer("window");
    this.#stopTimer("liveness");
    this.#replay = [];
    this.#replaySizes = [];
    this.#replayHead = 0;
    this.#replayByteCount = 0;
    this.#outbox = [];
    this.#outboxBytes = 0;
  }

  #lose(reason: string, protocolError = true): void {
    if (this.#state === "lost") return;
    this.#end();
    this.#events.lost(reason, protocolError);
  }
}

/** The longest delay timers take (longer ones fire at once in Node). */
const MAX_DELAY = 2 ** 31 - 1;

/** `ms` as a timer delay: 0 for what is not a positive number, at most {@link MAX_DELAY}. */
function delay(ms: number): number {
  return ms > 0 ? Math.min(ms, MAX_DELAY) : 0;
}

/** {@link SessionOptions.livenessTimeout} as a timer delay (0: no check). */
export function livenessTimeout(options: SessionOptions): number {
  return delay(options.livenessTimeout ?? 40_000);
}

/** The length of `text` in UTF-8 bytes. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      // A surrogate pair: 2 UTF-16 units, 4 bytes.
      bytes += 2;
      i++;
    } else bytes += 2;
  }
  return bytes;
}
