/**
 * Resize on this host against in-memory fakes: prep_resize runs the source and destination
 * halves in place (migration pre-migrating -> migrating -> post-migrating -> finished, task
 * states resize_prep -> resize_migrating -> resize_migrated -> resize_finish -> none, vm_state
 * resized, the new flavor's limits applied), then confirm_resize or revert_resize.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { confirmResize, prepResize, revertResize } from '../../../../src/nova-driver/manager/resize.js';
import { PowerState, TaskState, VmState } from '../../../../src/nova-driver/manager/states.js';
import { NovaObject } from '../../../../src/nova-driver/objects/versioned-object.js';
import { argsFor, fakeCompute, flavorObject, HOST, type FakeCompute } from '../../../helpers/fake-compute.js';

function migration(status: string): NovaObject {
  return new NovaObject('Migration', '1.7', {
    id: 7, uuid: randomUUID(), status, migration_type: 'resize', source_compute: HOST, source_node: HOST, dest_compute: HOST,
  });
}

const NEW_FLAVOR = flavorObject({ id: 2, name: 'm1.medium', vcpus: 2, memory_mb: 256, root_gb: 5 });

/** An instance resized to NEW_FLAVOR (vm_state resized), its migration holding the old allocation. */
async function resized(c: FakeCompute): Promise<{ uuid: string; mig: NovaObject }> {
  const inst = c.addInstance({ task_state: TaskState.RESIZE_PREP });
  const mig = migration('pre-migrating');
  c.placement.allocations.set(mig.str('uuid'), { VCPU: 1, MEMORY_MB: 128 });
  await prepResize(c.deps, c.ctx, argsFor(inst, { migration: mig.toPrimitive(), flavor: NEW_FLAVOR.toPrimitive(), clean_shutdown: true }));
  mig.set('status', 'finished');
  return { uuid: inst.str('uuid'), mig };
}

describe('resize', () => {
  it('prep_resize: the migration and task states through finish, the new flavor applied in place, vm_state resized', async () => {
    const c = fakeCompute();
    const { uuid } = await resized(c);
    assert.deepEqual(c.conductor.actions('Migration').map((m) => m.status), ['pre-migrating', 'migrating', 'post-migrating', 'finished']);
    assert.deepEqual(c.store.taskStates(uuid), [TaskState.RESIZE_MIGRATING, TaskState.RESIZE_MIGRATED, TaskState.RESIZE_FINISH, null]);
    assert.deepEqual(c.store.savesOf(uuid).map((s) => s.expected).filter(Boolean),
      [[TaskState.RESIZE_PREP], [TaskState.RESIZE_MIGRATING], [TaskState.RESIZE_MIGRATED], [TaskState.RESIZE_FINISH]]);
    assert.deepEqual(c.driver.instances.get(uuid)?.limits, { vcpus: 2, memoryMb: 256, pids: 2 * 1024, rootGb: 5 });
    const record = c.store.record(uuid);
    assert.equal(record.get('vm_state'), VmState.RESIZED);
    assert.equal(record.get('vcpus'), 2);
    assert.equal(record.obj('old_flavor')?.get('name'), 'm1.small');
    assert.equal(record.obj('flavor')?.get('name'), 'm1.medium');
    assert.deepEqual(record.get('system_metadata'), { old_vm_state: VmState.ACTIVE });
  });

  it('confirm_resize: migration confirmed, its allocation deleted, back to ACTIVE, stashed flavors dropped', async () => {
    const c = fakeCompute();
    const { uuid, mig } = await resized(c);
    await confirmResize(c.deps, c.ctx, argsFor(await c.store.get(c.ctx, uuid), { migration: mig.toPrimitive() }));
    assert.equal(c.conductor.actions('Migration').at(-1)?.status, 'confirmed');
    assert.equal(c.placement.allocations.has(mig.str('uuid')), false);
    const record = c.store.record(uuid);
    assert.equal(record.get('vm_state'), VmState.ACTIVE);
    assert.equal(record.get('power_state'), PowerState.RUNNING);
    assert.equal(record.get('old_flavor'), null);
    assert.equal(record.get('new_flavor'), null);
    assert.deepEqual(record.get('system_metadata'), {});
  });

  it('revert_resize: the old flavor and its limits back, the allocation moved back to the instance', async () => {
    const c = fakeCompute();
    const { uuid, mig } = await resized(c);
    c.store.record(uuid).set('task_state', TaskState.RESIZE_REVERTING);
    await revertResize(c.deps, c.ctx, argsFor(await c.store.get(c.ctx, uuid), { migration: mig.toPrimitive() }));
    assert.equal(c.conductor.actions('Migration').at(-1)?.status, 'reverted');
    assert.deepEqual(c.placement.callsOf('moveAllocations'), [[mig.str('uuid'), uuid]]);
    assert.deepEqual(c.driver.instances.get(uuid)?.limits, { vcpus: 1, memoryMb: 128, pids: 1024, rootGb: 1 });
    const record = c.store.record(uuid);
    assert.equal(record.get('vm_state'), VmState.ACTIVE);
    assert.equal(record.get('task_state'), null);
    assert.equal(record.obj('flavor')?.get('name'), 'm1.small');
  });

  it('the new limits failing to apply: a fault, the task_state cleared, the instance in ERROR and the migration in error', async () => {
    const c = fakeCompute();
    c.driver.fail('updateLimits', new Error('cgroup refused'));
    const inst = c.addInstance({ task_state: TaskState.RESIZE_PREP });
    const mig = migration('pre-migrating');
    await assert.rejects(prepResize(c.deps, c.ctx, argsFor(inst, { migration: mig.toPrimitive(), flavor: NEW_FLAVOR.toPrimitive() })), /cgroup refused/);
    assert.equal(c.store.faults.length, 1);
    const record = c.store.record(inst.str('uuid'));
    assert.equal(record.get('task_state'), null);
    assert.equal(record.get('vm_state'), VmState.ERROR, 'its recorded flavor is not what it runs');
    assert.equal(c.conductor.actions('Migration').at(-1)?.status, 'error');
  });

  it('a resize to another host is not supported: a fault, the task_state cleared', async () => {
    const c = fakeCompute();
    const inst = c.addInstance({ task_state: TaskState.RESIZE_PREP });
    inst.set('host', 'other-host');
    await assert.rejects(prepResize(c.deps, c.ctx, argsFor(inst, { migration: migration('pre-migrating').toPrimitive(), flavor: NEW_FLAVOR.toPrimitive() })),
      { name: 'NotImplementedError' });
    assert.equal(c.store.faults.length, 1);
    assert.equal(c.store.record(inst.str('uuid')).get('task_state'), null);
  });
});
