/**
 * TLS to a real RabbitMQ: a node of the test's own with an AMQPS listener whose certificate a
 * throw-away CA (openssl) signed, which asks every client for a certificate of that CA
 * (verify_peer, fail_if_no_peer_cert). With ssl = true and the ssl_* files our server and
 * client connect, present the client certificate and serve a call; pinned to TLSv1_2 the
 * broker reports that version; with rabbit_login_method = EXTERNAL the certificate is the login;
 * without ssl_ca_file the broker's certificate is not trusted.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AmqpConnection, NotConnectedError } from '../../../src/messaging/connection.js';
import { uuidHex } from '../../../src/messaging/dedup.js';
import { messagingOptions, type RabbitOptions } from '../../../src/messaging/options.js';
import type { RpcRuntime } from '../../../src/messaging/runtime.js';
import { parseTransportUrl } from '../../../src/messaging/transport-url.js';
import type { Endpoint } from '../../../src/messaging/types.js';
import { adminContext } from '../../../src/nova-driver/context.js';
import { connectComputeRpc } from '../../../src/nova-driver/messaging-config.js';
import { captureLogs } from '../../helpers/log-capture.js';
import { PrivateRabbitMQ } from '../../helpers/private-rabbitmq.js';

const run = promisify(execFile);

/** A CA, a broker certificate for localhost/127.0.0.1 and a client certificate, all PEM. */
async function makeCertificates(dir: string): Promise<Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string>> {
  const f = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): Promise<unknown> => run('openssl', args, { cwd: dir });
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=nctest CA', '-keyout', f('ca.key'), '-out', f('ca.pem'));
  for (const [who, subject, ext] of [
    ['server', '/CN=localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth'],
    ['client', '/CN=nctest-client', 'extendedKeyUsage=clientAuth'],
  ]) {
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`));
    await run('sh', ['-c', `printf '%b\\n' "$1" > "$2"`, 'sh', ext, f(`${who}.ext`)]);
    await openssl('x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2',
      '-extfile', f(`${who}.ext`), '-out', f(`${who}.pem`));
  }
  // The broker runs as the rabbitmq user: it must read its own files.
  chmodSync(dir, 0o755);
  for (const n of ['ca.pem', 'server.pem', 'server.key']) chmodSync(f(n), 0o644);
  return { ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

describe('rpc: TLS to RabbitMQ (ssl, ssl_ca_file, ssl_cert_file, ssl_key_file, ssl_version)', function () {
  this.timeout(600_000);
  const logs = captureLogs();
  let certDir = '';
  let certs: Awaited<ReturnType<typeof makeCertificates>>;
  let broker: PrivateRabbitMQ;
  let rpc: RpcRuntime | undefined;
  const topic = `nc_tls_${uuidHex().slice(0, 8)}`;
  const endpoint: Endpoint = { namespace: null, version: '6.1', handlers: { async echo(_c, args) { return args; } } };

  before(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'nctest-tls-'));
    certs = await makeCertificates(certDir);
    broker = new PrivateRabbitMQ({ caFile: certs.ca, certFile: certs.serverCert, keyFile: certs.serverKey, external: true });
    await broker.start();
    await broker.addUser('nctest-client', `unused-${uuidHex()}`);
  });

  after(async () => {
    await rpc?.close();
    await broker?.destroy();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  it('connects with the client certificate over TLSv1.2 and serves a call', async () => {
    const rabbit: Partial<RabbitOptions> = { ssl: true, ssl_ca_file: certs.ca, ssl_cert_file: certs.clientCert, ssl_key_file: certs.clientKey, ssl_version: 'TLSv1_2' };
    rpc = await connectComputeRpc({ transport_url: broker.tlsUrl, rabbit }, logs.log);
    await rpc.serve({ topic, server: 'tlshost' }, [endpoint]);
    assert.deepEqual(await rpc.client.call({ topic, server: 'tlshost', version: '6.0' }, adminContext(), 'echo', { over: 'tls' }), { over: 'tls' });
    const ssl = await broker.column('list_connections', 'ssl');
    assert.ok(ssl.length >= 3 && ssl.every((s) => s === 'true'), ssl.join(' '));
    assert.ok((await broker.column('list_connections', 'ssl_protocol')).every((p) => /tlsv1\.2/i.test(p)));
    assert.ok((await broker.column('list_connections', 'peer_cert_subject')).every((s) => /CN=nctest-client/.test(s)));
  });

  it('rabbit_login_method = EXTERNAL logs in as the client certificate\'s name, with no password in the URL', async () => {
    const rabbit: Partial<RabbitOptions> = { ssl: true, ssl_ca_file: certs.ca, ssl_cert_file: certs.clientCert, ssl_key_file: certs.clientKey, rabbit_login_method: 'EXTERNAL' };
    const external = await connectComputeRpc({ transport_url: `rabbit://127.0.0.1:${broker.tlsPort}/${broker.vhost}`, rabbit }, logs.log);
    try {
      await external.serve({ topic, server: 'external' }, [endpoint]);
      assert.deepEqual(await external.client.call({ topic, server: 'external', version: '6.0' }, adminContext(), 'echo', { as: 'cert' }), { as: 'cert' });
      const rows = (await broker.ctl(['list_connections', '-p', broker.vhost, '--no-table-headers', '--quiet', 'user', 'auth_mechanism']))
        .split('\n').filter((l) => l.trim()).map((l) => l.trim().split('\t'));
      const byCert = rows.filter(([user]) => user === 'nctest-client');
      assert.ok(byCert.length >= 3 && byCert.every(([, mechanism]) => mechanism === 'EXTERNAL'), JSON.stringify(rows));
    } finally {
      await external.close();
    }
  });

  it('does not trust the broker without ssl_ca_file (the system CAs do not know it)', async () => {
    const opts = messagingOptions({ transport_url: broker.tlsUrl, rabbit: { ssl: true, ssl_cert_file: certs.clientCert, ssl_key_file: certs.clientKey } });
    const conn = new AmqpConnection(parseTransportUrl(opts.transport_url), opts, logs.log, 'send');
    try {
      await assert.rejects(conn.whenConnected(Date.now() + 5_000),
        (err: unknown) => err instanceof NotConnectedError && /self[- ]signed certificate|unable to get local issuer certificate/i.test(err.message));
    } finally {
      await conn.close();
    }
  });
});
