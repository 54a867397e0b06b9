/**
 * The opening handshake, where the platform lets a script see it: the HTTP
 * response of a refused handshake (Node's `ws` package emits it as
 * `unexpected-response`; browsers never show it to scripts).
 *
 * @module
 */

import { HandshakeRefusedError } from "./errors.js";

/** What the runtime reads of Node's `http.IncomingMessage`. */
interface ResponseLike {
  readonly statusCode?: number;
  readonly headers?: Record<string, string | string[] | undefined>;
  on(event: "data", listener: (chunk: Uint8Array | string) => void): unknown;
  on(event: "end" | "close" | "error", listener: () => void): unknown;
  destroy(): void;
}

/** The `ws` package's socket is also an EventEmitter. */
interface EmitterLike {
  once(event: "unexpected-response", listener: (request: unknown, response: ResponseLike) => void): unknown;
}

// The runtime's lib is ES2022 only (no DOM, no Node types): the globals both environments have.
declare class TextDecoder {
  decode(input?: Uint8Array, options?: { stream?: boolean }): string;
}
const timers = globalThis as unknown as {
  setTimeout(handler: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
};

/** How long the body of a refusal may take to arrive before the refusal is reported with what came. */
const BODY_WAIT_MS = 5_000;

/**
 * If `socket` reports refused handshakes (the `ws` package does), calls
 * `refused` with the status, body and headers of one, then closes the socket
 * (whose `error` and `close` events follow).
 */
export function onRefusal(socket: object, close: () => void, refused: (error: HandshakeRefusedError) => void): void {
  const emitter = socket as Partial<EmitterLike>;
  if (typeof emitter.once !== "function") return;
  emitter.once("unexpected-response", (_request, response) => {
    readBody(response, (body) => {
      refused(new HandshakeRefusedError(response.statusCode ?? 0, body, response.headers ?? {}));
      close();
    });
  });
}

/** Reads at most `MAX_BODY` bytes of `response`, for at most `BODY_WAIT_MS`; calls `done` once. */
function readBody(response: ResponseLike, done: (body: string) => void): void {
  const decoder = new TextDecoder();
  let body = "";
  let bytes = 0;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    timers.clearTimeout(timer);
    response.destroy();
    done(body + decoder.decode());
  };
  const timer = timers.setTimeout(finish, BODY_WAIT_MS);
  response.on("data", (chunk) => {
    if (finished) return;
    const room = HandshakeRefusedError.MAX_BODY - bytes;
    const kept = chunk.length > room ? chunk.slice(0, room) : chunk;
    bytes += kept.length;
    body += typeof kept === "string" ? kept : decoder.decode(kept, { stream: true });
    if (bytes >= HandshakeRefusedError.MAX_BODY) finish();
  });
  response.on("end", finish);
  response.on("close", finish);
  response.on("error", finish);
}
