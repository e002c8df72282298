/**
 * What our client and server put on the wire, seen by a raw amqplib peer: AMQP properties,
 * key order, the older two-message reply form, call-monitor heartbeats, duplicate replies,
 * bounded handler concurrency.
 */
import { strict as assert } from 'node:assert';
import { connect, type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { adminContext } from '../../../src/nova-driver/context.js';
import { uuidHex } from '../../../src/messaging/dedup.js';
import { encodeBody } from '../../../src/messaging/envelope.js';
import { MessagingTimeout } from '../../../src/messaging/errors.js';
import { InstanceNotFound } from '../../../src/nova-driver/errors.js';
import { serializeRemoteException } from '../../../src/messaging/failure.js';
import type { RpcRuntime } from '../../../src/messaging/runtime.js';
import { connectComputeRpc } from '../../../src/nova-driver/messaging-config.js';
import { captureLogs } from '../../helpers/log-capture.js';
import { ensureRabbitMQ, TEST_TRANSPORT_URL } from '../../helpers/rabbitmq.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('rpc on the wire (raw AMQP peer)', function () {
  this.timeout(120_000);
  const logs = captureLogs();
  let rpc: RpcRuntime;
  let raw: ChannelModel;
  let ch: Channel;
  const topic = `nc_wire_${uuidHex().slice(0, 8)}`;
  const requests: ConsumeMessage[] = [];
  let onRequest: ((m: ConsumeMessage) => void) | null = null;

  function inner(m: ConsumeMessage): Record<string, unknown> {
    const outer = JSON.parse(m.content.toString()) as Record<string, string>;
    assert.deepEqual(Object.keys(outer), ['oslo.version', 'oslo.message']);
    assert.equal(outer['oslo.version'], '2.0');
    return JSON.parse(outer['oslo.message']) as Record<string, unknown>;
  }

  function reply(m: Record<string, unknown>, body: Record<string, unknown>): void {
    ch.sendToQueue(String(m._reply_q), encodeBody({ ...body, _msg_id: m._msg_id, _unique_id: body._unique_id ?? uuidHex() }),
      { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2 });
  }

  before(async () => {
    await ensureRabbitMQ();
    rpc = await connectComputeRpc({ transport_url: TEST_TRANSPORT_URL }, logs.log);
    raw = await connect(TEST_TRANSPORT_URL.replace('rabbit://', 'amqp://'));
    ch = await raw.createChannel();
    // A raw "server": the queue our client's calls and casts to <topic>.raw land in.
    await ch.assertExchange('nova', 'topic', { durable: false, autoDelete: false });
    await ch.assertQueue(`${topic}.raw`, { durable: false, autoDelete: true });
    await ch.bindQueue(`${topic}.raw`, 'nova', `${topic}.raw`);
    await ch.consume(`${topic}.raw`, (m) => {
      if (!m) return;
      requests.push(m);
      onRequest?.(m);
    }, { noAck: true });
  });

  after(async () => {
    await raw?.close().catch(() => undefined);
    await rpc?.close();
  });

  it('publishes calls as oslo does: properties, key order, context, no namespace key', async () => {
    onRequest = (m) => reply(inner(m), { result: 'ok', failure: null, ending: true });
    const ctx = adminContext();
    const res = await rpc.client.call({ topic, server: 'raw', version: '6.0' }, ctx, 'get_console_output', { instance: {}, tail_length: 10 }, { timeout: 10 });
    assert.equal(res, 'ok');
    const m = requests[requests.length - 1];
    assert.equal(m.fields.exchange, 'nova');
    assert.equal(m.fields.routingKey, `${topic}.raw`);
    const p = m.properties;
    assert.deepEqual([p.contentType, p.contentEncoding, p.deliveryMode, p.priority, p.expiration], ['application/json', 'utf-8', 2, 0, '10000']);
    assert.deepEqual(p.headers, {});
    const msg = inner(m);
    const keys = Object.keys(msg);
    assert.deepEqual(keys.slice(0, 7), ['method', 'args', 'version', '_msg_id', '_reply_q', '_timeout', '_unique_id']);
    assert.deepEqual(keys.slice(7), Object.keys(ctx).map((k) => `_context_${k}`));
    assert.equal(msg._timeout, null);
    assert.match(String(msg._msg_id), /^[0-9a-f]{32}$/);
    assert.equal(msg._reply_q, rpc.client.replyQueue);
    assert.match(String(msg._reply_q), /^reply_[0-9a-f]{32}$/);
    assert.equal(msg._context_request_id, ctx.request_id);
  });

  it('puts namespace in when the target has one, and _timeout for a call-monitor timeout', async () => {
    onRequest = (m) => reply(inner(m), { result: { service: 'x' }, failure: null, ending: true });
    await rpc.client.call({ topic, server: 'raw', namespace: 'baseapi', version: '1.0' }, adminContext(), 'ping', { arg: 1 }, { timeout: 10, callMonitorTimeout: 5 });
    const msg = inner(requests[requests.length - 1]);
    assert.deepEqual(Object.keys(msg).slice(0, 4), ['method', 'args', 'namespace', 'version']);
    assert.equal(msg.namespace, 'baseapi');
    assert.equal(msg._timeout, 5);
  });

  it('publishes casts without _msg_id/_reply_q/_timeout and without expiration', async () => {
    const before = requests.length;
    onRequest = null;
    await rpc.client.cast({ topic, server: 'raw', version: '6.0' }, adminContext(), 'stop_instance', { instance: {}, clean_shutdown: true });
    for (let i = 0; i < 50 && requests.length === before; i++) await sleep(50);
    const m = requests[requests.length - 1];
    assert.equal(m.properties.expiration, undefined);
    const msg = inner(m);
    assert.deepEqual(Object.keys(msg).slice(0, 4), ['method', 'args', 'version', '_unique_id']);
    assert.ok(!('_msg_id' in msg) && !('_reply_q' in msg) && !('_timeout' in msg));
  });

  it('accepts the older two-message reply (result, then a separate ending) and ignores a duplicate', async () => {
    onRequest = (m) => {
      const msg = inner(m);
      const dup = uuidHex();
      reply(msg, { result: { first: true }, failure: null, _unique_id: dup }); // no ending key
      reply(msg, { result: { first: 'duplicate' }, failure: null, _unique_id: dup });
      setTimeout(() => reply(msg, { result: null, failure: null, ending: true }), 200);
    };
    const res = await rpc.client.call({ topic, server: 'raw', version: '6.0' }, adminContext(), 'm', {}, { timeout: 10 });
    assert.deepEqual(res, { first: true });
    assert.ok(logs.find('ignoring duplicate reply').length >= 1);
  });

  it('rejects with the typed failure of a failure reply', async () => {
    onRequest = (m) => reply(inner(m), { result: null, failure: serializeRemoteException(new InstanceNotFound({ instance_id: 'zz' })), ending: true });
    await assert.rejects(rpc.client.call({ topic, server: 'raw', version: '6.0' }, adminContext(), 'm', {}, { timeout: 10 }),
      (e: unknown) => e instanceof InstanceNotFound && e.kwargs.instance_id === 'zz');
  });

  it('restarts the call-monitor timer on ending:false heartbeats, and times out without them', async () => {
    onRequest = (m) => {
      const msg = inner(m);
      let n = 0;
      const t = setInterval(() => {
        n += 1;
        if (n < 5) reply(msg, { result: null, failure: null, ending: false });
        else {
          clearInterval(t);
          reply(msg, { result: 'done', failure: null, ending: true });
        }
      }, 600);
    };
    const t0 = Date.now();
    assert.equal(await rpc.client.call({ topic, server: 'raw', version: '6.0' }, adminContext(), 'long', {}, { timeout: 30, callMonitorTimeout: 1 }), 'done');
    assert.ok(Date.now() - t0 > 2500);
    onRequest = null; // silent server
    const t1 = Date.now();
    await assert.rejects(rpc.client.call({ topic, server: 'raw', version: '6.0' }, adminContext(), 'long', {}, { timeout: 30, callMonitorTimeout: 1 }), MessagingTimeout);
    assert.ok(Date.now() - t1 < 3000, 'the monitor timeout, not the 30 s one, ended the call');
  });

  it('sends ending:false heartbeats every _timeout/2 s while our handler runs, then the final reply', async () => {
    const srvTopic = `${topic}_srv`;
    await rpc.serve({ topic: srvTopic, server: 'h' }, [{ namespace: null, version: '6.1', handlers: { async slow() { await sleep(3300); return 'ok'; } } }]);
    const replyQ = `reply_${uuidHex()}`;
    await ch.assertQueue(replyQ, { exclusive: true });
    const got: Record<string, unknown>[] = [];
    await ch.consume(replyQ, (m) => { if (m) got.push(inner(m)); }, { noAck: true });
    const msgId = uuidHex();
    ch.publish('nova', `${srvTopic}.h`, encodeBody({ method: 'slow', args: {}, version: '6.0', _msg_id: msgId, _reply_q: replyQ, _timeout: 2, _unique_id: uuidHex(), _context_request_id: 'req-hb' }));
    for (let i = 0; i < 100 && !got.some((r) => r.ending === true); i++) await sleep(100);
    const heartbeats = got.filter((r) => r.ending === false);
    assert.ok(heartbeats.length >= 3 && heartbeats.length <= 4, `heartbeats: ${heartbeats.length}`);
    for (const h of heartbeats) assert.deepEqual([h.result, h.failure, h._msg_id], [null, null, msgId]);
    const final = got[got.length - 1];
    assert.deepEqual(Object.keys(final), ['result', 'failure', 'ending', '_msg_id', '_unique_id']);
    assert.deepEqual([final.result, final.failure, final.ending], ['ok', null, true]);
  });

  it('runs handlers concurrently, at most maxConcurrency at a time', async () => {
    const srvTopic = `${topic}_conc`;
    let running = 0;
    let peak = 0;
    await rpc.serve({ topic: srvTopic, server: 'h' }, [{
      namespace: null, version: '6.1',
      handlers: { async work() { running += 1; peak = Math.max(peak, running); await sleep(300); running -= 1; return peak; } },
    }], { maxConcurrency: 3 });
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 9 }, () => rpc.client.call({ topic: srvTopic, server: 'h', version: '6.0' }, adminContext(), 'work', {}, { timeout: 20 })));
    const took = Date.now() - t0;
    assert.equal(peak, 3);
    assert.ok(took >= 850 && took < 3000, `9 x 300 ms with 3 at a time took ${took} ms`);
  });
});
