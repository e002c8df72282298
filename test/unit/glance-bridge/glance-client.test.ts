/**
 * GlanceClient and token sources against a small in-process HTTP server playing Keystone and
 * Glance (no real services).
 */
import { strict as assert } from 'node:assert';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { silentLogger } from '../../../src/common/log.js';
import type { KeystoneAuthGroup } from '../../../src/config/types.js';
import { GlanceError, ImageNotFound } from '../../../src/glance-bridge/errors.js';
import { GlanceClient } from '../../../src/glance-bridge/glance-client.js';
import { KeystoneSession } from '../../../src/glance-bridge/keystone.js';
import {
  normalizeImageEndpoint, ServiceTokenSource, UserTokenSource, userTokenSourceFromContext,
} from '../../../src/glance-bridge/token-source.js';
import { collect } from './helpers.js';

interface Seen { method: string; url: string; headers: IncomingMessage['headers']; body: Buffer }

class FakeCloud {
  server!: Server;
  base = '';
  seen: Seen[] = [];
  tokens = 0;
  /** Tokens Glance accepts. */
  valid = new Set<string>();
  handlers = new Map<string, (req: Seen, res: ServerResponse) => void>();

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const s: Seen = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) };
        if (s.url === '/v3/auth/tokens') {
          const id = `tok-${++this.tokens}`;
          this.valid.add(id);
          res.writeHead(201, { 'X-Subject-Token': id, 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ token: { expires_at: new Date(Date.now() + 3600_000).toISOString(), catalog: [
            { type: 'image', endpoints: [{ interface: 'public', region_id: 'RegionOne', url: `${this.base}/v2/` }] },
          ] } }));
          return;
        }
        this.seen.push(s);
        if (!this.valid.has(String(s.headers['x-auth-token']))) {
          res.writeHead(401, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ error: { message: 'The request you have made requires authentication.' } }));
          return;
        }
        const h = this.handlers.get(`${s.method} ${s.url}`);
        if (h) { h(s, res); return; }
        res.writeHead(404, { 'Content-Type': 'text/html' });
        res.end('<html><body><h1>404 Not Found</h1>No image found with ID x</body></html>');
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  session(): KeystoneSession {
    const auth: KeystoneAuthGroup = {
      auth_type: 'password', auth_url: `${this.base}/v3`, username: 'nova', password: 'p', project_name: 'service',
      valid_interfaces: ['internal', 'public'], timeout: 5,
    };
    return new KeystoneSession(auth, silentLogger());
  }
}

describe('glance-bridge token sources', () => {
  it('strip /v2 from Glance endpoints', () => {
    assert.equal(normalizeImageEndpoint('http://g:9292/v2/'), 'http://g:9292');
    assert.equal(normalizeImageEndpoint('http://g:9292/v2.1'), 'http://g:9292');
    assert.equal(normalizeImageEndpoint('http://g/image/'), 'http://g/image');
  });

  it('read the user token and v2 catalog of an RPC context', async () => {
    const ctx = {
      _context_auth_token: 'user-token',
      _context_service_catalog: [
        { type: 'placement', name: 'placement', endpoints: [{ region: 'RegionOne', publicURL: 'http://p' }] },
        { type: 'image', name: 'glance', endpoints: [
          { region: 'Other', publicURL: 'http://other:9292', internalURL: 'http://other-int:9292' },
          { region: 'RegionOne', publicURL: 'http://pub:9292/v2', internalURL: 'http://int:9292/v2/', adminURL: 'http://adm:9292' },
        ] },
      ],
    };
    const s = userTokenSourceFromContext(ctx, { regionName: 'RegionOne' });
    assert.equal(await s.imageEndpoint(), 'http://int:9292');
    assert.deepEqual(await s.authHeaders(), { 'X-Auth-Token': 'user-token' });
    assert.equal(s.unauthorized(), false, 'a user token cannot be renewed');
    assert.equal(await userTokenSourceFromContext(ctx, { regionName: 'RegionOne', interfaces: ['public'] }).imageEndpoint(), 'http://pub:9292');
    assert.equal(await userTokenSourceFromContext({ auth_token: 't', service_catalog: ctx._context_service_catalog }).imageEndpoint(), 'http://other-int:9292');
    assert.throws(() => userTokenSourceFromContext({ _context_service_catalog: [] }), /no auth token/);
    await assert.rejects(userTokenSourceFromContext({ _context_auth_token: 't', _context_service_catalog: [] }).imageEndpoint(), /no image service/);
  });
});

