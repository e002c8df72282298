/**
 * Bad input published straight into our server's queue with amqplib: every message is logged
 * (pino JSON, request id as a field, never the token), calls get a failure reply whenever
 * `_msg_id` and `_reply_q` can be read, and the server keeps answering good calls.
 */
import { strict as assert } from 'node:assert';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { encodeBody } from '../../../src/messaging/envelope.js';
import { uuidHex } from '../../../src/messaging/dedup.js';
import { packContext } from '../../../src/messaging/context.js';
import { adminContext } from '../../../src/nova-driver/context.js';
import type { RpcRuntime } from '../../../src/messaging/runtime.js';
import { connectComputeRpc } from '../../../src/nova-driver/messaging-config.js';
import type { RpcServer } from '../../../src/messaging/server.js';
import type { Endpoint } from '../../../src/messaging/types.js';
import { captureLogs } from '../../helpers/log-capture.js';
import { ensureRabbitMQ, TEST_TRANSPORT_URL } from '../../helpers/rabbitmq.js';

const TOKEN = 'TOPSECRET-token-value';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Reply { result: unknown; failure: string | null; ending: boolean; _msg_id: string }

describe('rpc server: bad input never stops it', function () {
  this.timeout(120_000);
  const logs = captureLogs();
  const topic = `nc_bad_${uuidHex().slice(0, 8)}`;
  const host = 'badhost';
  let rpc: RpcRuntime;
  let server: RpcServer;
  let raw: ChannelModel;
  let ch: Channel;
  let replyQ: string;
  const replies = new Map<string, Reply[]>();
  const ran: string[] = [];

  const endpoint: Endpoint = {
    namespace: null,
    version: '6.1',
    handlers: {
      async echo(_c, args) { ran.push('echo'); return args; },
      async strict(_c, args) { ran.push('strict'); return args.n; },
      async throws_plain() { ran.push('throws_plain'); throw new Error('plain JavaScript error'); },
      async count() { ran.push('count'); },
    },
    schemas: {
      strict: { type: 'object', required: ['n'], properties: { n: { type: 'integer', minimum: 0 } }, additionalProperties: false },
    },
  };

  function ctx(): Record<string, unknown> {
    return adminContext({ auth_token: TOKEN });
  }

  function request(method: string, args: unknown, call: boolean, extra: Record<string, unknown> = {}): { msg: Record<string, unknown>; msgId: string; requestId: string } {
    const c = ctx();
    const msgId = uuidHex();
    const msg: Record<string, unknown> = { method, args, version: '6.0', ...extra };
    if (call) Object.assign(msg, { _msg_id: msgId, _reply_q: replyQ, _timeout: null });
    msg._unique_id = uuidHex();
    packContext(msg, c);
    return { msg, msgId, requestId: String(c.request_id) };
  }

  function publish(body: Buffer): void {
    ch.publish('nova', `${topic}.${host}`, body, { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2 });
  }

  async function replyFor(msgId: string, timeoutMs = 10_000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const r = replies.get(msgId)?.find((x) => x.ending);
      if (r) return r;
      await sleep(50);
    }
    throw new Error(`no reply for ${msgId}`);
  }

  async function logged(pred: (l: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const hit = logs.lines.find(pred);
      if (hit) return hit;
      await sleep(50);
    }
    throw new Error('expected log line not written');
  }

  function failureOf(r: Reply): { class: string; module: string; message: string } {
    assert.equal(r.result, null);
    assert.equal(typeof r.failure, 'string');
    return JSON.parse(String(r.failure)) as { class: string; module: string; message: string };
  }

  before(async () => {
    await ensureRabbitMQ();
    rpc = await connectComputeRpc({ transport_url: TEST_TRANSPORT_URL, rabbit: { kombu_missing_consumer_retry_timeout: 2 } }, logs.log);
    server = await rpc.serve({ topic, server: host }, [endpoint]);
    raw = await connect(TEST_TRANSPORT_URL.replace('rabbit://', 'amqp://'));
    ch = await raw.createChannel();
    replyQ = `reply_${uuidHex()}`;
    await ch.assertQueue(replyQ, { exclusive: true, autoDelete: true });
    await ch.consume(replyQ, (m) => {
      if (!m) return;
      const outer = JSON.parse(m.content.toString()) as { 'oslo.message': string };
      const r = JSON.parse(outer['oslo.message']) as Reply;
      replies.set(r._msg_id, [...(replies.get(r._msg_id) ?? []), r]);
    }, { noAck: true });
  });

  after(async () => {
    await raw?.close().catch(() => undefined);
    await rpc?.close();
  });

  it('logs a body that is not JSON and carries on', async () => {
    publish(Buffer.from('this is { not json'));
    const line = await logged((l) => l.msg === 'malformed RPC message' && /not JSON/.test(String(l.reason)));
    assert.equal(line.level, 50);
    assert.match(String(line.body_preview), /this is \{ not json/);
    // A broken body that carries a token, plain and inside an escaped inner message.
    publish(Buffer.from(`{"_context_auth_token": "${TOKEN}", "oslo.message": "{\\"_context_auth_token\\": \\"${TOKEN}\\"`));
    const withToken = await logged((l) => l.msg === 'malformed RPC message' && /_context_auth_token/.test(String(l.body_preview)));
    assert.ok(!String(withToken.body_preview).includes(TOKEN), String(withToken.body_preview));
  });

  it('answers a call in an envelope of another version with UnsupportedRpcEnvelopeVersion', async () => {
    const { msg, msgId, requestId } = request('echo', { a: 1 }, true);
    publish(Buffer.from(JSON.stringify({ 'oslo.version': '3.0', 'oslo.message': JSON.stringify(msg) })));
    const f = failureOf(await replyFor(msgId));
    assert.equal(f.class, 'UnsupportedRpcEnvelopeVersion');
    assert.equal(f.module, 'oslo_messaging._drivers.common');
    const line = await logged((l) => l.msg === 'malformed RPC message' && l.msg_id === msgId);
    assert.equal(line.request_id, requestId);
    assert.equal(line.error_class, 'UnsupportedRpcEnvelopeVersion');
  });

  it('logs an envelope whose inner message is not JSON', async () => {
    publish(Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': '{"method": "echo", "_msg_id": ' })));
    await logged((l) => l.msg === 'malformed RPC message' && /oslo.message is not JSON/.test(String(l.reason)));
  });

  it('answers an unknown method with NoSuchMethod, and only logs it for a cast', async () => {
    const { msg, msgId, requestId } = request('no_such_method', {}, true);
    publish(encodeBody(msg));
    const f = failureOf(await replyFor(msgId));
    assert.deepEqual([f.class, f.module], ['NoSuchMethod', 'oslo_messaging.rpc.dispatcher']);
    const line = await logged((l) => l.msg === 'RPC handler failed' && l.msg_id === msgId);
    assert.equal(line.request_id, requestId);
    const cast = request('no_such_cast', {}, false);
    publish(encodeBody(cast.msg));
    await logged((l) => l.msg === 'RPC handler failed' && l.request_id === cast.requestId && l.kind === 'cast');
  });

  it('answers args that fail the method schema with builtins.ValueError without running the handler', async () => {
    for (const bad of [{ n: -1 }, { n: 'x' }, {}, { n: 1, extra: true }]) {
      const { msg, msgId } = request('strict', bad, true);
      publish(encodeBody(msg));
      const f = failureOf(await replyFor(msgId));
      assert.deepEqual([f.class, f.module], ['ValueError', 'builtins'], JSON.stringify(bad));
      assert.match(f.message, /Invalid arguments for RPC method strict/);
    }
    assert.ok(!ran.includes('strict'));
    const { msg, msgId } = request('strict', { n: 3 }, true);
    publish(encodeBody(msg));
    assert.equal((await replyFor(msgId)).result, 3);
  });

  it('answers args that are not an object, or a message without a method, with ValueError', async () => {
    const a = request('echo', [1, 2], true);
    publish(encodeBody(a.msg));
    assert.equal(failureOf(await replyFor(a.msgId)).class, 'ValueError');
    const b = request('echo', {}, true);
    delete b.msg.method;
    publish(encodeBody(b.msg));
    assert.equal(failureOf(await replyFor(b.msgId)).class, 'ValueError');
    await logged((l) => l.msg === 'malformed RPC message' && l.msg_id === b.msgId);
  });

  it('serializes a plain JavaScript error from a handler as nova.exception.NovaException, logged with its instance', async () => {
    const instance = '0c2d2b8e-61c5-4c1e-9d6a-00000000b4d1';
    const { msg, msgId, requestId } = request('throws_plain', { instance_uuid: instance }, true);
    publish(encodeBody(msg));
    const f = failureOf(await replyFor(msgId));
    assert.deepEqual([f.class, f.module], ['NovaException', 'nova.exception']);
    assert.match(f.message, /plain JavaScript error/);
    const line = await logged((l) => l.msg === 'Exception during message handling' && l.msg_id === msgId);
    // request_id from the context (messaging), instance from the compute service's describeCall hook
    assert.deepEqual([line.request_id, line.instance, line.method], [requestId, instance, 'throws_plain']);
  });

  it('drops a message whose _unique_id it has just seen', async () => {
    const before = ran.filter((m) => m === 'count').length;
    const { msg, requestId } = request('count', {}, false);
    publish(encodeBody(msg));
    publish(encodeBody(msg));
    await logged((l) => l.msg === 'ignoring duplicate message' && l.request_id === requestId);
    await sleep(300);
    assert.equal(ran.filter((m) => m === 'count').length, before + 1);
  });

  it('gives up on a reply whose queue is gone, after the retry timeout, without harm', async () => {
    const { msg, msgId } = request('echo', { x: 1 }, true);
    msg._reply_q = `reply_${uuidHex()}`; // nobody declared it
    publish(encodeBody(msg));
    await logged((l) => /missing queue/.test(String(l.msg)) && l.msg_id === msgId, 15_000);
  });

  it('still answers a good call, and never wrote the token to a log', async () => {
    const { msg, msgId } = request('echo', { still: 'alive' }, true);
    publish(encodeBody(msg));
    const r = await replyFor(msgId);
    assert.deepEqual([r.result, r.failure, r.ending], [{ still: 'alive' }, null, true]);
    assert.equal(server.connected, true);
    assert.ok(server.stats().malformed >= 5, JSON.stringify(server.stats()));
    assert.ok(logs.raw.length > 10);
    assert.ok(!logs.raw.some((l) => l.includes(TOKEN)), 'a token value reached the log');
  });
});
