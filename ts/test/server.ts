// The Rust example server (`cargo run --example server`) as a child process,
// for the tests: started on free ports, stopped through its own handle.

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root (this file runs from ts/build/ts/test/). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");

/** The server binary: $RPC_EXAMPLE_SERVER, else the debug build in the target directory. */
export function serverBinary(): string {
  const fromEnv = process.env["RPC_EXAMPLE_SERVER"];
  if (fromEnv) return fromEnv;
  const target = process.env["CARGO_TARGET_DIR"] ?? join(repoRoot, "target");
  const path = join(target, "debug", "examples", "server");
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: build it with \`cargo build -p examples --example server\``);
  }
  return path;
}

/** A running example server. */
export interface ExampleServer {
  /** The page: `http://127.0.0.1:PORT/`. */
  pageUrl: string;
  /** The JSON-RPC WebSocket: `ws://127.0.0.1:PORT/`. */
  wsUrl: string;
  /** Everything the server has printed on stdout so far. */
  output(): string;
  /** Resolves once stdout contains `text` (rejects if the server exits first). */
  waitForOutput(text: string): Promise<void>;
  /** Kills the server (through its handle) and waits until it has exited. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcessWithoutNullStreams>();
// Should a test fail without stopping its server, the server still dies with us.
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/**
 * Starts the server on free ports (or its WebSocket on `wsPort`, e.g. the port
 * of a server that was stopped) and reads its URLs from its first lines.
 */
export function startServer(options: { wsPort?: number } = {}): Promise<ExampleServer> {
  // Port 0: any free port. --exit-on-eof: it also stops if our end of its stdin closes.
  const args = ["0", "--exit-on-eof"];
  if (options.wsPort !== undefined) args.push("--ws-port", String(options.wsPort));
  const child = spawn(serverBinary(), args, { stdio: ["pipe", "pipe", "pipe"] });
  running.add(child);
  let stdout = "";
  let stderr = "";
  const exited = new Promise<void>((resolveExit) => {
    child.on("exit", () => {
      running.delete(child);
      resolveExit();
    });
  });
  const waiters: { text: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  const checkWaiters = (): void => {
    for (const w of [...waiters]) {
      if (stdout.includes(w.text)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    stdout += chunk;
    checkWaiters();
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderr += chunk;
  });
  void exited.then(() => {
    for (const w of waiters.splice(0)) {
      w.reject(new Error(`the server exited before printing ${JSON.stringify(w.text)}:\n${stdout}${stderr}`));
    }
  });

  const server: ExampleServer = {
    pageUrl: "",
    wsUrl: "",
    output: () => stdout,
    waitForOutput: (text) =>
      new Promise<void>((resolveWait, rejectWait) => {
        if (stdout.includes(text)) return resolveWait();
        if (child.exitCode !== null || child.signalCode !== null) {
          return rejectWait(new Error(`the server has exited:\n${stdout}${stderr}`));
        }
        waiters.push({ text, resolve: resolveWait, reject: rejectWait });
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
  return server.waitForOutput("websocket: ").then(
    () =>
      server.waitForOutput("\n(open").then(() => {
        const page = /^page: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(stdout);
        const ws = /^websocket: (ws:\/\/127\.0\.0\.1:\d+\/)$/m.exec(stdout);
        if (!page?.[1] || !ws?.[1]) throw new Error(`unexpected server output:\n${stdout}`);
        server.pageUrl = page[1];
        server.wsUrl = ws[1];
        return server;
      }),
    async (e: unknown) => {
      await server.stop();
      throw e;
    },
  );
}
