/**
 * Broker outage: our server and client lose every connection (a full RabbitMQ stop/start when
 * this test process started the broker, else a broker-side close of the test vhost's
 * connections), reconnect with backoff, re-declare their queues and serve again, for us and
 * for a Python caller. The process never sees an exception.
 *
 * With quorum queues (rabbit_quorum_queue, rabbit_transient_quorum_queue) on a broker node of
 * the test's own, always stopped and started: every queue is declared quorum, calls and casts
 * go through them before and after the restart, and a classic queue in the way is refused
 * with an error naming the settings.
 */
import { strict as assert } from 'node:assert';
import { adminContext } from '../../../src/nova-driver/context.js';
import { uuidHex } from '../../../src/messaging/dedup.js';
import type { RpcRuntime } from '../../../src/messaging/runtime.js';
import { connectComputeRpc } from '../../../src/nova-driver/messaging-config.js';
import type { Endpoint } from '../../../src/messaging/types.js';
import { captureLogs } from '../../helpers/log-capture.js';
import { osloClient } from '../../helpers/oslo.js';
import { connect } from 'amqplib';
import { DeclarationRefused } from '../../../src/messaging/connection.js';
import { PrivateRabbitMQ } from '../../helpers/private-rabbitmq.js';
import { disruptBroker, ensureRabbitMQ, listQueues, TEST_TRANSPORT_URL } from '../../helpers/rabbitmq.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('rpc: reconnect after the broker goes away', function () {
  this.timeout(300_000);
  const logs = captureLogs();
  const topic = `nc_rc_${uuidHex().slice(0, 8)}`;
  const host = 'rchost';
  let rpc: RpcRuntime;
  const unexpected: unknown[] = [];
  const onUnexpected = (err: unknown): void => { unexpected.push(err); };

  const endpoint: Endpoint = {
    namespace: null, version: '6.1',
    handlers: { async echo(_c, args) { return args; } },
  };

  before(async () => {
    await ensureRabbitMQ();
    process.on('uncaughtException', onUnexpected);
    process.on('unhandledRejection', onUnexpected);
    rpc = await connectComputeRpc({ transport_url: TEST_TRANSPORT_URL }, logs.log);
    await rpc.serve({ topic, server: host }, [endpoint]);
  });

  after(async () => {
    await rpc?.close();
    process.off('uncaughtException', onUnexpected);
    process.off('unhandledRejection', onUnexpected);
  });

  it('serves before the outage', async () => {
    assert.deepEqual(await rpc.client.call({ topic, server: host, version: '6.0' }, adminContext(), 'echo', { n: 1 }), { n: 1 });
    assert.equal(rpc.status().connected, true);
    assert.equal(rpc.status().connections.length, 3);
  });

  it('reconnects, re-declares its queues and serves our client and a Python client again', async () => {
    const how = await disruptBroker();
    // A call made right away waits for the reconnection instead of failing.
    const res = await rpc.client.call({ topic, server: host, version: '6.0' }, adminContext(), 'echo', { n: 2, how }, { timeout: 120 });
    assert.deepEqual(res, { n: 2, how });
    const deadline = Date.now() + 120_000;
    while (!rpc.status().connected && Date.now() < deadline) await sleep(200);
    const status = rpc.status();
    assert.equal(status.connected, true, JSON.stringify(status));
    for (const c of status.connections) assert.ok(c.reconnects >= 1, `${c.name} did not reconnect: ${JSON.stringify(c)}`);
    assert.ok(logs.find('AMQP connection lost; reconnecting').length >= 3);
    assert.ok(logs.find('reconnected to the AMQP server').length >= 3);

    const names = (await listQueues()).map((q) => q.name);
    assert.ok(names.includes(topic) && names.includes(`${topic}.${host}`), names.join(' '));
    assert.ok(names.some((n) => n.startsWith(`${topic}_fanout_`)));
    assert.ok(names.includes(String(rpc.client.replyQueue)));

    const py = await osloClient(TEST_TRANSPORT_URL, topic, host, { kind: 'call', method: 'echo', args: { from: 'python' } });
    assert.deepEqual(py.result, { from: 'python' }, JSON.stringify(py));
    assert.deepEqual(unexpected, []);
  });
});

