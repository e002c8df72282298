/**
 * rebuild_instance against in-memory fakes: rebuilding -> rebuild_block_device_mapping ->
 * rebuild_spawning -> none, a stopped instance rebuilt without starting it; a failure ends
 * in ERROR with a fault; an evacuation (recreate) makes the instance here from its image.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { rebuildInstance } from '../../../../src/nova-driver/manager/rebuild.js';
import { PowerState, TaskState, VmState } from '../../../../src/nova-driver/manager/states.js';
import { NovaObject, type FieldValue } from '../../../../src/nova-driver/objects/versioned-object.js';
import { argsFor, fakeCompute, HOST, PROVIDER } from '../../../helpers/fake-compute.js';
import { fakeVif } from '../../../helpers/fake-services.js';

/** An evacuation's first save sets the instance's migration context (with the migration's id), its last one drops it. */
function assertMigrationContextHeld(saves: { fields: Record<string, FieldValue> }[], uuid: string, migrationId: number): void {
  const held = saves.filter((x) => 'migration_context' in x.fields).map((x) => x.fields.migration_context);
  assert.equal(held.length, 2, 'set once and dropped once');
  const ctx = held[0] as NovaObject;
  assert.deepEqual([ctx.name, ctx.get('instance_uuid'), ctx.get('migration_id'), ctx.get('new_pci_devices')], ['MigrationContext', uuid, migrationId, null]);
  assert.equal(held[1], null);
  assert.equal('migration_context' in saves[0].fields, true, 'set in the evacuation\'s first save');
}

