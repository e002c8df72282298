/**
 * A TCP proxy on 127.0.0.1 in front of a real server (RabbitMQ), for tests of a peer that
 * stops answering or goes away while the real one stays untouched for everyone else:
 * `hold()` forwards nothing more while every connection stays open (a broker that answers
 * nothing; with 'to-server', one that hears nothing more but still sends), `cut()` drops every
 * connection and refuses new ones (a broker that died), `listen()` again brings it back on the
 * same port.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private server: Server | null = null;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private held: 'none' | 'to-server' | 'both' = 'none';
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  /** Listens (again) on `port`; the first time on a free one. */
  async listen(port = this.port): Promise<void> {
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.held = 'none';
    this.port = (server.address() as AddressInfo).port;
  }

  get up(): boolean {
    return this.server !== null;
  }

  /** Connections through the proxy that are open now. */
  get connections(): number {
    return this.pairs.size;
  }

  hold(direction: 'to-server' | 'both' = 'both'): void {
    this.held = direction;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const { client, upstream } of [...this.pairs]) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    await closed;
  }

  private accept(client: Socket): void {
    const upstream = connect(this.target.port, this.target.host);
    const pair = { client, upstream };
    this.pairs.add(pair);
    client.on('data', (data: Buffer) => { if (this.held === 'none') upstream.write(data); });
    upstream.on('data', (data: Buffer) => { if (this.held !== 'both') client.write(data); });
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