describe('rpc: quorum queues, and reconnect after the broker restarts', function () {
  this.timeout(600_000);
  const logs = captureLogs();
  const broker = new PrivateRabbitMQ();
  const topic = `nc_qq_${uuidHex().slice(0, 8)}`;
  const host = 'qqhost';
  let rpc: RpcRuntime;
  const casts: unknown[] = [];
  const unexpected: unknown[] = [];
  const onUnexpected = (err: unknown): void => { unexpected.push(err); };

  const endpoint: Endpoint = {
    namespace: null, version: '6.1',
    handlers: {
      async echo(_c, args) { return args; },
      async note(_c, args) { casts.push(args); return null; },
    },
  };
  const rabbit = { rabbit_quorum_queue: true, rabbit_transient_quorum_queue: true, rabbit_qos_prefetch_count: 7, heartbeat_timeout_threshold: 20 };

  async function castArrives(args: Record<string, unknown>, fanout: boolean): Promise<void> {
    await rpc.client.cast({ topic, server: fanout ? undefined : host, fanout, version: '6.0' }, adminContext(), 'note', args);
    const deadline = Date.now() + 30_000;
    while (!casts.some((c) => JSON.stringify(c) === JSON.stringify(args)) && Date.now() < deadline) await sleep(100);
    assert.ok(casts.some((c) => JSON.stringify(c) === JSON.stringify(args)), `cast ${JSON.stringify(args)} did not arrive: ${JSON.stringify(casts)}`);
  }

  before(async () => {
    await broker.start();
    process.on('uncaughtException', onUnexpected);
    process.on('unhandledRejection', onUnexpected);
    rpc = await connectComputeRpc({ transport_url: broker.url, rabbit }, logs.log);
    await rpc.serve({ topic, server: host }, [endpoint]);
  });

  after(async () => {
    await rpc?.close();
    process.off('uncaughtException', onUnexpected);
    process.off('unhandledRejection', onUnexpected);
    await broker.destroy();
  });

  it('declares the topic, server, fanout and reply queues as quorum queues; prefetch and heartbeat as set', async () => {
    assert.deepEqual(await rpc.client.call({ topic, server: host, version: '6.0' }, adminContext(), 'echo', { n: 1 }), { n: 1 });
    const queues = await broker.queues();
    const ours = queues.filter((q) => q.name === topic || q.name === `${topic}.${host}` || q.name.startsWith(`${topic}_fanout_`)
      || q.name === rpc.client.replyQueue);
    assert.equal(ours.length, 4, JSON.stringify(queues));
    for (const q of ours) {
      assert.equal(q.type, 'quorum', JSON.stringify(q));
      assert.equal(q.durable, true, JSON.stringify(q));
    }
    const transient = ours.filter((q) => q.name !== topic && q.name !== `${topic}.${host}`);
    for (const q of transient) assert.match(q.arguments, /x-expires/, JSON.stringify(q));
    const prefetch = await broker.column('list_channels', 'prefetch_count');
    assert.ok(prefetch.filter((p) => p === '7').length >= 2, `consuming channels prefetch 7: ${prefetch.join(' ')}`);
    assert.ok((await broker.column('list_connections', 'timeout')).every((t) => t === '20'));
  });

  it('a call and a cast (direct and fanout) go through them', async () => {
    assert.deepEqual(await rpc.client.call({ topic, version: '6.0' }, adminContext(), 'echo', { via: 'topic' }), { via: 'topic' });
    await castArrives({ cast: 1 }, false);
    await castArrives({ cast: 'fanout' }, true);
  });

  it('after RabbitMQ is stopped and started it reconnects by itself and serves again, queues still quorum', async () => {
    await broker.restart();
    const res = await rpc.client.call({ topic, server: host, version: '6.0' }, adminContext(), 'echo', { n: 2 }, { timeout: 120 });
    assert.deepEqual(res, { n: 2 });
    await castArrives({ cast: 2 }, false);
    const deadline = Date.now() + 120_000;
    while (!rpc.status().connected && Date.now() < deadline) await sleep(200);
    for (const c of rpc.status().connections) assert.ok(c.reconnects >= 1, `${c.name} did not reconnect: ${JSON.stringify(c)}`);
    assert.ok(logs.find('reconnected to the AMQP server').length >= 3);
    const queues = await broker.queues();
    for (const name of [topic, `${topic}.${host}`]) {
      assert.equal(queues.find((q) => q.name === name)?.type, 'quorum', JSON.stringify(queues));
    }
    // Python oslo.messaging (Zed's, without rabbit_transient_quorum_queue) set the same way
    // through the URL's query declares the control exchange as we do, and is answered.
    const py = await osloClient(`${broker.url}?rabbit_quorum_queue=true`, topic, host, { kind: 'call', method: 'echo', args: { from: 'python' } });
    assert.deepEqual(py.result, { from: 'python' }, JSON.stringify(py));
    assert.deepEqual(unexpected, []);
  });

  it('refuses to serve on a queue declared classic before, with PRECONDITION_FAILED and the settings named, logged', async () => {
    const classic = `nc_classic_${uuidHex().slice(0, 8)}`;
    const conn = await connect(`amqp://${broker.user}:${broker.password}@127.0.0.1:${broker.port}/${broker.vhost}`);
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue(classic, { durable: false, autoDelete: false });
    } finally {
      await conn.close();
    }
    await assert.rejects(rpc.serve({ topic: classic, server: host }, [endpoint]), (err: unknown) => err instanceof DeclarationRefused
      && /PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'nc_classic_|PRECONDITION_FAILED - inequivalent arg 'x-queue-type'/.test(err.message)
      && /rabbit_quorum_queue/.test(err.message));
    const logged = logs.find('queue declaration refused by the broker');
    assert.equal(logged.length, 1);
    assert.equal(logged[0].queue, classic);
    assert.equal((await broker.queues()).find((q) => q.name === classic)?.type, 'classic', 'the classic queue is left as it was');
    // The service it belongs to still serves.
    assert.deepEqual(await rpc.client.call({ topic, server: host, version: '6.0' }, adminContext(), 'echo', { n: 3 }), { n: 3 });
  });
});
