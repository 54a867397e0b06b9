// A TCP proxy the tests place between a client and a server, to cut the
// connection in the middle of traffic: a clean cut (FIN both ways, no
// WebSocket close frame) or a silent freeze (nothing passes any more, no FIN,
// no close), and to refuse new connections for a while.

import { createConnection, createServer, type Server, type Socket } from "node:net";

interface Link {
  client: Socket;
  upstream: Socket;
  frozen: boolean;
}

export class CutProxy {
  readonly #server: Server;
  readonly #upstreamPort: number;
  readonly #links = new Set<Link>();
  #blocked = false;
  /** Connections accepted (refused ones included). */
  accepted = 0;

  private constructor(server: Server, upstreamPort: number) {
    this.#server = server;
    this.#upstreamPort = upstreamPort;
  }

  /** A proxy on a free loopback port forwarding to `127.0.0.1:upstreamPort`. */
  static async start(upstreamPort: number): Promise<CutProxy> {
    const server = createServer();
    const proxy = new CutProxy(server, upstreamPort);
    server.on("connection", (client) => proxy.#accept(client));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get port(): number {
    const address = this.#server.address();
    if (address === null || typeof address === "string") throw new Error("the proxy is not listening");
    return address.port;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  /** While blocked, new connections are reset at once (the client's attempts fail). */
  block(blocked: boolean): void {
    this.#blocked = blocked;
  }

  /** Clean cut of every current connection: FIN to both ends, then the sockets go. */
  cut(): void {
    for (const link of this.#links) {
      this.#links.delete(link);
      link.client.end();
      link.upstream.end();
      link.client.destroySoon();
      link.upstream.destroySoon();
    }
  }

  /** Silent freeze of every current connection: nothing passes any more, neither data nor FIN. */
  freeze(): void {
    for (const link of this.#links) link.frozen = true;
  }

  /** Closes everything (frozen connections included) and stops listening. */
  async stop(): Promise<void> {
    for (const link of this.#links) {
      link.client.destroy();
      link.upstream.destroy();
    }
    this.#links.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.accepted++;
    if (this.#blocked) {
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection(this.#upstreamPort, "127.0.0.1");
    const link: Link = { client, upstream, frozen: false };
    this.#links.add(link);
    const pipe = (from: Socket, to: Socket): void => {
      from.on("data", (chunk) => {
        if (!link.frozen) to.write(chunk);
      });
      from.on("end", () => {
        if (!link.frozen) to.end();
      });
      from.on("close", () => {
        if (link.frozen) return; // a frozen link tells the other end nothing
        this.#links.delete(link);
        to.destroy();
      });
      from.on("error", () => {});
    };
    pipe(client, upstream);
    pipe(upstream, client);
  }
}