describe('glance-bridge GlanceClient (fake Glance over HTTP)', () => {
  const cloud = new FakeCloud();
  before(() => cloud.start());
  after(() => cloud.stop());
  beforeEach(() => { cloud.seen = []; cloud.handlers.clear(); });

  it('service token: catalog endpoint without /v2, token renewed and the call retried once after a 401', async () => {
    const session = cloud.session();
    const glance = new GlanceClient(new ServiceTokenSource(session));
    cloud.handlers.set('GET /v2/images/abc', (_s, res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('{"id":"abc","status":"active"}'); });
    assert.equal((await glance.getImage('abc')).status, 'active');
    cloud.valid.clear(); // Keystone revoked the cached token
    assert.equal((await glance.getImage('abc')).id, 'abc');
    assert.deepEqual(cloud.seen.map((s) => s.headers['x-auth-token']), ['tok-1', 'tok-1', 'tok-2']);
    cloud.valid.clear();
    cloud.handlers.set('GET /v2/images/abc', (_s, res) => { cloud.valid.clear(); res.writeHead(401); res.end(); });
    await assert.rejects(glance.getImage('abc'), (e: unknown) => e instanceof GlanceError && e.statusCode === 401 && /service token was rejected/.test(e.message));
  });

  it('user token: a 401 is not retried and says the token may have expired', async () => {
    const glance = new GlanceClient(new UserTokenSource({ authToken: 'expired', serviceCatalog: [{ type: 'image', endpoints: [{ publicURL: `${cloud.base}/v2` }] }], interfaces: ['public'] }));
    await assert.rejects(glance.getImage('abc'), /show image abc: Glance answered HTTP 401 \(the user token was rejected; it may have expired\): The request you have made requires authentication/);
    assert.equal(cloud.seen.length, 1);
  });

  it('user token with a service token (X-Service-Token), 404 -> ImageNotFound, readable HTML errors', async () => {
    const session = cloud.session();
    const token = (await session.getToken()).id;
    const glance = new GlanceClient(new UserTokenSource({ authToken: token, serviceCatalog: [{ type: 'image', endpoints: [{ internalURL: cloud.base }] }], serviceSession: session }));
    const err = await glance.getImage('gone').catch((e: unknown) => e);
    assert.ok(err instanceof ImageNotFound);
    assert.equal(err.imageId, 'gone');
    assert.equal(cloud.seen[0].headers['x-service-token'], token);
    cloud.handlers.set('DELETE /v2/images/p', (_s, res) => { res.writeHead(403, { 'Content-Type': 'text/html' }); res.end('<html><title>403 Forbidden</title><body>Image p is protected</body></html>'); });
    await assert.rejects(glance.deleteImage('p'), /delete image p: Glance answered HTTP 403: 403 Forbidden Image p is protected/);
    await glance.deleteImage('gone'); // already gone is fine
  });

  it('patch sends the JSON-patch media type; upload streams octet-stream and expects 204', async () => {
    const session = cloud.session();
    const glance = new GlanceClient(new ServiceTokenSource(session));
    cloud.handlers.set('PATCH /v2/images/q', (s, res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(JSON.stringify({ id: 'q', status: 'queued', echo: JSON.parse(s.body.toString()) })); });
    const patched = await glance.patch('q', [{ op: 'add', path: '/disk_format', value: 'raw' }]);
    assert.deepEqual(patched.echo, [{ op: 'add', path: '/disk_format', value: 'raw' }]);
    assert.equal(cloud.seen[0].headers['content-type'], 'application/openstack-images-v2.1-json-patch');
    cloud.handlers.set('PUT /v2/images/q/file', (_s, res) => { res.writeHead(204); res.end(); });
    const data = Buffer.alloc(300_000, 7);
    await glance.upload('q', Readable.from([data.subarray(0, 100_000), data.subarray(100_000)]));
    const put = cloud.seen[1];
    assert.equal(put.headers['content-type'], 'application/octet-stream');
    assert.equal(put.headers['transfer-encoding'], 'chunked');
    assert.ok(put.body.equals(data));
    await glance.upload('q', Readable.from([Buffer.from('abc')]), 3);
    assert.equal(cloud.seen[2].headers['content-length'], '3');
  });

  it('download streams the body with Content-Length and Content-MD5; a stalled body hits the idle timeout', async () => {
    const session = cloud.session();
    const glance = new GlanceClient(new ServiceTokenSource(session), { idleTimeoutMs: 300 });
    cloud.handlers.set('GET /v2/images/d/file', (_s, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': '6', 'Content-MD5': 'e80b5017098950fc58aad83c8c14978e' });
      res.end('abcdef');
    });
    const dl = await glance.download('d');
    assert.equal(dl.contentLength, 6);
    assert.equal(dl.contentMd5, 'e80b5017098950fc58aad83c8c14978e');
    assert.equal((await collect(dl.body)).toString(), 'abcdef');

    cloud.handlers.set('GET /v2/images/slow/file', (_s, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': '10' });
      res.write('abc'); // then nothing
    });
    const slow = await glance.download('slow');
    const started = Date.now();
    await assert.rejects(collect(slow.body), /download image slow: no data from Glance for 0.3 s/);
    assert.ok(Date.now() - started < 2000);

    cloud.handlers.set('GET /v2/images/empty/file', (_s, res) => { res.writeHead(204); res.end(); });
    await assert.rejects(glance.download('empty'), /holds no data/);
  });

  it('JSON calls have a total timeout', async () => {
    const session = cloud.session();
    const glance = new GlanceClient(new ServiceTokenSource(session), { timeoutMs: 200 });
    cloud.handlers.set('GET /v2/images/hang', () => { /* never answers */ });
    await assert.rejects(glance.getImage('hang'), /show image hang: no answer within 0.2 s/);
  });
});
