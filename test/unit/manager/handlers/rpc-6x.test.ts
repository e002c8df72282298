/**
 * Compute RPC 6.2-6.4 as the endpoint serves them: a message above the negotiated minor gets
 * oslo's UnsupportedVersion; 6.2 rebuild_instance(target_state), 6.3
 * remove_volume_connection(delete_attachment) and 6.4 allow_share/deny_share are accepted
 * and answered as Nova's compute would answer them on a host without volumes or shares.
 */
import { strict as assert } from 'node:assert';
import { RpcDispatcher } from '../../../../src/messaging/dispatcher.js';
import type { IncomingCall } from '../../../../src/messaging/types.js';
import { computeEndpoint } from '../../../../src/nova-driver/manager/compute-endpoint.js';
import { PowerState, TaskState, VmState } from '../../../../src/nova-driver/manager/states.js';
import { argsFor, fakeCompute, HOST, type FakeCompute } from '../../../helpers/fake-compute.js';

function message(method: string, args: Record<string, unknown>, version: string): IncomingCall {
  return { method, args, namespace: null, version, context: { request_id: 'req-6x' }, expectsReply: false };
}

function dispatcher(c: FakeCompute, rpcVersion = '6.4'): RpcDispatcher {
  return new RpcDispatcher([computeEndpoint(c.deps, {}, rpcVersion)]);
}

const SHARE_MAPPING = {
  'nova_object.name': 'ShareMapping', 'nova_object.namespace': 'nova', 'nova_object.version': '1.2',
  'nova_object.data': {
    id: 1, uuid: 'd0000000-0000-4000-8000-000000000001', instance_uuid: 'a0000000-0000-4000-8000-000000000001',
    share_id: 'e0000000-0000-4000-8000-000000000001', status: 'attaching', tag: 'data', export_location: '10.0.0.1:/share',
    share_proto: 'NFS', access_type: null, access_to: null, access_key: null,
  },
};

describe('compute RPC 6.x versions', () => {
  for (const target of [1, 2, 3, 4]) {
    it(`serving 6.${target}: messages up to 6.${target} reach their handler, 6.${target + 1} gets UnsupportedVersion`, () => {
      const d = dispatcher(fakeCompute(), `6.${target}`);
      for (let minor = 0; minor <= 5; minor++) {
        const call = message('stop_instance', {}, `6.${minor}`);
        if (minor <= target) assert.doesNotThrow(() => d.resolve(call), `6.${minor}`);
        else assert.throws(() => d.resolve(call), { name: 'UnsupportedVersion', message: `Endpoint does not support RPC version 6.${minor}. Attempted method: stop_instance` });
      }
    });
  }
});

