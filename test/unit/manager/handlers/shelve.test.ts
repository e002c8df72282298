/**
 * shelve, shelve_offload and unshelve against in-memory fakes: shelving stops and snapshots
 * the instance, offloading removes it from the host and gives back its allocation,
 * unshelving spawns it again from the snapshot and deletes the snapshot.
 */
import { strict as assert } from 'node:assert';
import { shelveInstance, shelveOffloadInstance, unshelveInstance } from '../../../../src/nova-driver/manager/shelve.js';
import { PowerState, TaskState, VmState } from '../../../../src/nova-driver/manager/states.js';
import { argsFor, fakeCompute, HOST, infoCache, type FakeCompute } from '../../../helpers/fake-compute.js';
import { fakeVif } from '../../../helpers/fake-services.js';

const SNAP = 'shelved-1';

function shelving(c: FakeCompute): string {
  c.images.glance.set(SNAP, { id: SNAP, status: 'queued' });
  return c.addInstance({ task_state: TaskState.SHELVING }).str('uuid');
}

/** An offloaded instance nova-api is unshelving here (the conductor claimed it). */
function unshelving(c: FakeCompute): string {
  c.images.glance.set(SNAP, { id: SNAP, status: 'active' });
  return c.addInstance({
    vm_state: VmState.SHELVED_OFFLOADED, task_state: TaskState.UNSHELVING, power_state: PowerState.SHUTDOWN, host: null, node: null,
    system_metadata: { shelved_image_id: SNAP, shelved_at: '2024-01-01T00:00:00Z', shelved_host: HOST },
  }, null).str('uuid');
}

describe('shelve', () => {
  it('shelve_instance stops and snapshots the instance: SHELVED, still on the host', async () => {
    const c = fakeCompute();
    const uuid = shelving(c);
    await shelveInstance(c.deps, c.ctx, argsFor(await c.store.get(c.ctx, uuid), { image_id: SNAP, clean_shutdown: true }));
    assert.deepEqual(c.store.taskStates(uuid), [TaskState.SHELVING_IMAGE_PENDING_UPLOAD, TaskState.SHELVING_IMAGE_UPLOADING, null]);
    assert.deepEqual(c.images.uploads.map((u) => [u.imageId, u.whole]), [[SNAP, true]], 'a shelved image is whole: it must not need the instance\'s image');
    const record = c.store.record(uuid);
    assert.equal(record.get('vm_state'), VmState.SHELVED);
    assert.equal(record.get('power_state'), PowerState.SHUTDOWN);
    assert.equal((record.get('system_metadata') as Record<string, string>).shelved_image_id, SNAP);
    assert.equal(c.driver.instances.get(uuid)?.state, PowerState.SHUTDOWN);
    assert.equal(record.get('host'), HOST);
  });

  it('with shelved_offload_time = 0 it offloads at once: SHELVED_OFFLOADED, off the host, allocation given back', async () => {
    const c = fakeCompute({ offloadShelvedAtOnce: true });
    const uuid = shelving(c);
    await shelveInstance(c.deps, c.ctx, argsFor(await c.store.get(c.ctx, uuid), { image_id: SNAP }));
    assert.deepEqual(c.store.taskStates(uuid), [TaskState.SHELVING_IMAGE_PENDING_UPLOAD, TaskState.SHELVING_IMAGE_UPLOADING, TaskState.SHELVING_OFFLOADING, null]);
    const record = c.store.record(uuid);
    assert.equal(record.get('vm_state'), VmState.SHELVED_OFFLOADED);
    assert.equal(record.get('host'), null);
    assert.equal(c.driver.instances.has(uuid), false);
    assert.equal(c.placement.allocations.has(uuid), false);
  });

  it('a failed snapshot deletes the unfinished image, records a fault and clears the task_state', async () => {
    const c = fakeCompute();
    const uuid = shelving(c);
    c.driver.fail('snapshot', new Error('commit failed'));
    await assert.rejects(shelveInstance(c.deps, c.ctx, argsFor(await c.store.get(c.ctx, uuid), { image_id: SNAP })), /commit failed/);
    assert.equal(c.images.glance.has(SNAP), false);
    assert.equal(c.store.faults.length, 1);
    assert.equal(c.store.record(uuid).get('task_state'), null);
  });

  it('shelve_offload_instance removes a shelved instance from the host', async () => {
    const c = fakeCompute();
    const uuid = c.addInstance({ vm_state: VmState.SHELVED, power_state: PowerState.SHUTDOWN, task_state: TaskState.SHELVING_OFFLOADING },
      { state: PowerState.SHUTDOWN }).str('uuid');
    await shelveOffloadInstance(c.deps, c.ctx, argsFor(await c.store.get(c.ctx, uuid), { clean_shutdown: true }));
    const record = c.store.record(uuid);
    assert.equal(record.get('vm_state'), VmState.SHELVED_OFFLOADED);
    assert.equal(record.get('task_state'), null);
    assert.equal(record.get('host'), null);
    assert.equal(c.driver.instances.has(uuid), false);
    assert.equal(c.placement.allocations.has(uuid), false);
    assert.deepEqual(c.scheduler.callsOf('deleteInstanceInfo').map(([, u]) => u), [uuid]);
  });

  it('unshelve_instance spawns it from the snapshot on this host, then deletes the snapshot', async () => {
    const c = fakeCompute();
    const uuid = unshelving(c);
    await unshelveInstance(c.deps, c.ctx, argsFor(await c.store.get(c.ctx, uuid), { image: null }));
    assert.deepEqual(c.store.taskStates(uuid), [TaskState.SPAWNING, null]);
    assert.equal(c.driver.callsOf('spawn')[0][0].image.id, SNAP);
    assert.equal(c.driver.instances.get(uuid)?.state, PowerState.RUNNING);
    assert.equal(c.images.glance.has(SNAP), false);
    const record = c.store.record(uuid);
    assert.equal(record.get('vm_state'), VmState.ACTIVE);
    assert.equal(record.get('host'), HOST);
    assert.deepEqual(record.get('system_metadata'), {});
  });

  it('a failed unshelve spawn leaves nothing on the host, gives back the allocation and clears host and task_state', async () => {
    const c = fakeCompute();
    const uuid = unshelving(c);
    c.store.record(uuid).set('info_cache', infoCache(uuid, [fakeVif('p1')]));
    c.placement.allocations.set(uuid, { VCPU: 1 });
    c.driver.on('spawn', (req) => {
      c.driver.add(req.instance.uuid, { state: PowerState.NOSTATE });
      throw new Error('engine refused');
    });
    await assert.rejects(unshelveInstance(c.deps, c.ctx, argsFor(await c.store.get(c.ctx, uuid), { image: null })), /engine refused/);
    assert.equal(c.driver.instances.has(uuid), false);
    assert.deepEqual(c.driver.callsOf('destroy').map(([, vifs]) => vifs.map((v) => v.id)), [['p1']], 'the VIFs the spawn was given go by name');
    assert.equal(c.placement.allocations.has(uuid), false);
    const record = c.store.record(uuid);
    assert.equal(record.get('host'), null);
    assert.equal(record.get('task_state'), null);
    assert.equal(record.get('vm_state'), VmState.SHELVED_OFFLOADED);
    assert.equal(c.images.glance.has(SNAP), true, 'the snapshot is kept for the next try');
    assert.equal(c.store.faults.length, 1);
  });
});
