/**
 * A TCP proxy on 127.0.0.1 in front of a real server, for tests of a peer that stops answering
 * or goes away: `hold()` stops forwarding either way while every socket stays open (a broker
 * that answers nothing), `cut()` ends the client side of every connection (a broker that goes
 * away) and drops the server side.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private readonly server: Server;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private held = false;

  private constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((client) => this.accept(client));
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    const addr = this.server.address();
    if (addr === null || typeof addr === 'string') throw new Error('proxy not listening');
    return addr.port;
  }

  /** Connections through the proxy that are open now. */
  get connections(): number {
    return this.pairs.size;
  }

  hold(): void {
    this.held = true;
  }

  cut(): void {
    for (const { client, upstream } of this.pairs) {
      client.end();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const upstream = connect(this.target.port, this.target.host);
    const pair = { client, upstream };
    this.pairs.add(pair);
    const forward = (to: Socket) => (data: Buffer): void => {
      if (!this.held) to.write(data);
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
    const drop = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', drop);
      s.on('close', drop);
    }
  }
}