describe('rebuild_instance target_state (6.2)', () => {
  it('a rebuild on this host carries target_state null (nova-api\'s rebuild) and runs as before', async () => {
    const c = fakeCompute();
    c.images.glance.set('img-2', { id: 'img-2', status: 'active' });
    const inst = c.addInstance({ task_state: TaskState.REBUILDING });
    await dispatcher(c).dispatch(message('rebuild_instance', argsFor(inst, { image_ref: 'img-2', recreate: false, target_state: null }), '6.2'));
    assert.equal(c.store.record(inst.str('uuid')).get('vm_state'), VmState.ACTIVE);
    assert.equal(c.driver.callsOf('rebuild').length, 1);
  });

  it('an evacuation to stopped (the only target Nova allows) leaves the instance made here stopped', async () => {
    const c = fakeCompute();
    c.images.glance.set('img-1', { id: 'img-1', status: 'active' });
    const inst = c.addInstance({ host: 'down-host', node: 'down-host', task_state: TaskState.REBUILDING }, null);
    await dispatcher(c).dispatch(message('rebuild_instance', argsFor(inst, { image_ref: 'img-1', recreate: true, target_state: 'stopped' }), '6.2'));
    const record = c.store.record(inst.str('uuid'));
    assert.deepEqual([record.get('vm_state'), record.get('task_state'), record.get('host')], [VmState.STOPPED, null, HOST]);
    assert.equal(c.driver.instances.get(inst.str('uuid'))?.state, PowerState.SHUTDOWN);
  });

  it('an evacuation to a state Nova does not allow is named as such, unless the instance is in ERROR', async () => {
    const c = fakeCompute();
    c.images.glance.set('img-1', { id: 'img-1', status: 'active' });
    const inst = c.addInstance({ host: 'down-host', task_state: TaskState.REBUILDING }, null);
    await assert.rejects(dispatcher(c).dispatch(message('rebuild_instance', argsFor(inst, { recreate: true, target_state: 'active' }), '6.2')),
      { name: 'InstanceEvacuateNotSupportedTargetState', message: 'Target state \'active\' for instance evacuate is not supported.' });
    assert.equal(c.store.faults.length, 1);
    assert.equal(c.driver.callsOf('spawn').length, 0);
    const broken = c.addInstance({ host: 'down-host', vm_state: VmState.ERROR, power_state: PowerState.NOSTATE, task_state: TaskState.REBUILDING }, null);
    await dispatcher(c).dispatch(message('rebuild_instance', argsFor(broken, { recreate: true, target_state: 'active' }), '6.2'));
    assert.equal(c.store.record(broken.str('uuid')).get('vm_state'), VmState.ACTIVE);
  });

  it('a target_state that is not a string is a ValueError, recorded on the instance', async () => {
    const c = fakeCompute();
    const inst = c.addInstance({ task_state: TaskState.REBUILDING });
    await assert.rejects(dispatcher(c).dispatch(message('rebuild_instance', argsFor(inst, { image_ref: 'img-1', target_state: 4 }), '6.2')),
      { name: 'ValueError', message: /\/target_state must be string,null/ });
    assert.equal(c.store.record(inst.str('uuid')).get('task_state'), null);
  });
});

describe('remove_volume_connection delete_attachment (6.3)', () => {
  it('is dispatched at 6.3 and answered as before: this host has no volumes', async () => {
    const c = fakeCompute();
    const inst = c.addInstance();
    const args = argsFor(inst, { volume_id: 'f0000000-0000-4000-8000-000000000002', delete_attachment: true });
    await assert.rejects(dispatcher(c, '6.3').dispatch(message('remove_volume_connection', args, '6.3')),
      { name: 'NotImplementedError', message: /remove_volume_connection is not supported/ });
    assert.throws(() => dispatcher(c, '6.2').resolve(message('remove_volume_connection', args, '6.3')), { name: 'UnsupportedVersion' });
  });
});

describe('allow_share / deny_share (6.4)', () => {
  for (const method of ['allow_share', 'deny_share']) {
    it(`${method}: accepted and logged as a no-op naming the share and why; the instance untouched`, async () => {
      const c = fakeCompute();
      const inst = c.addInstance();
      await dispatcher(c).dispatch(message(method, argsFor(inst, { share_mapping: SHARE_MAPPING }), '6.4'));
      const [line] = c.logs.find(/share ignored/);
      assert.deepEqual([line.method, line.share_id, line.tag, line.instance], [method, 'e0000000-0000-4000-8000-000000000001', 'data', inst.str('uuid')]);
      assert.match(String(line.msg), /virtio-fs and memory-backing-file traits/);
      assert.deepEqual(c.store.savesOf(inst.str('uuid')), []);
      assert.deepEqual(c.driver.calls, []);
    });

    it(`${method}: without a share mapping is a ValueError; at 6.3 it is not served`, async () => {
      const c = fakeCompute();
      const inst = c.addInstance();
      await assert.rejects(dispatcher(c).dispatch(message(method, argsFor(inst), '6.4')), { name: 'ValueError', message: /share_mapping/ });
      assert.throws(() => dispatcher(c, '6.3').resolve(message(method, argsFor(inst, { share_mapping: SHARE_MAPPING }), '6.4')), { name: 'UnsupportedVersion' });
    });
  }
});
