// A fake server for the resumable-session tests: the server side of the
// session protocol (SESSION-SPEC, `duplexrpc.session.v1`) written on its own
// over the `ws` package, with the runtime's Peer above it as the server's
// peer. As in the Rust design the session sits below the peer: the server's
// Peer runs on a virtual socket that stays open across cuts, so its pending
// calls, handlers and streams survive as long as the session does.

import { randomBytes, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";

import { Peer, SESSION_PROTOCOL, type WebSocketLike } from "duplexrpc";
import { WebSocket, WebSocketServer } from "ws";

type Listener = (event: { data?: unknown; code?: number; reason?: string }) => void;

/** The socket the server's Peer runs on: open for as long as the session lives. */
class VirtualSocket implements WebSocketLike {
  readyState = 1;
  readonly #listeners = new Map<string, Listener[]>();
  readonly #session: ServerSession;

  constructor(session: ServerSession) {
    this.#session = session;
  }

  send(data: string): void {
    this.#session.out(data);
  }

  close(code = 1000): void {
    this.#session.end(code);
  }

  addEventListener(type: string, listener: Listener): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }

  emit(type: "message" | "close", event: { data?: unknown; code?: number; reason?: string }): void {
    if (type === "close") this.readyState = 3;
    for (const listener of this.#listeners.get(type) ?? []) listener(event);
  }
}

/** One session on the server: counts, replay buffer, acks, the current link. */
export class ServerSession {
  readonly id = randomBytes(8).toString("hex");
  readonly secret = randomBytes(16).toString("hex");
  readonly virtual: VirtualSocket;
  readonly peer: Peer;
  received = 0;
  sent = 0;
  /** Sent messages not acknowledged yet: seq `sent - replay.length` onwards. */
  replay: string[] = [];
  unacked = 0;
  /** The count of the last `#ack` sent. */
  lastAck = 0;
  link: WebSocket | undefined;
  /** How many times the session was resumed, and how many messages it replayed on those resumes. */
  resumes = 0;
  replayed = 0;
  lost = false;
  readonly #server: SessionServer;
  #window: NodeJS.Timeout | undefined;

  constructor(server: SessionServer, link: WebSocket) {
    this.#server = server;
    this.link = link;
    this.virtual = new VirtualSocket(this);
    this.peer = new Peer(this.virtual, { onWarning: (w) => server.warnings.push(w) });
  }

  get token(): string {
    return `${this.id}.${this.secret}`;
  }

  /** A message from the server's peer: numbered, kept, sent if there is a link. */
  out(text: string): void {
    if (this.lost) return;
    this.sent++;
    this.replay.push(text);
    this.link?.send(text);
  }

  /** A message from the client. */
  in(text: string): void {
    this.received++;
    this.unacked++;
    if (this.unacked >= this.#server.ackEvery) this.ack();
    this.virtual.emit("message", { data: text });
  }

  ack(): void {
    this.unacked = 0;
    this.lastAck = this.received;
    this.link?.send(`#ack ${this.received}`);
  }

  /** The client has received `n` messages. */
  acked(n: number): void {
    const first = this.sent - this.replay.length;
    if (n > first) this.replay = this.replay.slice(Math.min(n - first, this.replay.length));
  }

  /** The client resumes on `link` having received `clientReceived`; false if it cannot. */
  attach(link: WebSocket, clientReceived: number): boolean {
    const first = this.sent - this.replay.length;
    if (clientReceived < first || clientReceived > this.sent) return false;
    if (this.#window !== undefined) clearTimeout(this.#window);
    this.#window = undefined;
    const stale = this.link;
    this.link = link;
    // A link that froze is still attached: the new one replaces it.
    stale?.terminate();
    this.resumes++;
    this.acked(clientReceived);
    link.send(`#resumed ${this.received}`);
    for (const text of this.replay) link.send(text);
    this.replayed += this.replay.length;
    return true;
  }

  /** The link `link` dropped: the window starts. */
  detach(link: WebSocket): void {
    if (this.link !== link || this.lost) return;
    this.link = undefined;
    this.#window = setTimeout(() => this.end(1006), this.#server.windowMs);
  }

  /** The session ends: the server's peer sees its socket close. */
  end(code: number): void {
    if (this.lost) return;
    this.lost = true;
    if (this.#window !== undefined) clearTimeout(this.#window);
    this.#server.sessions.delete(this.id);
    const link = this.link;
    this.link = undefined;
    if (link && code === 1000) link.close(1000);
    else link?.terminate();
    this.virtual.emit("close", { code, reason: "" });
  }
}

export interface SessionServerOptions {
  /** Select the session subprotocol when offered. Default true. */
  sessions?: boolean;
  /** The resume window sent in `#session`, in ms. Default 30000. */
  windowMs?: number;
  /** Acknowledge every this many messages. Default 32. */
  ackEvery?: number;
  /**
   * The "keepalive tick": sends `#ack`, as the Rust server does on every
   * keepalive tick, so that a client sees a frame at least that often. Default 50 ms.
   */
  tickMs?: number;
  /** Called with the server's peer of each new session (or plain connection): register handlers here. */
  setup?: (peer: Peer) => void;
  /**
   * Misbehaviour for the tests: called with the first frame of connection
   * number `index` (0-based); returning true means it answered itself (the
   * connection then carries no session).
   */
  answer?: (ws: WebSocket, frame: string, index: number) => boolean;
}

/** What a connection sent before any message: its session frames, for the tests to check. */
export interface ConnectionLog {
  /** The subprotocols the client offered (`Sec-WebSocket-Protocol`), "" for none. */
  offered: string;
  /** The one the server selected, "" for none. */
  protocol: string;
  /** The `#...` frames it sent, in order. */
  frames: string[];
  /** The close code it closed with (once closed). */
  closeCode?: number;
}

export class SessionServer {
  readonly sessions = new Map<string, ServerSession>();
  /** Warnings of the server's peers (a duplicated reply shows here). */
  readonly warnings: string[] = [];
  /** Every session ever created, in order. */
  readonly created: ServerSession[] = [];
  /** The plain peers (no subprotocol selected). */
  readonly plain: Peer[] = [];
  readonly connections: ConnectionLog[] = [];
  readonly windowMs: number;
  readonly ackEvery: number;
  readonly #wss: WebSocketServer;
  readonly #setup: (peer: Peer) => void;
  readonly #answer: SessionServerOptions["answer"];
  readonly #tick: NodeJS.Timeout;

  private constructor(wss: WebSocketServer, options: SessionServerOptions) {
    this.#wss = wss;
    this.windowMs = options.windowMs ?? 30_000;
    this.ackEvery = options.ackEvery ?? 32;
    this.#setup = options.setup ?? (() => {});
    this.#answer = options.answer;
    this.#tick = setInterval(() => {
      for (const session of this.sessions.values()) if (session.link) session.ack();
    }, options.tickMs ?? 50);
    wss.on("connection", (ws, request) => this.#connection(ws, request.headers["sec-websocket-protocol"] ?? ""));
  }

  static async start(options: SessionServerOptions = {}): Promise<SessionServer> {
    const sessions = options.sessions ?? true;
    const wss = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      handleProtocols: (offered) => (sessions && offered.has(SESSION_PROTOCOL) ? SESSION_PROTOCOL : false),
    });
    await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
    return new SessionServer(wss, options);
  }

  get port(): number {
    return (this.#wss.address() as AddressInfo).port;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  /** The only session (throws unless there is exactly one). */
  get session(): ServerSession {
    const [only, ...more] = [...this.sessions.values()];
    if (!only || more.length > 0) throw new Error(`${this.sessions.size} sessions, not 1`);
    return only;
  }

  /** A restart that loses every session: links drop, the sessions are forgotten. */
  forgetSessions(): void {
    for (const session of [...this.sessions.values()]) session.end(1006);
  }

  async stop(): Promise<void> {
    clearInterval(this.#tick);
    this.forgetSessions();
    for (const client of this.#wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #connection(ws: WebSocket, offered: string): void {
    const log: ConnectionLog = { offered, protocol: ws.protocol, frames: [] };
    this.connections.push(log);
    if (ws.protocol !== SESSION_PROTOCOL) {
      ws.on("message", (data, isBinary) => {
        const text = data.toString();
        if (!isBinary && text.startsWith("#")) log.frames.push(text);
      });
      ws.on("close", (code) => {
        log.closeCode = code;
      });
      const peer = new Peer(ws as unknown as WebSocketLike, { onWarning: (w) => this.warnings.push(w) });
      this.plain.push(peer);
      this.#setup(peer);
      return;
    }
    let session: ServerSession | undefined;
    let first = true;
    const index = this.connections.length - 1;
    ws.on("message", (data, isBinary) => {
      if (isBinary) return ws.close(1003);
      const text = data.toString();
      if (text.startsWith("#")) log.frames.push(text);
      if (first) {
        first = false;
        if (!this.#answer?.(ws, text, index)) session = this.#handshake(ws, text);
        return;
      }
      if (!session || session.link !== ws) return;
      if (!text.startsWith("#")) return session.in(text);
      const [kind, n] = text.split(" ");
      if (kind === "#ack") session.acked(Number(n));
    });
    ws.on("close", (code) => {
      log.closeCode = code;
      if (!session) return;
      // A normal close ends the session for good.
      if (code === 1000 && session.link === ws) session.end(1000);
      else session.detach(ws);
    });
  }

  /** The first frame: `#new` or `#resume`; returns the session the link carries. */
  #handshake(ws: WebSocket, frame: string): ServerSession | undefined {
    const [kind, token, received] = frame.split(" ");
    if (kind === "#new") {
      const session = new ServerSession(this, ws);
      this.sessions.set(session.id, session);
      this.created.push(session);
      ws.send(`#session ${session.token} ${this.windowMs}`);
      this.#setup(session.peer);
      return session;
    }
    if (kind === "#resume" && token && received) {
      const [id, secret] = token.split(".");
      const session = this.sessions.get(id ?? "");
      const known =
        session !== undefined &&
        secret !== undefined &&
        secret.length === session.secret.length &&
        timingSafeEqual(Buffer.from(secret), Buffer.from(session.secret));
      if (!session || !known) return this.#refuse(ws, "unknown session");
      if (!session.attach(ws, Number(received))) return this.#refuse(ws, "protocol");
      return session;
    }
    return this.#refuse(ws, "protocol");
  }

  #refuse(ws: WebSocket, reason: string): undefined {
    ws.send(`#lost ${reason}`);
    ws.close(1000);
    return undefined;
  }
}
