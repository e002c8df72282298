/**
 * oslo.messaging transport URLs: `rabbit://user:pass@host1:5672,user:pass@host2:5672/vhost`
 * (oslo_messaging/transport.py TransportURL.parse). A host without credentials uses kombu's
 * default guest/guest; a missing vhost is RabbitMQ's `/`. The query holds option overrides
 * (`?ssl=true`), applied by options.ts. A URL that cannot be used throws
 * InvalidTransportURL, whose message never repeats the credentials.
 */
import { InvalidTransportURL } from './errors.js';

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
  query: Record<string, string>;
}

export function parseTransportUrl(url: string): TransportUrl {
  const m = /^([a-z0-9+.-]+):\/\/([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?/i.exec(url.trim());
  if (!m) throw new InvalidTransportURL('must look like rabbit://user:pass@host:port/vhost');
  const transport = m[1].toLowerCase().replace(/^kombu\+/, '');
  if (transport !== 'rabbit' && transport !== 'amqp' && transport !== 'amqps') {
    throw new InvalidTransportURL(`unsupported transport ${m[1]}: only rabbit:// is implemented`);
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
      username = decode(colon >= 0 ? cred.slice(0, colon) : cred, 'user name');
      password = colon >= 0 ? decode(cred.slice(colon + 1), 'password') : '';
    }
    let hostname = hostport;
    let port = 5672;
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostport);
    if (v6) {
      hostname = v6[1];
      if (v6[2]) port = parsePort(v6[2], hostport);
    } else {
      const c = hostport.lastIndexOf(':');
      if (c >= 0) {
        hostname = hostport.slice(0, c);
        port = parsePort(hostport.slice(c + 1), hostport);
      }
    }
    hosts.push({ hostname: hostname || 'localhost', port, username, password });
  }
  if (hosts.length === 0) hosts.push({ hostname: 'localhost', port: 5672, username: 'guest', password: 'guest' });
  const vhostRaw = m[3] ?? '';
  const virtualHost = vhostRaw === '' ? '/' : decode(vhostRaw, 'virtual host');
  return { transport, hosts, virtualHost, query };
}

function parsePort(text: string, hostport: string): number {
  const port = /^\d{1,5}$/.test(text) ? parseInt(text, 10) : NaN;
  if (!(port > 0 && port <= 65535)) throw new InvalidTransportURL(`bad port in ${hostport}`);
  return port;
}

/** decodeURIComponent, failing with the part's name but not its (possibly secret) text. */
function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new InvalidTransportURL(`bad percent-encoding in the ${what}`);
  }
}

/** host:port list for logs (never credentials). */
export function describeHosts(u: TransportUrl): string {
  return u.hosts.map((h) => `${h.hostname}:${h.port}`).join(',');
}
