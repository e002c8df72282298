/**
 * The broker side of the RPC layer: one publishing connection shared by the server (replies)
 * and the client (calls, casts), plus one listening connection per server and one for the
 * client's reply queue, as oslo.messaging keeps them (`_drivers/base.py`, impl_rabbit).
 */
import type { Logger } from '../common/log.js';
import { AmqpConnection, type ConnectionStatus } from './connection.js';
import type { MessagingOptions } from './options.js';
import { parseTransportUrl, describeHosts, type TransportUrl } from './transport-url.js';

export interface TransportStatus {
  /** True when every connection in use is up (what a /healthz reports). */
  connected: boolean;
  brokers: string;
  connections: ConnectionStatus[];
}

export class RpcTransport {
  readonly url: TransportUrl;
  private sendConn: AmqpConnection | null = null;
  private readonly listenConns = new Set<AmqpConnection>();
  private closed = false;

  constructor(readonly options: MessagingOptions, private readonly log: Logger) {
    this.url = parseTransportUrl(options.transport_url);
  }

  /** The shared publishing connection (started on first use). */
  sender(): AmqpConnection {
    if (this.closed) throw new Error('RPC transport closed');
    if (!this.sendConn) {
      this.sendConn = new AmqpConnection(this.url, this.options, this.log.child({ amqp: 'send' }), 'send');
      this.sendConn.start();
    }
    return this.sendConn;
  }

  /** A new listening connection; closed by its owner or with the transport. */
  listener(label: string): AmqpConnection {
    if (this.closed) throw new Error('RPC transport closed');
    const conn = new AmqpConnection(this.url, this.options, this.log.child({ amqp: label }), 'listen');
    this.listenConns.add(conn);
    conn.start();
    return conn;
  }

  async releaseListener(conn: AmqpConnection): Promise<void> {
    this.listenConns.delete(conn);
    await conn.close();
  }

  /** Resolves once the publishing connection is up (or rejects at `deadline`, epoch ms). */
  async waitConnected(deadline?: number): Promise<void> {
    await this.sender().whenConnected(deadline);
  }

  get connected(): boolean {
    return this.status().connected;
  }

  status(): TransportStatus {
    const connections: ConnectionStatus[] = [];
    if (this.sendConn) connections.push(this.sendConn.status());
    for (const c of this.listenConns) connections.push(c.status());
    return {
      connected: !this.closed && connections.length > 0 && connections.every((c) => c.connected),
      brokers: describeHosts(this.url),
      connections,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.listenConns, ...(this.sendConn ? [this.sendConn] : [])];
    this.listenConns.clear();
    await Promise.all(all.map((c) => c.close()));
  }
}
