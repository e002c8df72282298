/**
 * Broker outage: our server and client lose every connection (a full RabbitMQ stop/start when
 * this test process started the broker, else a broker-side close of the test vhost's
 * connections), reconnect with backoff, re-declare their queues and serve again, for us and
 * for a Python caller. The process never sees an exception.
 */
import { strict as assert } from 'node:assert';
import { adminContext } from '../../../src/nova-driver/context.js';
import { uuidHex } from '../../../src/messaging/dedup.js';
import type { RpcRuntime } from '../../../src/messaging/runtime.js';
import { connectComputeRpc } from '../../../src/nova-driver/messaging-config.js';
import type { Endpoint } from '../../../src/messaging/types.js';
import { captureLogs } from '../../helpers/log-capture.js';
import { osloClient } from '../../helpers/oslo.js';
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