describe('rebuild_instance', () => {
  it('gives the instance a new workload from image_ref through Nova\'s rebuild task states', async () => {
    const c = fakeCompute();
    c.images.glance.set('img-2', { id: 'img-2', status: 'active' });
    const inst = c.addInstance({ task_state: TaskState.REBUILDING });
    const uuid = inst.str('uuid');
    await rebuildInstance(c.deps, c.ctx, argsFor(inst, { image_ref: 'img-2', recreate: false }));
    assert.deepEqual(c.store.taskStates(uuid), [TaskState.REBUILDING, TaskState.REBUILD_BLOCK_DEVICE_MAPPING, TaskState.REBUILD_SPAWNING, null]);
    assert.deepEqual(c.store.savesOf(uuid).map((s) => s.expected),
      [[TaskState.REBUILDING], [TaskState.REBUILDING], [TaskState.REBUILD_BLOCK_DEVICE_MAPPING], [TaskState.REBUILD_SPAWNING]]);
    const [[spec, image, , stopped]] = c.driver.callsOf('rebuild');
    assert.equal(spec.uuid, uuid);
    assert.equal(image.id, 'img-2');
    assert.equal(stopped, false);
    const record = c.store.record(uuid);
    assert.equal(record.get('vm_state'), VmState.ACTIVE);
    assert.equal(record.get('power_state'), PowerState.RUNNING);
    assert.equal(c.driver.instances.get(uuid)?.imageId, 'img-2');
  });

  it('a stopped instance stays stopped', async () => {
    const c = fakeCompute();
    c.images.glance.set('img-2', { id: 'img-2', status: 'active' });
    const inst = c.addInstance({ vm_state: VmState.STOPPED, power_state: PowerState.SHUTDOWN, task_state: TaskState.REBUILDING }, { state: PowerState.SHUTDOWN });
    await rebuildInstance(c.deps, c.ctx, argsFor(inst, { image_ref: 'img-2' }));
    assert.equal(c.driver.callsOf('rebuild')[0][3], true);
    assert.equal(c.store.record(inst.str('uuid')).get('vm_state'), VmState.STOPPED);
    assert.equal(c.driver.instances.get(inst.str('uuid'))?.state, PowerState.SHUTDOWN);
  });

  it('an image Glance does not have puts the instance in ERROR with a fault', async () => {
    const c = fakeCompute();
    const inst = c.addInstance({ task_state: TaskState.REBUILDING });
    await assert.rejects(rebuildInstance(c.deps, c.ctx, argsFor(inst, { image_ref: 'img-gone' })), { name: 'ImageNotFound' });
    const record = c.store.record(inst.str('uuid'));
    assert.equal(record.get('vm_state'), VmState.ERROR);
    assert.equal(record.get('task_state'), null);
    assert.equal(c.store.faults.length, 1);
    assert.equal(c.driver.callsOf('rebuild').length, 0);
  });

  it('evacuation (recreate) from a host that is down: made here from its image, its ports bound here (waiting for network-vif-plugged under a migration context), this host\'s; the migration done', async () => {
    const c = fakeCompute();
    c.images.glance.set('img-1', { id: 'img-1', status: 'active' });
    const inst = c.addInstance({ host: 'down-host', node: 'down-host', task_state: TaskState.REBUILDING }, null);
    const uuid = inst.str('uuid');
    c.ports.byInstance.set(uuid, [fakeVif('port-1')]);
    const mig = new NovaObject('Migration', '1.7', { id: 9, uuid: randomUUID(), status: 'accepted', migration_type: 'evacuation', source_compute: 'down-host' });
    await rebuildInstance(c.deps, c.ctx, argsFor(inst, { image_ref: 'img-1', recreate: true, migration: mig.toPrimitive() }));
    assert.equal(c.driver.callsOf('spawn')[0][0].image.id, 'img-1');
    assert.equal(c.driver.instances.get(uuid)?.state, PowerState.RUNNING);
    assert.equal(c.ports.boundTo.get(uuid), HOST);
    assert.deepEqual(c.store.taskStates(uuid), [TaskState.REBUILDING, TaskState.REBUILD_BLOCK_DEVICE_MAPPING, TaskState.REBUILD_SPAWNING, null]);
    const record = c.store.record(uuid);
    assert.deepEqual([record.get('host'), record.get('vm_state')], [HOST, VmState.ACTIVE]);
    assert.deepEqual(c.conductor.actions('Migration').map((m) => [m.status, m.dest_compute]), [['pre-migrating', HOST], ['done', HOST]]);
    assert.equal(c.driver.callsOf('spawn')[0][0].waitForVifs, true);
    assertMigrationContextHeld(c.store.savesOf(uuid), uuid, 9);
  });

  it('an evacuation whose spawn fails: ERROR, the migration failed, this host\'s share of the allocation given back, nothing left here', async () => {
    const c = fakeCompute();
    c.images.glance.set('img-1', { id: 'img-1', status: 'active' });
    const inst = c.addInstance({ host: 'down-host', task_state: TaskState.REBUILDING }, null);
    const uuid = inst.str('uuid');
    const mig = new NovaObject('Migration', '1.7', { id: 9, uuid: randomUUID(), status: 'accepted', migration_type: 'evacuation', source_compute: 'down-host' });
    c.driver.fail('spawn', new Error('engine refused the create'));
    await assert.rejects(rebuildInstance(c.deps, c.ctx, argsFor(inst, { recreate: true, migration: mig.toPrimitive() })), /engine refused/);
    assert.equal(c.store.record(uuid).get('vm_state'), VmState.ERROR);
    assertMigrationContextHeld(c.store.savesOf(uuid), uuid, 9);
    assert.equal(c.conductor.actions('Migration').at(-1)?.status, 'failed');
    assert.deepEqual(c.placement.callsOf('removeProviderFromConsumer'), [[uuid, PROVIDER]]);
    assert.deepEqual(c.driver.callsOf('destroy').map((x) => x[0]), [uuid]);
  });

  it('an evacuation to a host that already has the instance is refused (InstanceExists): the migration failed, this host\'s share given back, its copy here kept', async () => {
    const c = fakeCompute();
    const inst = c.addInstance({ host: 'down-host', task_state: TaskState.REBUILDING });
    const mig = new NovaObject('Migration', '1.7', { id: 9, uuid: randomUUID(), status: 'accepted', migration_type: 'evacuation', source_compute: 'down-host' });
    await assert.rejects(rebuildInstance(c.deps, c.ctx, argsFor(inst, { recreate: true, migration: mig.toPrimitive() })), { name: 'InstanceExists' });
    assert.equal(c.driver.callsOf('spawn').length, 0);
    assert.equal(c.driver.callsOf('destroy').length, 0, 'what was here before is not this evacuation\'s to remove');
    assert.equal(c.conductor.actions('Migration').at(-1)?.status, 'failed');
    assert.equal(c.placement.callsOf('removeProviderFromConsumer').length, 1);
  });

  it('a failure before the rebuild starts (the driver cannot be asked) clears the task_state', async () => {
    const c = fakeCompute();
    const inst = c.addInstance({ task_state: TaskState.REBUILDING });
    c.driver.fail('getInfo', new Error('engine unreachable'));
    await assert.rejects(rebuildInstance(c.deps, c.ctx, argsFor(inst, { image_ref: 'img-1' })), /engine unreachable/);
    assert.equal(c.store.record(inst.str('uuid')).get('task_state'), null);
  });
});
