/**
 * TLS to the broker as impl_rabbit `_fetch_ssl_params` asks py-amqp for it: the client
 * certificate and key, the CA file the broker's chain must verify against (the system's CAs
 * without one) and an exact protocol version. py-amqp does not check the broker's host name
 * (oslo passes it no server_hostname), so neither do we: the chain is verified, the name is not.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions, SecureVersion } from 'node:tls';
import { MessagingOptionError } from './option-error.js';
import type { RabbitOptions } from './options.js';

export type TlsConnectOptions = Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'minVersion' | 'maxVersion' | 'checkServerIdentity' | 'rejectUnauthorized'>;

/** oslo's ssl_version names (lower-cased) as the one TLS version they pin; sslv23 negotiates. */
const PINNED_VERSIONS: Record<string, SecureVersion | null> = {
  tlsv1: 'TLSv1', tlsv1_1: 'TLSv1.1', tlsv1_2: 'TLSv1.2', sslv23: null,
};

type FileOption = 'ssl_ca_file' | 'ssl_cert_file' | 'ssl_key_file';

/** Reads the files now, so a missing one stops the service at start with its option's name. */
export function tlsConnectOptions(o: RabbitOptions, read: (path: string) => Buffer = readFileSync): TlsConnectOptions {
  const file = (option: FileOption): Buffer | undefined => {
    const path = o[option];
    if (!path) return undefined;
    try {
      return read(path);
    } catch (err) {
      throw new MessagingOptionError(option, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  const out: TlsConnectOptions = { rejectUnauthorized: true, checkServerIdentity: () => undefined };
  const ca = file('ssl_ca_file');
  if (ca) out.ca = ca;
  const cert = file('ssl_cert_file');
  if (cert) {
    out.cert = cert;
    // Python's load_cert_chain reads the key from the certificate file when no key file is given.
    out.key = file('ssl_key_file') ?? cert;
  }
  const pinned = o.ssl_version ? PINNED_VERSIONS[o.ssl_version.toLowerCase()] : null;
  if (pinned) {
    out.minVersion = pinned;
    out.maxVersion = pinned;
  }
  return out;
}
