/**
 * The compute endpoint at a negotiated RPC version, over a REAL RabbitMQ, called by the REAL
 * Python oslo.messaging as nova-api and the conductor call it: a host reporting service
 * version 66 serves 6.2 and answers a 6.3 message with oslo's UnsupportedVersion; one
 * reporting 68 serves 6.4, runs remove_volume_connection(delete_attachment) as before and
 * takes allow_share as a logged no-op. The manager behind the endpoint is the in-memory one
 * of the unit tests; the wire is real.
 */
import { strict as assert } from 'node:assert';
import { uuidHex } from '../../../src/messaging/dedup.js';
import type { RpcRuntime } from '../../../src/messaging/runtime.js';
import { computeEndpoint } from '../../../src/nova-driver/manager/compute-endpoint.js';
import { connectComputeRpc } from '../../../src/nova-driver/messaging-config.js';
import { rpcVersionFor } from '../../../src/nova-driver/service-version.js';
import { argsFor, fakeCompute } from '../../helpers/fake-compute.js';
import { captureLogs } from '../../helpers/log-capture.js';
import { osloClient } from '../../helpers/oslo.js';
import { ensureRabbitMQ, TEST_TRANSPORT_URL } from '../../helpers/rabbitmq.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const SHARE_MAPPING = {
  'nova_object.name': 'ShareMapping', 'nova_object.namespace': 'nova', 'nova_object.version': '1.2',
  'nova_object.data': { share_id: 'e0000000-0000-4000-8000-000000000001', status: 'attaching', tag: 'data', share_proto: 'NFS' },
};

describe('compute RPC at the negotiated version, with the real Python oslo.messaging', function () {
  this.timeout(120_000);
  const topic = `nc_it_versions_${uuidHex().slice(0, 8)}`;
  const c = fakeCompute();
  const inst = c.addInstance();
  let rpc: RpcRuntime;

  before(async () => {
    await ensureRabbitMQ();
    rpc = await connectComputeRpc({ transport_url: TEST_TRANSPORT_URL }, captureLogs().log);
    await rpc.serve({ topic, server: 'host66' }, [computeEndpoint(c.deps, {}, rpcVersionFor(66))]);
    await rpc.serve({ topic, server: 'host68' }, [computeEndpoint(c.deps, {}, rpcVersionFor(68))]);
  });

  after(async () => {
    await rpc?.close();
  });

  const volumeArgs = () => argsFor(inst, { volume_id: 'f0000000-0000-4000-8000-000000000002', delete_attachment: true });

  it('a host at 66 answers a 6.3 message with UnsupportedVersion, and still serves 6.2', async () => {
    const refused = await osloClient(TEST_TRANSPORT_URL, topic, 'host66',
      { kind: 'call', method: 'remove_volume_connection', version: '6.3', args: volumeArgs(), exmods: ['oslo_messaging.rpc.dispatcher'] });
    assert.ok(refused.mro?.includes('oslo_messaging.rpc.dispatcher.UnsupportedVersion'), JSON.stringify(refused));
    assert.match(String(refused.str), /Endpoint does not support RPC version 6.3. Attempted method: remove_volume_connection/);
    const served = await osloClient(TEST_TRANSPORT_URL, topic, 'host66',
      { kind: 'call', method: 'remove_volume_connection', version: '6.2', args: argsFor(inst, { volume_id: 'f0000000-0000-4000-8000-000000000002' }) });
    assert.equal(served.class, 'NotImplementedError', JSON.stringify(served));
  });

  it('a host at 68 takes remove_volume_connection(delete_attachment) as before: no volumes here', async () => {
    const out = await osloClient(TEST_TRANSPORT_URL, topic, 'host68', { kind: 'call', method: 'remove_volume_connection', version: '6.3', args: volumeArgs() });
    assert.equal(out.class, 'NotImplementedError', JSON.stringify(out));
    assert.match(String(out.str), /remove_volume_connection is not supported by this compute host/);
  });

  it('a host at 68 takes the allow_share cast as a logged no-op', async () => {
    const out = await osloClient(TEST_TRANSPORT_URL, topic, 'host68',
      { kind: 'cast', method: 'allow_share', version: '6.4', args: argsFor(inst, { share_mapping: SHARE_MAPPING }) });
    assert.equal(out.ok, true, JSON.stringify(out));
    for (let i = 0; i < 100 && c.logs.find(/share ignored/).length === 0; i++) await sleep(100);
    const [line] = c.logs.find(/share ignored/);
    assert.deepEqual([line?.method, line?.share_id, line?.instance], ['allow_share', 'e0000000-0000-4000-8000-000000000001', inst.str('uuid')]);
  });
});
