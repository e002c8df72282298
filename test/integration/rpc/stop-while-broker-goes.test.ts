/**
 * Stopping while the broker goes away or stops answering (a SIGTERM as RabbitMQ stops): the
 * RPC runtime's close() still returns. amqplib's close() never settles when the socket ends
 * before the broker's close-ok, and a service caught there logged `stopping` and never exited,
 * its heartbeat gone while its process still ran. Between our connections and the real broker
 * sits a TCP proxy (test/helpers/tcp-proxy.ts) that holds or cuts them on cue.
 */
import { strict as assert } from 'node:assert';
import { adminContext } from '../../../src/nova-driver/context.js';
import { uuidHex } from '../../../src/messaging/dedup.js';
import { AmqpConnection, CLOSE_TIMEOUT_MS } from '../../../src/messaging/connection.js';
import { messagingOptions } from '../../../src/messaging/options.js';
import { parseTransportUrl } from '../../../src/messaging/transport-url.js';
import { connectComputeRpc } from '../../../src/nova-driver/messaging-config.js';
import type { Endpoint } from '../../../src/messaging/types.js';
import { captureLogs } from '../../helpers/log-capture.js';
import { TcpProxy } from '../../helpers/tcp-proxy.js';
import { ensureRabbitMQ, HOST, PORT, TEST_PASSWORD, TEST_USER, TEST_VHOST } from '../../helpers/rabbitmq.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with the ms `work` took, or null if it had not settled after `limitMs`. */
async function settlesWithin(work: Promise<unknown>, limitMs: number): Promise<number | null> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), limitMs); });
  const took = await Promise.race([work.then(() => Date.now() - t0), limit]);
  clearTimeout(timer);
  return took;
}

describe('rpc: stopping while the broker goes away', function () {
  this.timeout(120_000);
  const logs = captureLogs();
  let proxy: TcpProxy;
  let url: string;
  const unexpected: unknown[] = [];
  const onUnexpected = (err: unknown): void => { unexpected.push(err); };

  before(async () => {
    await ensureRabbitMQ();
    process.on('uncaughtException', onUnexpected);
    process.on('unhandledRejection', onUnexpected);
  });
  beforeEach(async () => {
    proxy = new TcpProxy({ host: HOST, port: PORT });
    await proxy.listen();
    url = `rabbit://${TEST_USER}:${TEST_PASSWORD}@127.0.0.1:${proxy.port}/${TEST_VHOST}`;
  });
  afterEach(async () => { await proxy.cut(); });
  after(() => {
    process.off('uncaughtException', onUnexpected);
    process.off('unhandledRejection', onUnexpected);
  });

  it('close() returns when the broker goes away in the middle of the close handshake', async () => {
    const topic = `nc_sb_${uuidHex().slice(0, 8)}`;
    const endpoint: Endpoint = { namespace: null, version: '6.1', handlers: { async echo(_c, args) { return args; } } };
    const rpc = await connectComputeRpc({ transport_url: url }, logs.log);
    await rpc.serve({ topic, server: 'sbhost' }, [endpoint]);
    assert.deepEqual(await rpc.client.call({ topic, server: 'sbhost', version: '6.0' }, adminContext(), 'echo', { n: 1 }), { n: 1 });
    assert.equal(proxy.connections, 3, 'send, server and reply connections go through the proxy');

    // The broker stops answering: the cancels and the server connection's close go out and
    // wait; then it goes away before any close-ok.
    proxy.hold();
    const closing = rpc.close();
    await sleep(500);
    await proxy.cut();
    const took = await settlesWithin(closing, 3 * CLOSE_TIMEOUT_MS);
    assert.notEqual(took, null, 'close() had not returned 15 s after the broker went away');
    assert.ok(took !== null && took < CLOSE_TIMEOUT_MS, `close() returned ${took} ms after the broker went away: it waited for the timeout instead of the socket's end`);
    assert.equal(rpc.status().connected, false);
    assert.deepEqual(unexpected, []);
    console.log(`      measured: close() returned ${took} ms after the broker went away`);
  });

  it('a connection whose broker answers nothing stops consuming and closes within the close timeout each', async () => {
    const conn = new AmqpConnection(parseTransportUrl(url), messagingOptions({ transport_url: url }), logs.log, 'listen');
    const queue = `nc_sb_q_${uuidHex().slice(0, 8)}`;
    await conn.addConsumer({ queue, durable: false, autoDelete: true, arguments: {}, onMessage: () => undefined });
    assert.equal(conn.connected, true);

    proxy.hold();
    const cancelTook = await settlesWithin(conn.removeConsumer(queue), 3 * CLOSE_TIMEOUT_MS);
    assert.ok(cancelTook !== null && cancelTook >= CLOSE_TIMEOUT_MS - 100, `the cancel gave up after ${cancelTook} ms`);
    const closeTook = await settlesWithin(conn.close(), 3 * CLOSE_TIMEOUT_MS);
    assert.ok(closeTook !== null, 'close() had not returned 15 s after a broker that answers nothing was asked to close');
    assert.ok(closeTook >= CLOSE_TIMEOUT_MS - 100 && closeTook < 2 * CLOSE_TIMEOUT_MS, `close() took ${closeTook} ms`);
    assert.equal(logs.find('the AMQP server did not confirm the close; cutting the connection').length, 1);
    await sleep(200);
    assert.equal(proxy.connections, 0, 'the socket was cut');
    assert.deepEqual(unexpected, []);
    console.log(`      measured: cancel gave up after ${cancelTook} ms, close cut the socket after ${closeTook} ms`);
  });
});
