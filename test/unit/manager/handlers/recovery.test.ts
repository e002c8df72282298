/**
 * Start-up recovery against in-memory fakes: whatever task an instance was in when the
 * service stopped, it ends with no task_state (builds in ERROR, deletes finished, stops and
 * starts redone, the rest cleared), and what the driver runs for no instance of this host is
 * reported, or removed when asked.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { recoverOnStartup } from '../../../../src/nova-driver/manager/recovery.js';
import { PowerState, TaskState, VmState } from '../../../../src/nova-driver/manager/states.js';
import { NovaObject, type FieldValue } from '../../../../src/nova-driver/objects/versioned-object.js';
import { fakeCompute, infoCache, HOST, PROVIDER } from '../../../helpers/fake-compute.js';
import { fakeVif } from '../../../helpers/fake-services.js';

const BUILD_TASKS = [TaskState.SCHEDULING, TaskState.BLOCK_DEVICE_MAPPING, TaskState.NETWORKING, TaskState.SPAWNING];
const REDONE = [TaskState.POWERING_OFF, TaskState.POWERING_ON];
const CLEARED = Object.values(TaskState).filter((t) => !BUILD_TASKS.includes(t as never) && !REDONE.includes(t as never) && t !== TaskState.DELETING);

describe('recoverOnStartup', () => {
  for (const task of [null, ...BUILD_TASKS]) {
    it(`a build interrupted in ${task ?? 'BUILD'} goes to ERROR with a fault; its remains, ports and allocation go`, async () => {
      const c = fakeCompute();
      const inst = c.addInstance({ vm_state: VmState.BUILDING, task_state: task }, { state: PowerState.NOSTATE });
      const uuid = inst.str('uuid');
      const report = await recoverOnStartup(c.deps, c.ctx, false);
      assert.deepEqual(report.erroredBuilds, [uuid]);
      const record = c.store.record(uuid);
      assert.equal(record.get('vm_state'), VmState.ERROR);
      assert.equal(record.get('task_state'), null);
      assert.match((c.store.faults[0].error as Error).message, /interrupted by a restart/);
      assert.equal(c.driver.instances.has(uuid), false);
      assert.deepEqual(c.ports.callsOf('deallocate').map(([u]) => u), [uuid]);
      assert.equal(c.placement.allocations.has(uuid), false);
    });
  }

  const deletes: Record<string, Record<string, FieldValue>> = {
    'deleting': { task_state: TaskState.DELETING },
    'DELETED (destroy not done)': { vm_state: VmState.DELETED, task_state: null },
  };
  for (const [name, fields] of Object.entries(deletes)) {
    it(`an instance left ${name} finishes deleting`, async () => {
      const c = fakeCompute();
      const uuid = c.addInstance(fields).str('uuid');
      const report = await recoverOnStartup(c.deps, c.ctx, false);
      assert.deepEqual(report.finishedDeletes, [uuid]);
      assert.deepEqual(c.store.destroyed, [uuid]);
      assert.equal(c.driver.instances.has(uuid), false);
      assert.deepEqual(report.orphans, []);
    });
  }

  it('powering-off is redone: stopped', async () => {
    const c = fakeCompute();
    const uuid = c.addInstance({ task_state: TaskState.POWERING_OFF }).str('uuid');
    await recoverOnStartup(c.deps, c.ctx, false);
    assert.deepEqual(c.driver.callsOf('powerOff').map(([u]) => u), [uuid]);
    const record = c.store.record(uuid);
    assert.equal(record.get('vm_state'), VmState.STOPPED);
    assert.equal(record.get('power_state'), PowerState.SHUTDOWN);
    assert.equal(record.get('task_state'), null);
  });

  it('powering-on is redone: running, its network made from the cached VIFs if it is gone', async () => {
    const c = fakeCompute();
    const inst = c.addInstance({ vm_state: VmState.STOPPED, task_state: TaskState.POWERING_ON }, { state: PowerState.SHUTDOWN, sandbox: false });
    const uuid = inst.str('uuid');
    c.store.record(uuid).set('info_cache', infoCache(uuid, [fakeVif('p1')]));
    await recoverOnStartup(c.deps, c.ctx, false);
    const record = c.store.record(uuid);
    assert.equal(record.get('vm_state'), VmState.ACTIVE);
    assert.equal(record.get('power_state'), PowerState.RUNNING);
    assert.equal(record.get('task_state'), null);
    assert.deepEqual(c.driver.instances.get(uuid)?.vifs.map((v) => v.id), ['p1']);
  });

  for (const task of REDONE) {
    it(`${task} of an instance the driver does not have is cleared`, async () => {
      const c = fakeCompute();
      const uuid = c.addInstance({ task_state: task }, null).str('uuid');
      await recoverOnStartup(c.deps, c.ctx, false);
      assert.equal(c.store.record(uuid).get('task_state'), null);
      assert.equal(c.store.record(uuid).get('power_state'), PowerState.NOSTATE);
    });
  }

  for (const task of CLEARED) {
    it(`${task} is cleared, the power state taken from the driver`, async () => {
      const c = fakeCompute();
      const uuid = c.addInstance({ task_state: task, power_state: PowerState.RUNNING }, { state: PowerState.SHUTDOWN }).str('uuid');
      const report = await recoverOnStartup(c.deps, c.ctx, false);
      assert.deepEqual(report.clearedTasks, [uuid]);
      assert.equal(c.store.record(uuid).get('task_state'), null);
      assert.equal(c.store.record(uuid).get('power_state'), PowerState.SHUTDOWN);
    });
  }

  it('a capture cut short: dropped here, its unfinished Glance image deleted; an active image kept', async () => {
    const c = fakeCompute();
    const cut = c.addInstance({ task_state: TaskState.IMAGE_UPLOADING }).str('uuid');
    const shelved = c.addInstance({ task_state: TaskState.SHELVING_IMAGE_UPLOADING }).str('uuid');
    const unfinished = await c.images.createImage(c.ctx, { name: 'snap' });
    const active = await c.images.createImage(c.ctx, { name: 'shelved' });
    c.images.glance.get(active)!.status = 'active';
    c.driver.captures = [{ instanceUuid: cut, imageId: unfinished }, { instanceUuid: shelved, imageId: active }];
    const report = await recoverOnStartup(c.deps, c.ctx, false);
    assert.deepEqual(report.droppedCaptures, [unfinished, active]);
    assert.deepEqual(c.driver.captures, []);
    assert.deepEqual([...c.images.glance.keys()], [active]);
    assert.equal(c.store.record(cut).get('task_state'), null);
    assert.deepEqual(c.logs.find('a capture cut short by the stop: dropped, its unfinished Glance image deleted').map((l) => l.image), [unfinished]);
  });

  it('captures of an instance deleted while the service was down, of one now idle on another host, and of an older version go; one mid-snapshot on another host keeps its own', async () => {
    const c = fakeCompute();
    const gone = c.addInstance({ task_state: TaskState.IMAGE_UPLOADING }).str('uuid');
    c.store.remove(gone);
    const moved = c.addInstance({ host: 'other-host' }, null).str('uuid');
    const busy = c.addInstance({ host: 'other-host', task_state: TaskState.IMAGE_UPLOADING }, null).str('uuid');
    const [ofGone, ofMoved, ofOld, ofBusy] = await Promise.all(['a', 'b', 'c', 'd'].map((name) => c.images.createImage(c.ctx, { name })));
    const another = { instanceUuid: busy, imageId: ofBusy };
    c.driver.captures = [{ instanceUuid: gone, imageId: ofGone }, { instanceUuid: moved, imageId: ofMoved }, { instanceUuid: null, imageId: ofOld }, another];
    const report = await recoverOnStartup(c.deps, c.ctx, false);
    assert.deepEqual(report.droppedCaptures, [ofGone, ofMoved, ofOld]);
    assert.deepEqual(c.driver.captures, [another]);
    assert.deepEqual([...c.images.glance.keys()], [ofBusy]);
  });

  it('a capture whose instance cannot be looked up now is kept for the next start', async () => {
    const c = fakeCompute();
    const image = await c.images.createImage(c.ctx, { name: 'a' });
    const capture = { instanceUuid: randomUUID(), imageId: image };
    c.driver.captures = [capture];
    c.store.on('get', () => { throw new Error('conductor timeout'); });
    const report = await recoverOnStartup(c.deps, c.ctx, false);
    assert.deepEqual(report.droppedCaptures, []);
    assert.deepEqual(c.driver.captures, [capture]);
    assert.deepEqual([...c.images.glance.keys()], [image]);
    assert.deepEqual(c.logs.find('could not clear a capture cut short by the stop: tried again at the next start').map((l) => l.err), ['conductor timeout']);
  });

  it('a capture whose Glance image cannot be dealt with now is kept for the next start; the others are cleared', async () => {
    const c = fakeCompute();
    const a = c.addInstance({ task_state: TaskState.IMAGE_UPLOADING }).str('uuid');
    const b = c.addInstance({ task_state: TaskState.IMAGE_UPLOADING }).str('uuid');
    const imageA = await c.images.createImage(c.ctx, { name: 'a' });
    const imageB = await c.images.createImage(c.ctx, { name: 'b' });
    c.driver.captures = [{ instanceUuid: a, imageId: imageA }, { instanceUuid: b, imageId: imageB }];
    c.images.on('deleteImage', (_ctx, id) => { if (id === imageA) throw new Error('glance down'); });
    const report = await recoverOnStartup(c.deps, c.ctx, false);
    assert.deepEqual(report.droppedCaptures, [imageB]);
    assert.deepEqual(c.driver.captures, [{ instanceUuid: a, imageId: imageA }], 'kept: the next start finds it again');
    assert.deepEqual([...c.images.glance.keys()], [imageA]);
    assert.deepEqual(c.logs.find('could not clear a capture cut short by the stop: tried again at the next start').map((l) => [l.image, l.err]), [[imageA, 'glance down']]);
  });

  it('a failure to list the captures cut short is logged, and the start goes on', async () => {
    const c = fakeCompute();
    const orphan = randomUUID();
    c.driver.add(orphan);
    c.driver.fail('interruptedCaptures', new Error('engine gone'));
    const report = await recoverOnStartup(c.deps, c.ctx, false);
    assert.deepEqual(report.orphans, [orphan]);
    assert.deepEqual(c.logs.find('could not look for captures cut short by the stop').map((l) => l.err), ['engine gone']);
  });

  it('an instance without a task is left alone', async () => {
    const c = fakeCompute();
    c.addInstance();
    await recoverOnStartup(c.deps, c.ctx, false);
    assert.deepEqual(c.store.saves, []);
  });

  it('a build whose cast arrived just before a crash (BUILD, no host, our allocation) goes to ERROR', async () => {
    const c = fakeCompute();
    const uuid = c.addInstance({ vm_state: VmState.BUILDING, task_state: TaskState.SCHEDULING, host: null, node: null }, null).str('uuid');
    c.placement.allocations.set(randomUUID(), { VCPU: 1 }); // a migration's, or a deleted instance's: not ours to fix
    const report = await recoverOnStartup(c.deps, c.ctx, false);
    assert.deepEqual(report.erroredBuilds, [uuid]);
    assert.equal(c.store.record(uuid).get('vm_state'), VmState.ERROR);
    assert.equal(c.placement.allocations.has(uuid), false);
  });

  it('reports what the driver runs for no instance of this host, and removes it only when asked', async () => {
    const c = fakeCompute();
    const known = c.addInstance().str('uuid');
    const orphan = randomUUID();
    c.driver.add(orphan);
    const kept = await recoverOnStartup(c.deps, c.ctx, false);
    assert.deepEqual(kept.orphans, [orphan]);
    assert.deepEqual(kept.removedOrphans, []);
    assert.equal(c.driver.instances.has(orphan), true);
    const removed = await recoverOnStartup(c.deps, c.ctx, true);
    assert.deepEqual(removed.removedOrphans, [orphan]);
    assert.deepEqual([...c.driver.instances.keys()], [known]);
  });

  it('an orphan the driver cannot remove, or Placement down, is logged and does not stop the service from starting', async () => {
    const c = fakeCompute();
    const orphan = randomUUID();
    c.driver.add(orphan);
    c.driver.fail('destroy', new Error('engine refused'));
    c.placement.fail('providerAllocations', new Error('Placement answered 503'));
    const report = await recoverOnStartup(c.deps, c.ctx, true);
    assert.deepEqual(report.orphans, [orphan]);
    assert.deepEqual(report.removedOrphans, []);
    assert.equal(c.logs.find(/could not remove an instance that belongs to no instance record/).length, 1);
    assert.equal(c.logs.find(/could not look for builds that never started/).length, 1);
  });

  it('one instance whose recovery fails does not stop the others', async () => {
    const c = fakeCompute();
    const failing = c.addInstance({ task_state: TaskState.POWERING_OFF }).str('uuid');
    const other = c.addInstance({ task_state: TaskState.IMAGE_UPLOADING }).str('uuid');
    c.driver.on('powerOff', (uuid) => { if (uuid === failing) throw new Error('engine refused'); });
    await recoverOnStartup(c.deps, c.ctx, false);
    assert.equal(c.store.record(other).get('task_state'), null);
  });

  for (const task of REDONE) {
    it(`${task} whose retry fails is cleared, as Nova's stop/start revert their task_state`, async () => {
      const c = fakeCompute();
      const uuid = c.addInstance({ task_state: task }).str('uuid');
      c.driver.fail(task === TaskState.POWERING_OFF ? 'powerOff' : 'powerOn', new Error('engine refused'));
      await recoverOnStartup(c.deps, c.ctx, false);
      assert.equal(c.store.record(uuid).get('task_state'), null);
      assert.equal(c.store.record(uuid).get('vm_state'), VmState.ACTIVE);
    });
  }

  it('a delete that cannot finish leaves the instance in ERROR with a fault, as terminate_instance does', async () => {
    const c = fakeCompute();
    const uuid = c.addInstance({ task_state: TaskState.DELETING }).str('uuid');
    c.driver.fail('destroy', new Error('could not remove device tapx'));
    await recoverOnStartup(c.deps, c.ctx, false);
    const record = c.store.record(uuid);
    assert.equal(record.get('vm_state'), VmState.ERROR);
    assert.equal(record.get('task_state'), null);
    assert.match((c.store.faults[0]?.error as Error)?.message, /tapx/);
  });

  it('an instance evacuated from here while the host was down: its copy removed, this host\'s share of its allocation given back, the migration completed; not an orphan', async () => {
    const c = fakeCompute();
    const inst = c.addInstance({ host: 'other-host', node: 'other-host' });
    const uuid = inst.str('uuid');
    const mig = new NovaObject('Migration', '1.7', { id: 3, uuid: randomUUID(), instance_uuid: uuid, status: 'done', migration_type: 'evacuation', source_compute: HOST });
    c.conductor.classResults.set('MigrationList.get_by_filters', new NovaObject('MigrationList', '1.5', { objects: [mig] }));
    const report = await recoverOnStartup(c.deps, c.ctx, true);
    assert.deepEqual(report.evacuated, [uuid]);
    assert.deepEqual(report.orphans, []);
    assert.equal(c.driver.instances.has(uuid), false);
    assert.deepEqual(c.placement.callsOf('removeProviderFromConsumer'), [[uuid, PROVIDER]]);
    assert.equal(c.conductor.actions('Migration').at(-1)?.status, 'completed');
    const [filters] = c.conductor.callsOf('classAction').find((x) => x[1] === 'MigrationList')?.[3] ?? [];
    assert.deepEqual(filters, { source_compute: HOST, status: ['accepted', 'pre-migrating', 'done'], migration_type: 'evacuation' });
  });

  it('an evacuation from here still under way (its instance still recorded here, rebuilding) is left to its destination: nothing recovered, no copy here', async () => {
    const c = fakeCompute();
    const inst = c.addInstance({ task_state: TaskState.REBUILDING });
    const uuid = inst.str('uuid');
    const mig = new NovaObject('Migration', '1.7', { id: 4, uuid: randomUUID(), instance_uuid: uuid, status: 'pre-migrating', migration_type: 'evacuation', source_compute: HOST });
    c.conductor.classResults.set('MigrationList.get_by_filters', new NovaObject('MigrationList', '1.5', { objects: [mig] }));
    const report = await recoverOnStartup(c.deps, c.ctx, false);
    assert.deepEqual(report.clearedTasks, []);
    assert.equal(c.store.record(uuid).get('task_state'), TaskState.REBUILDING, 'the destination\'s next save expects it');
    assert.equal(c.driver.instances.has(uuid), false);
  });

  it('the listing of what this host runs failing: evacuations are not completed (the next start looks again)', async () => {
    const c = fakeCompute();
    const inst = c.addInstance({ host: 'other-host' });
    const mig = new NovaObject('Migration', '1.7', { id: 5, uuid: randomUUID(), instance_uuid: inst.str('uuid'), status: 'done', migration_type: 'evacuation', source_compute: HOST });
    c.conductor.classResults.set('MigrationList.get_by_filters', new NovaObject('MigrationList', '1.5', { objects: [mig] }));
    c.driver.fail('listInstances', new Error('engine unreachable'));
    await recoverOnStartup(c.deps, c.ctx, false);
    assert.deepEqual(c.conductor.actions('Migration'), []);
    assert.deepEqual(c.placement.callsOf('removeProviderFromConsumer'), []);
  });

  it('an instance evacuated from here and deleted since: its copy removed, its migration left as it is', async () => {
    const c = fakeCompute();
    const uuid = randomUUID();
    c.driver.add(uuid);
    const mig = new NovaObject('Migration', '1.7', { id: 6, uuid: randomUUID(), instance_uuid: uuid, status: 'done', migration_type: 'evacuation', source_compute: HOST });
    c.conductor.classResults.set('MigrationList.get_by_filters', new NovaObject('MigrationList', '1.5', { objects: [mig] }));
    const report = await recoverOnStartup(c.deps, c.ctx, false);
    assert.deepEqual(report.evacuated, [uuid]);
    assert.equal(c.driver.instances.has(uuid), false);
    assert.deepEqual(c.conductor.actions('Migration'), []);
    const [ctx] = c.conductor.callsOf('classAction')[0];
    assert.equal(ctx.read_deleted, 'yes', 'deleted instances\' migrations are looked for too');
  });
});
