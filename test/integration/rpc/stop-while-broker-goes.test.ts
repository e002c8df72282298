/**
 * Stopping while the broker goes away or stops answering (a SIGTERM as RabbitMQ stops): the
 * RPC runtime's close() still returns. amqplib's close() never settles when the socket ends
 * before the broker's close-ok, and a service caught there logged `stopping` and never exited,
 * its heartbeat gone while its process still ran. Between our connections and the real broker
 * sits a TCP proxy (test/helpers/tcp-proxy.ts) that holds or cuts them on cue.
 */
import { strict as assert } from 'node:assert';
import { connect } from 'amqplib';
import { uuidHex } from '../../../src/messaging/dedup.js';
import { AmqpConnection, CLOSE_TIMEOUT_MS } from '../../../src/messaging/connection.js';
import { messagingOptions } from '../../../src/messaging/options.js';
import { parseTransportUrl } from '../../../src/messaging/transport-url.js';
import { captureLogs } from '../../helpers/log-capture.js';
import { settlesWithin, waitFor } from '../../helpers/cloud.js';
import { TcpProxy } from '../../helpers/tcp-proxy.js';
import { ensureRabbitMQ, HOST, PORT, TEST_PASSWORD, TEST_USER, TEST_VHOST } from '../../helpers/rabbitmq.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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

  it('close() returns as soon as the broker goes away in the middle of the close handshake', async () => {
    const conn = new AmqpConnection(parseTransportUrl(url), messagingOptions({ transport_url: url }), logs.log, 'send');
    await conn.whenConnected(Date.now() + 30_000);
    proxy.hold();
    const closing = conn.close(); // its connection.close goes out; no close-ok comes back
    await sleep(500);
    const cutAt = Date.now();
    await proxy.cut();
    const took = await settlesWithin(closing, 3 * CLOSE_TIMEOUT_MS);
    assert.notEqual(took, null, 'close() had not returned 15 s after the broker went away');
    const afterCut = Date.now() - cutAt;
    assert.ok(afterCut < 1000, `close() returned ${afterCut} ms after the broker went away: the socket's end did not end it`);
    assert.equal(logs.find('the AMQP server did not confirm the close; cutting the connection').length, 0, 'not by the timeout');
    assert.deepEqual(unexpected, []);
    console.log(`      measured: close() returned ${afterCut} ms after the broker went away`);
  });

  it('a broker that hears nothing more: the cancel gives up after the close timeout, later deliveries are left for another consumer, the close cuts the socket', async () => {
    const conn = new AmqpConnection(parseTransportUrl(url), messagingOptions({ transport_url: url }), logs.log, 'listen');
    const queue = `nc_sb_q_${uuidHex().slice(0, 8)}`;
    const handled: string[] = [];
    await conn.addConsumer({ queue, durable: false, autoDelete: false, arguments: {}, onMessage: (msg, ack) => { ack(); handled.push(msg.content.toString()); } });
    // published and checked straight at the broker, not through the proxy
    const direct = await connect(`amqp://${TEST_USER}:${TEST_PASSWORD}@${HOST}:${PORT}/${TEST_VHOST}`);
    try {
      const ch = await direct.createChannel();
      ch.sendToQueue(queue, Buffer.from('before'));
      await waitFor('the first message handled', async () => handled.length === 1, 10_000, 50);

      proxy.hold('to-server'); // the broker still delivers, but our cancel never reaches it
      const cancelling = conn.removeConsumer(queue);
      for (const n of [1, 2, 3]) ch.sendToQueue(queue, Buffer.from(`after-${n}`));
      const cancelTook = await settlesWithin(cancelling, 3 * CLOSE_TIMEOUT_MS);
      assert.ok(cancelTook !== null && cancelTook >= CLOSE_TIMEOUT_MS - 100, `the cancel gave up after ${cancelTook} ms`);
      const closeTook = await settlesWithin(conn.close(), 3 * CLOSE_TIMEOUT_MS);
      assert.ok(closeTook !== null, 'close() had not returned 15 s after a broker that hears nothing was asked to close');
      assert.ok(closeTook >= CLOSE_TIMEOUT_MS - 100 && closeTook < 2 * CLOSE_TIMEOUT_MS, `close() took ${closeTook} ms`);
      assert.equal(logs.find('the AMQP server did not confirm the close; cutting the connection').length, 1);

      assert.deepEqual(handled, ['before'], 'what came after the cancel was not handled here');
      // unacknowledged, they go back to the queue once the broker sees the connection gone
      await waitFor('the three deliveries after the cancel back in the queue', async () => (await ch.checkQueue(queue)).messageCount === 3, 10_000, 50);
      assert.equal(proxy.connections, 0, 'the socket was cut');
      await ch.deleteQueue(queue);
      assert.deepEqual(unexpected, []);
      console.log(`      measured: cancel gave up after ${cancelTook} ms, close cut the socket after ${closeTook} ms`);
    } finally {
      await direct.close();
    }
  });
});
