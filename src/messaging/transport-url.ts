/**
 * oslo.messaging transport URLs: `rabbit://user:pass@host1:5672,user:pass@host2:5672/vhost`
 * (oslo_messaging/transport.py TransportURL.parse). A host without credentials uses kombu's
 * default guest/guest; a missing vhost is RabbitMQ's `/`.
 */

export interface BrokerHost {
  hostname: string;
  port: number;
  username: string;
  password: string;
}

export interface TransportUrl {
  transport: string;
  hosts: BrokerHost[];
  /** Decoded virtual host name; '/' when the URL has none. */
  virtualHost: string;
  ssl: boolean;
  query: Record<string, string>;
}

export function parseTransportUrl(url: string): TransportUrl {
  const m = /^([a-z0-9+.-]+):\/\/([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?/i.exec(url.trim());
  if (!m) throw new Error('transport_url must look like rabbit://user:pass@host:port/vhost');
  const transport = m[1].toLowerCase().replace(/^kombu\+/, '');
  if (transport !== 'rabbit' && transport !== 'amqp' && transport !== 'amqps') {
    throw new Error(`unsupported transport ${m[1]}: only rabbit:// is implemented`);
  }
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(m[4] ?? '')) query[k] = v;
  const hosts: BrokerHost[] = [];
  for (const part of (m[2] ?? '').split(',')) {
    if (part === '') continue;
    const at = part.lastIndexOf('@');
    let hostport = part;
    let username = 'guest';
    let password = 'guest';
    if (at >= 0) {
      const cred = part.slice(0, at);
      hostport = part.slice(at + 1);
      const colon = cred.indexOf(':');
      username = decodeURIComponent(colon >= 0 ? cred.slice(0, colon) : cred);
      password = colon >= 0 ? decodeURIComponent(cred.slice(colon + 1)) : '';
    }
    let hostname = hostport;
    let port = 5672;
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostport);
    if (v6) {
      hostname = v6[1];
      if (v6[2]) port = parseInt(v6[2], 10);
    } else {
      const c = hostport.lastIndexOf(':');
      if (c >= 0) {
        hostname = hostport.slice(0, c);
        port = parseInt(hostport.slice(c + 1), 10);
      }
    }
    if (!Number.isFinite(port) || port <= 0 || port > 65535) throw new Error(`transport_url: bad port in ${hostport}`);
    hosts.push({ hostname: hostname || 'localhost', port, username, password });
  }
  if (hosts.length === 0) hosts.push({ hostname: 'localhost', port: 5672, username: 'guest', password: 'guest' });
  const vhostRaw = m[3] ?? '';
  const virtualHost = vhostRaw === '' ? '/' : decodeURIComponent(vhostRaw);
  const ssl = transport === 'amqps' || ['1', 'true', 'yes', 'on'].includes((query.ssl ?? '').toLowerCase());
  return { transport, hosts, virtualHost, ssl, query };
}

/** host:port list for logs (never credentials). */
export function describeHosts(u: TransportUrl): string {
  return u.hosts.map((h) => `${h.hostname}:${h.port}`).join(',');
}
