/**
 * Resize on this host against in-memory fakes: prep_resize runs the source and destination
 * halves in place (migration pre-migrating -> migrating -> post-migrating -> finished, task
 * states resize_prep -> resize_migrating -> resize_migrated -> resize_finish -> none, vm_state
 * resized, the new flavor's limits applied), then confirm_resize or revert_resize.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { confirmResize, finishResize, finishRevertResize, prepResize, resizeInstance, revertResize } from '../../../../src/nova-driver/manager/resize.js';
import { recoverOnStartup, type RecoveryReport } from '../../../../src/nova-driver/manager/recovery.js';
import { KeyedLock } from '../../../../src/common/keyed-lock.js';
import { PowerState, TaskState, VmState } from '../../../../src/nova-driver/manager/states.js';
import { NovaObject, type FieldValue, type ObjectPrimitive } from '../../../../src/nova-driver/objects/versioned-object.js';
import { argsFor, fakeCompute, flavorObject, HOST, infoCache, type FakeCompute } from '../../../helpers/fake-compute.js';
import { fakeVif } from '../../../helpers/fake-services.js';

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

/** Makes `method` of `c`'s driver never return: the service dies there. */
function diesIn(c: FakeCompute, method: 'snapshot' | 'spawn' | 'powerOn' | 'updateLimits'): void {
  c.driver.on(method, () => new Promise<never>(() => undefined));
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), what);
}

/**
 * The service of `c` started again (its locks new, its driver's calls returning again) and
 * its start-up recovery run, the database holding the move's migration as last saved, after an
 * older, confirmed move of the same instance (listed first: the newest must be found).
 */
async function restart(c: FakeCompute, mig: Record<string, FieldValue>): Promise<RecoveryReport> {
  c.deps.locks = new KeyedLock();
  for (const m of ['snapshot', 'spawn', 'powerOn', 'updateLimits'] as const) c.driver.on(m, () => undefined);
  const migration = new NovaObject('Migration', '1.7', { migration_type: 'migration', ...mig });
  const older = new NovaObject('Migration', '1.7', { ...migration.fields, id: 1, uuid: randomUUID(), status: 'confirmed' });
  c.conductor.classResults.set('MigrationList.get_by_filters', (args) =>
    new NovaObject('MigrationList', '1.5', { objects: (args[0] as { migration_type?: string }).migration_type === 'evacuation' ? [] : [older, migration] }));
  return recoverOnStartup(c.deps, c.ctx, true);
}

/** Migration.get_by_id answers the migration as last saved (a queued cast's re-read). */
function storedMigration(c: FakeCompute): void {
  c.conductor.classResults.set('Migration.get_by_id', () => new NovaObject('Migration', '1.7', lastMigration(c)));
}

/** The fields of the migration as last saved. */
const lastMigration = (c: FakeCompute) => ({ ...c.conductor.actions('Migration').at(-1) });

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

  it('a restart mid-resize (the new limits being applied): back to its old flavor and limits, ACTIVE, the migration in error, its allocation back', async () => {
    const c = fakeCompute();
    const inst = c.addInstance({ task_state: TaskState.RESIZE_PREP });
    const uuid = inst.str('uuid');
    const mig = migration('pre-migrating');
    c.placement.allocations.set(mig.str('uuid'), { VCPU: 1, MEMORY_MB: 128 });
    c.placement.allocations.set(uuid, { VCPU: 2, MEMORY_MB: 256 });
    diesIn(c, 'updateLimits');
    void prepResize(c.deps, c.ctx, argsFor(inst, { migration: mig.toPrimitive(), flavor: NEW_FLAVOR.toPrimitive(), clean_shutdown: true }));
    await until('the new limits being applied', () => c.driver.callsOf('updateLimits').length === 1);
    assert.equal(c.store.record(uuid).get('task_state'), TaskState.RESIZE_FINISH);
    const report = await restart(c, lastMigration(c));
    assert.deepEqual(report.resumedMoves, [uuid]);
    assert.deepEqual(c.driver.callsOf('updateLimits').map(([, l]) => l.vcpus), [2, 1], 'the old flavor\'s limits applied again');
    assert.equal(c.driver.instances.get(uuid)?.limits?.vcpus, 1);
    assert.equal(c.driver.instances.get(uuid)?.state, PowerState.RUNNING);
    assert.deepEqual(c.placement.allocations.get(uuid), { VCPU: 1, MEMORY_MB: 128 });
    assert.equal(c.placement.allocations.has(mig.str('uuid')), false);
    assert.equal(lastMigration(c).status, 'error');
    const record = c.store.record(uuid);
    assert.deepEqual([record.get('vm_state'), record.get('task_state'), record.get('vcpus'), record.obj('flavor')?.get('name')], [VmState.ACTIVE, null, 1, 'm1.small']);
    assert.equal(record.get('new_flavor'), null);
    assert.equal(record.get('old_flavor'), null);
  });

  it('a restart mid-revert (resize_reverting, the migration reverting): the revert finished; the revert_resize still queued then does nothing', async () => {
    const c = fakeCompute();
    const { uuid, mig } = await resized(c);
    const inst = await c.store.get(c.ctx, uuid);
    await c.store.save(c.ctx, inst, { task_state: TaskState.RESIZE_REVERTING });
    mig.set('status', 'reverting');
    const report = await restart(c, { ...mig.fields });
    assert.deepEqual(report.resumedMoves, [uuid]);
    assert.equal(lastMigration(c).status, 'reverted');
    assert.deepEqual(c.driver.callsOf('updateLimits').map(([, l]) => l.vcpus), [2, 1], 'the old flavor\'s limits applied again');
    assert.deepEqual(c.placement.allocations.get(uuid), { VCPU: 1, MEMORY_MB: 128 });
    const record = c.store.record(uuid);
    assert.deepEqual([record.get('vm_state'), record.get('task_state'), record.obj('flavor')?.get('name')], [VmState.ACTIVE, null, 'm1.small']);
    storedMigration(c);
    const finishes = () => c.store.actionEvents.filter((e) => e.event === 'compute_finish_revert_resize').length;
    const before = finishes();
    await revertResize(c.deps, c.ctx, argsFor(inst, { migration: mig.toPrimitive() }));
    assert.equal(finishes(), before, 'no second finish_revert_resize');
    assert.deepEqual(c.store.faults, [], 'no fault');
    assert.equal(c.driver.callsOf('updateLimits').length, 2, 'nothing applied again');
    assert.deepEqual([c.store.record(uuid).get('vm_state'), c.store.record(uuid).get('task_state')], [VmState.ACTIVE, null]);
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

});

/**
 * A move between two hosts (cold migration, or a resize the scheduler put elsewhere) on two
 * fake hosts of one cloud: each step runs on the host Nova sends it to and casts the next,
 * which the test delivers to the other host.
 */
describe('resize to another host', () => {
  const SRC = 'src-host';
  const DST = 'dst-host';

  interface Move { src: FakeCompute; dst: FakeCompute; uuid: string; mig: NovaObject }

  function twoHosts(): { src: FakeCompute; dst: FakeCompute } {
    const src = fakeCompute({ host: SRC });
    return { src, dst: fakeCompute({ host: DST, cloudOf: src }) };
  }

  /** The one cast `c` sent, which must be `method` to `host`. */
  function castOf(c: FakeCompute, method: string, host: string): Record<string, unknown> {
    const casts = c.computeRpc.casts.filter((x) => x.method === method);
    assert.equal(casts.length, 1, `one ${method} cast`);
    assert.equal(casts[0].host, host);
    return casts[0].args;
  }

  /** An instance of SRC (in `vm`) with a port, prep_resize to DST done: resize_instance cast to SRC. */
  async function prepared(vm: string = VmState.ACTIVE): Promise<{ src: FakeCompute; dst: FakeCompute; uuid: string }> {
    const { src, dst } = twoHosts();
    const stopped = vm === VmState.STOPPED;
    const inst = src.addInstance({ host: SRC, node: SRC, vm_state: vm, task_state: TaskState.RESIZE_PREP, ...(stopped ? { power_state: PowerState.SHUTDOWN } : {}) },
      { state: stopped ? PowerState.SHUTDOWN : PowerState.RUNNING });
    const uuid = inst.str('uuid');
    const vif = fakeVif('port-1');
    src.ports.byInstance.set(uuid, [vif]);
    src.store.record(uuid).set('info_cache', infoCache(uuid, [vif]));
    inst.set('info_cache', infoCache(uuid, [vif]));
    const mig = new NovaObject('Migration', '1.7', {
      id: 7, uuid: randomUUID(), status: 'pre-migrating', migration_type: 'migration', source_compute: SRC, source_node: SRC,
    });
    // the conductor's allocation swap: the old flavor's resources held by the migration, the new flavor's by the instance
    src.placement.allocations.set(mig.str('uuid'), { VCPU: 1, MEMORY_MB: 128 });
    src.placement.allocations.set(uuid, { VCPU: 2, MEMORY_MB: 256 });
    await prepResize(dst.deps, dst.ctx, argsFor(inst, { migration: mig.toPrimitive(), flavor: NEW_FLAVOR.toPrimitive(), clean_shutdown: true, image: { id: 'img-1' } }));
    return { src, dst, uuid };
  }

  /** An instance of SRC with a port, moved to DST up to `until` (finish_resize delivered: vm_state resized). */
  async function moved(until: 'resize_instance' | 'finish_resize' = 'finish_resize'): Promise<Move> {
    const { src, dst, uuid } = await prepared();
    await resizeInstance(src.deps, src.ctx, castOf(dst, 'resize_instance', SRC));
    const finish = castOf(src, 'finish_resize', DST);
    if (until === 'finish_resize') await finishResize(dst.deps, dst.ctx, finish);
    const mig2 = NovaObject.fromPrimitive(finish.migration as ObjectPrimitive);
    mig2.set('status', 'finished');
    return { src, dst, uuid, mig: mig2 };
  }

  it('prep_resize on the destination, resize_instance on the source, finish_resize on the destination: the instance runs there from the captured image, its port bound there', async () => {
    const { src, dst, uuid } = await moved();
    assert.deepEqual(src.conductor.actions('Migration').map((m) => m.status), ['pre-migrating', 'migrating', 'post-migrating', 'finished']);
    assert.equal(src.conductor.actions('Migration')[0].dest_compute, DST);
    assert.deepEqual(src.store.taskStates(uuid), [TaskState.RESIZE_MIGRATING, TaskState.RESIZE_MIGRATED, TaskState.RESIZE_FINISH, null]);
    // the source: stopped, its network given up, and captured into a hidden Glance image, a delta over the instance's image
    assert.equal(src.driver.instances.get(uuid)?.state, PowerState.SHUTDOWN);
    assert.deepEqual(src.driver.callsOf('releaseNetwork').map(([u, vifs]) => [u, vifs.map((v) => v.id)]), [[uuid, ['port-1']]]);
    assert.deepEqual(src.driver.methods().filter((m) => m === 'powerOff' || m === 'releaseNetwork' || m === 'snapshot'), ['powerOff', 'releaseNetwork', 'snapshot']);
    const [created] = src.images.callsOf('createImage');
    assert.equal(created[1].os_hidden, true);
    const image = src.images.uploads[0];
    assert.equal(image.parentImageId, 'img-1');
    assert.equal(image.whole, false);
    assert.equal(src.images.glance.has(image.imageId), false, 'the move\'s image deleted once the destination made the instance from it');
    // the destination: spawned from that image with the new flavor, the port bound there
    const spawned = dst.driver.callsOf('spawn')[0][0];
    assert.equal(spawned.image.id, image.imageId);
    assert.equal(spawned.instance.limits.vcpus, 2);
    assert.deepEqual((await spawned.networkInfo).map((v) => v.id), ['port-1']);
    assert.equal(dst.driver.instances.get(uuid)?.state, PowerState.RUNNING);
    assert.equal(src.ports.boundTo.get(uuid), DST);
    const record = src.store.record(uuid);
    assert.equal(record.get('host'), DST);
    assert.equal(record.get('vm_state'), VmState.RESIZED);
    assert.equal(record.obj('flavor')?.get('name'), 'm1.medium');
    assert.equal(record.obj('old_flavor')?.get('name'), 'm1.small');
  });

  it('confirm_resize on the source: its stopped instance goes, the migration\'s allocation too; ACTIVE on the destination', async () => {
    const { src, dst, uuid, mig } = await moved();
    const image = src.images.uploads[0].imageId;
    mig.set('status', 'confirming'); // nova-api's, before its cast
    await confirmResize(src.deps, src.ctx, argsFor(await src.store.get(src.ctx, uuid), { migration: mig.toPrimitive() }));
    assert.equal(src.driver.instances.has(uuid), false, 'the source\'s container removed');
    assert.equal(dst.driver.instances.get(uuid)?.state, PowerState.RUNNING, 'the destination\'s runs on');
    assert.equal(src.images.glance.has(image), false, 'the move\'s image deleted');
    assert.equal(src.placement.allocations.has(mig.str('uuid')), false);
    assert.deepEqual(src.placement.allocations.get(uuid), { VCPU: 2, MEMORY_MB: 256 });
    const record = src.store.record(uuid);
    assert.equal(record.get('vm_state'), VmState.ACTIVE);
    assert.equal(record.get('host'), DST);
    assert.deepEqual(record.get('system_metadata'), {});
  });

  it('revert_resize on the destination, finish_revert_resize on the source: the destination\'s instance gone, the source\'s started again with its old flavor, port and allocation', async () => {
    const { src, dst, uuid, mig } = await moved();
    const image = src.images.uploads[0].imageId;
    const inst = await src.store.get(src.ctx, uuid);
    await src.store.save(src.ctx, inst, { task_state: TaskState.RESIZE_REVERTING });
    mig.set('status', 'reverting');
    await revertResize(dst.deps, dst.ctx, argsFor(inst, { migration: mig.toPrimitive() }));
    assert.equal(dst.driver.instances.has(uuid), false, 'the destination\'s container removed');
    let boundAtStart: string | undefined;
    src.driver.on('powerOn', () => { boundAtStart = src.ports.boundTo.get(uuid); });
    // Neutron's VIF as bound here now: the cache the cast carries is the destination's
    src.ports.byInstance.set(uuid, [{ ...fakeVif('port-1'), details: { bound: SRC } }]);
    await finishRevertResize(src.deps, src.ctx, castOf(dst, 'finish_revert_resize', SRC));
    assert.equal(src.driver.instances.get(uuid)?.state, PowerState.RUNNING, 'the source\'s started again');
    assert.equal(boundAtStart, SRC, 'its port bound back before its network is made again');
    assert.deepEqual(src.driver.instances.get(uuid)?.vifs.map((v) => [v.id, v.details.bound]), [['port-1', SRC]],
      'its network made again at its start, from its ports as bound here');
    assert.equal(src.ports.boundTo.get(uuid), SRC);
    assert.equal(src.images.glance.has(image), false);
    assert.deepEqual(src.placement.allocations.get(uuid), { VCPU: 1, MEMORY_MB: 128 }, 'the old flavor\'s allocation back on the instance');
    assert.equal(src.placement.allocations.has(mig.str('uuid')), false);
    assert.equal(src.conductor.actions('Migration').at(-1)?.status, 'reverted');
    const record = src.store.record(uuid);
    assert.equal(record.get('host'), SRC);
    assert.equal(record.get('vm_state'), VmState.ACTIVE);
    assert.equal(record.obj('flavor')?.get('name'), 'm1.small');
    assert.deepEqual(record.get('system_metadata'), {});
  });

  it('a capture that fails on the source: the instance stays there running, its allocation given back, the image deleted, nothing cast', async () => {
    const { src, dst } = twoHosts();
    const inst = src.addInstance({ host: SRC, node: SRC, task_state: TaskState.RESIZE_PREP });
    const uuid = inst.str('uuid');
    const mig = new NovaObject('Migration', '1.7', { id: 8, uuid: randomUUID(), status: 'pre-migrating', source_compute: SRC, source_node: SRC });
    src.placement.allocations.set(mig.str('uuid'), { VCPU: 1, MEMORY_MB: 128 });
    src.placement.allocations.set(uuid, { VCPU: 2, MEMORY_MB: 256 });
    await prepResize(dst.deps, dst.ctx, argsFor(inst, { migration: mig.toPrimitive(), flavor: NEW_FLAVOR.toPrimitive() }));
    src.driver.fail('snapshot', new Error('engine commit failed'));
    await assert.rejects(resizeInstance(src.deps, src.ctx, castOf(dst, 'resize_instance', SRC)), /engine commit failed/);
    assert.equal(src.driver.instances.get(uuid)?.state, PowerState.RUNNING);
    assert.deepEqual(src.placement.allocations.get(uuid), { VCPU: 1, MEMORY_MB: 128 });
    assert.equal(src.placement.allocations.has(mig.str('uuid')), false);
    assert.deepEqual([...src.images.glance.keys()], [], 'the move\'s image deleted');
    assert.deepEqual(src.computeRpc.casts, []);
    assert.equal(src.conductor.actions('Migration').at(-1)?.status, 'error');
    const record = src.store.record(uuid);
    assert.equal(record.get('host'), SRC);
    assert.equal(record.get('task_state'), null);
    assert.equal(record.get('vm_state'), VmState.ACTIVE);
    assert.equal(record.get('new_flavor'), null);
  });

  it('the move\'s image made by Glance, its answer lost: the source finds it under the migration\'s id and deletes it; an image of that id that is not the move\'s is left', async () => {
    for (const ours of [true, false]) {
      const { src, dst } = twoHosts();
      const inst = src.addInstance({ host: SRC, node: SRC, task_state: TaskState.RESIZE_PREP });
      const mig = new NovaObject('Migration', '1.7', { id: 8, uuid: randomUUID(), status: 'pre-migrating', source_compute: SRC, source_node: SRC });
      await prepResize(dst.deps, dst.ctx, argsFor(inst, { migration: mig.toPrimitive(), flavor: NEW_FLAVOR.toPrimitive() }));
      src.images.on('createImage', (_ctx, fields) => {
        const id = String(fields.id);
        src.images.glance.set(id, { id, status: 'queued', ...fields, ...(ours ? {} : { nova_container_move: 'another' }) } as never);
        throw new Error('socket hang up');
      });
      await assert.rejects(resizeInstance(src.deps, src.ctx, castOf(dst, 'resize_instance', SRC)), /socket hang up/);
      assert.deepEqual([...src.images.glance.keys()], ours ? [] : [mig.str('uuid')]);
      assert.equal(src.store.record(inst.str('uuid')).get('host'), SRC);
      assert.deepEqual(src.computeRpc.casts, []);
    }
  });

  it('a spawn that fails on the destination: nothing of it left there, handed back to the source, which starts it again with its old flavor, port and allocation; the migration in error', async () => {
    const { src, dst, uuid, mig } = await moved('resize_instance');
    dst.driver.fail('spawn', new Error('engine refused the create'));
    await assert.rejects(finishResize(dst.deps, dst.ctx, castOf(src, 'finish_resize', DST)), /engine refused the create/);
    assert.equal(dst.driver.instances.has(uuid), false);
    assert.deepEqual(dst.driver.callsOf('destroy').map((c) => c[0]), [uuid]);
    assert.equal(src.store.record(uuid).get('task_state'), TaskState.RESIZE_REVERTING, 'the source\'s to finish');
    assert.match(String((src.store.faults.find((f) => f.uuid === uuid)?.error as Error | undefined)?.message), /engine refused the create/);
    await finishRevertResize(src.deps, src.ctx, castOf(dst, 'finish_revert_resize', SRC));
    assert.equal(src.driver.instances.get(uuid)?.state, PowerState.RUNNING, 'the source\'s started again');
    assert.equal(src.ports.boundTo.get(uuid), SRC);
    assert.deepEqual(src.placement.allocations.get(uuid), { VCPU: 1, MEMORY_MB: 128 });
    assert.equal(src.placement.allocations.has(mig.str('uuid')), false);
    assert.equal(src.conductor.actions('Migration').at(-1)?.status, 'error');
    assert.deepEqual([...src.images.glance.keys()], [], 'the move\'s image deleted');
    const record = src.store.record(uuid);
    assert.deepEqual([record.get('host'), record.get('vm_state'), record.get('task_state')], [SRC, VmState.ACTIVE, null]);
    assert.equal(record.obj('flavor')?.get('name'), 'm1.small');
    assert.deepEqual(record.get('system_metadata'), {});
  });

  it('the failure recorded on the destination (event and fault) before the hand-back is cast', async () => {
    const { src, dst, uuid } = await moved('resize_instance');
    dst.driver.fail('spawn', new Error('engine refused the create'));
    let recordedFirst: boolean | null = null;
    dst.computeRpc.on('cast', () => { recordedFirst = src.store.faults.some((f) => f.uuid === uuid); });
    await assert.rejects(finishResize(dst.deps, dst.ctx, castOf(src, 'finish_resize', DST)), /engine refused the create/);
    assert.equal(recordedFirst, true);
  });

  it('a destination whose instance lacks its new flavor hands it back too: the source\'s container is untouched', async () => {
    const { src, dst, uuid } = await moved('resize_instance');
    const finish = castOf(src, 'finish_resize', DST);
    const inst = NovaObject.fromPrimitive(finish.instance as ObjectPrimitive);
    inst.set('new_flavor', null);
    await assert.rejects(finishResize(dst.deps, dst.ctx, { ...finish, instance: inst.toPrimitive() }), /new_flavor/);
    assert.deepEqual(dst.driver.callsOf('spawn'), []);
    assert.equal(src.store.record(uuid).get('task_state'), TaskState.RESIZE_REVERTING);
    await finishRevertResize(src.deps, src.ctx, castOf(dst, 'finish_revert_resize', SRC));
    assert.equal(src.driver.instances.get(uuid)?.state, PowerState.RUNNING);
    assert.deepEqual([src.store.record(uuid).get('host'), src.store.record(uuid).get('vm_state')], [SRC, VmState.ACTIVE]);
  });

  it('a spawn that fails on the destination and a hand-back that cannot be cast: ERROR there, nothing of it left there, the source\'s old-flavor allocation and the move\'s image gone', async () => {
    const { src, dst, uuid, mig } = await moved('resize_instance');
    dst.driver.fail('spawn', new Error('engine refused the create'));
    dst.computeRpc.fail('cast', new Error('broker gone'));
    await assert.rejects(finishResize(dst.deps, dst.ctx, castOf(src, 'finish_resize', DST)), /engine refused the create/);
    assert.equal(dst.driver.instances.has(uuid), false);
    const record = src.store.record(uuid);
    assert.deepEqual([record.get('host'), record.get('vm_state'), record.get('task_state')], [DST, VmState.ERROR, null]);
    assert.equal(src.conductor.actions('Migration').at(-1)?.status, 'error');
    assert.equal(src.placement.allocations.has(mig.str('uuid')), false);
    assert.deepEqual([...src.images.glance.keys()], []);
  });

  it('a restart of the source before confirm keeps the stopped container a revert needs; not an orphan', async () => {
    const { src, uuid } = await moved();
    const report = await recoverOnStartup(src.deps, src.ctx, true);
    assert.deepEqual(report.orphans, []);
    assert.equal(src.driver.instances.get(uuid)?.state, PowerState.SHUTDOWN);
  });

  describe('a restart of a host mid-move takes the move up', () => {
    for (const vm of [VmState.ACTIVE, VmState.STOPPED]) {
      it(`the source, mid-capture (resize_migrating), of a${vm === VmState.STOPPED ? ' stopped' : 'n active'} server: it stays there as it was, its port there, the migration in error, its allocation back, the move's image deleted`, async () => {
        const { src, dst, uuid } = await prepared(vm);
        diesIn(src, 'snapshot');
        void resizeInstance(src.deps, src.ctx, castOf(dst, 'resize_instance', SRC));
        await until('the capture begun', () => src.driver.callsOf('snapshot').length === 1);
        const mig = lastMigration(src);
        assert.equal(mig.status, 'migrating');
        assert.deepEqual([...src.images.glance.keys()], [mig.uuid], 'the move\'s image made, with its migration\'s id');
        assert.equal((src.store.record(uuid).get('system_metadata') as Record<string, string>).nova_container_move_image, undefined, 'not yet named on the instance');
        const report = await restart(src, mig);
        assert.deepEqual(report.resumedMoves, [uuid]);
        assert.equal(src.driver.instances.get(uuid)?.state, vm === VmState.STOPPED ? PowerState.SHUTDOWN : PowerState.RUNNING);
        if (vm === VmState.ACTIVE) assert.deepEqual(src.driver.instances.get(uuid)?.vifs.map((v) => v.id), ['port-1'], 'its network made again');
        assert.deepEqual(src.placement.allocations.get(uuid), { VCPU: 1, MEMORY_MB: 128 }, 'the old flavor\'s allocation back on the instance');
        assert.equal(src.placement.allocations.has(mig.uuid as string), false);
        assert.equal(lastMigration(src).status, 'error');
        assert.deepEqual([...src.images.glance.keys()], [], 'the move\'s image deleted');
        assert.deepEqual(src.computeRpc.casts, []);
        assert.match(String((src.store.faults.find((f) => f.uuid === uuid)?.error as Error | undefined)?.message), /interrupted by a restart/);
        const record = src.store.record(uuid);
        assert.deepEqual([record.get('host'), record.get('vm_state'), record.get('task_state')], [SRC, vm, null]);
        assert.equal(record.get('power_state'), vm === VmState.STOPPED ? PowerState.SHUTDOWN : PowerState.RUNNING);
        assert.equal(record.obj('flavor')?.get('name'), 'm1.small');
        assert.equal(record.get('new_flavor'), null);
        assert.deepEqual(record.get('system_metadata'), {});
      });
    }

    it('the source, mid-capture, when Glance cannot be asked for the move\'s image: it stays there all the same, the image left and said so', async () => {
      const { src, dst, uuid } = await prepared(VmState.ACTIVE);
      diesIn(src, 'snapshot');
      void resizeInstance(src.deps, src.ctx, castOf(dst, 'resize_instance', SRC));
      await until('the capture begun', () => src.driver.callsOf('snapshot').length === 1);
      src.images.fail('getImage', new Error('glance down'));
      const report = await restart(src, lastMigration(src));
      assert.deepEqual(report.resumedMoves, [uuid]);
      assert.equal(src.driver.instances.get(uuid)?.state, PowerState.RUNNING);
      assert.equal(lastMigration(src).status, 'error');
      assert.equal(src.images.glance.size, 1);
      assert.deepEqual(src.logs.find('could not look for the move\'s image: it stays in Glance').map((l) => l.err), ['glance down']);
    });

    it('the destination, mid-arrival (resize_finish): what it made goes, the instance handed back to the source, which starts it again', async () => {
      const { src, dst, uuid } = await moved('resize_instance');
      diesIn(dst, 'spawn');
      void finishResize(dst.deps, dst.ctx, castOf(src, 'finish_resize', DST));
      await until('the spawn begun', () => dst.driver.callsOf('spawn').length === 1);
      assert.equal(src.store.record(uuid).get('task_state'), TaskState.RESIZE_FINISH);
      const mig = lastMigration(src);
      const report = await restart(dst, mig);
      assert.deepEqual(report.resumedMoves, [uuid]);
      assert.deepEqual(dst.driver.callsOf('destroy').map((c) => c[0]), [uuid]);
      assert.equal(dst.driver.instances.has(uuid), false);
      assert.match(String((src.store.faults.find((f) => f.uuid === uuid)?.error as Error | undefined)?.message), /arrival on this host was interrupted by a restart/);
      assert.deepEqual([...src.images.glance.keys()], [], 'the move\'s image deleted');
      assert.equal(lastMigration(src).status, 'error');
      assert.equal(src.store.record(uuid).get('task_state'), TaskState.RESIZE_REVERTING, 'the source\'s to finish');
      await finishRevertResize(src.deps, src.ctx, castOf(dst, 'finish_revert_resize', SRC));
      assert.equal(src.driver.instances.get(uuid)?.state, PowerState.RUNNING);
      assert.equal(src.ports.boundTo.get(uuid), SRC);
      assert.deepEqual(src.placement.allocations.get(uuid), { VCPU: 1, MEMORY_MB: 128 });
      assert.equal(src.placement.allocations.has(mig.uuid as string), false);
      const record = src.store.record(uuid);
      assert.deepEqual([record.get('host'), record.get('vm_state'), record.get('task_state')], [SRC, VmState.ACTIVE, null]);
    });

    it('the destination before finish_resize began (resize_migrated): left for that cast, which then runs', async () => {
      const { src, dst, uuid } = await moved('resize_instance');
      const report = await restart(dst, lastMigration(src));
      assert.deepEqual([report.resumedMoves, report.clearedTasks, report.waitingMoves], [[], [], [uuid]]);
      assert.equal(src.store.record(uuid).get('task_state'), TaskState.RESIZE_MIGRATED);
      await finishResize(dst.deps, dst.ctx, castOf(src, 'finish_resize', DST));
      assert.equal(dst.driver.instances.get(uuid)?.state, PowerState.RUNNING);
      assert.equal(src.store.record(uuid).get('vm_state'), VmState.RESIZED);
    });

    it('the destination mid-revert (resize_reverting, the migration reverting): its copy removed, finish_revert_resize cast to the source', async () => {
      const { src, dst, uuid, mig } = await moved();
      const inst = await src.store.get(src.ctx, uuid);
      await src.store.save(src.ctx, inst, { task_state: TaskState.RESIZE_REVERTING });
      mig.set('status', 'reverting');
      const report = await restart(dst, { ...mig.fields });
      assert.deepEqual(report.resumedMoves, [uuid]);
      assert.equal(dst.driver.instances.has(uuid), false);
      assert.equal(lastMigration(src).status, 'reverted');
      await finishRevertResize(src.deps, src.ctx, castOf(dst, 'finish_revert_resize', SRC));
      assert.equal(src.driver.instances.get(uuid)?.state, PowerState.RUNNING);
      assert.deepEqual([src.store.record(uuid).get('host'), src.store.record(uuid).get('vm_state')], [SRC, VmState.ACTIVE]);
      // the revert_resize nova-api cast while this host was down, consumed after the recovery
      storedMigration(src);
      await revertResize(dst.deps, dst.ctx, argsFor(inst, { migration: mig.toPrimitive() }));
      assert.equal(dst.computeRpc.casts.filter((x) => x.method === 'finish_revert_resize').length, 1, 'not cast a second time');
      assert.deepEqual(src.store.faults, [], 'no fault');
      assert.equal(src.driver.instances.get(uuid)?.state, PowerState.RUNNING);
    });

    it('the destination mid-hand-back (resize_reverting, the migration in error): the hand-back cast again, the source starts it again', async () => {
      const { src, dst, uuid } = await moved('resize_instance');
      dst.driver.fail('spawn', new Error('engine refused the create'));
      // the service dies as it deletes the image of the move, the hand-back readied
      dst.images.on('deleteImage', () => new Promise<never>(() => undefined));
      void finishResize(dst.deps, dst.ctx, castOf(src, 'finish_resize', DST)).catch(() => undefined);
      await until('the move\'s image being deleted', () => dst.images.callsOf('deleteImage').length === 1);
      assert.deepEqual([src.store.record(uuid).get('task_state'), lastMigration(src).status], [TaskState.RESIZE_REVERTING, 'error']);
      assert.equal(src.images.glance.size, 1, 'the move\'s image still there');
      dst.images.on('deleteImage', () => undefined);
      const report = await restart(dst, lastMigration(src));
      assert.deepEqual(report.resumedMoves, [uuid]);
      assert.deepEqual([...src.images.glance.keys()], [], 'the move\'s image deleted');
      await finishRevertResize(src.deps, src.ctx, castOf(dst, 'finish_revert_resize', SRC));
      assert.equal(src.driver.instances.get(uuid)?.state, PowerState.RUNNING);
      assert.deepEqual(src.placement.allocations.get(uuid), { VCPU: 1, MEMORY_MB: 128 });
      assert.equal(lastMigration(src).status, 'error');
      const record = src.store.record(uuid);
      assert.deepEqual([record.get('host'), record.get('vm_state'), record.get('task_state')], [SRC, VmState.ACTIVE, null]);
    });

    it('the destination mid-arrival whose migration cannot be saved: ERROR there with no task, as a failed finish_resize leaves it; nothing cast', async () => {
      const { src, dst, uuid } = await moved('resize_instance');
      diesIn(dst, 'spawn');
      void finishResize(dst.deps, dst.ctx, castOf(src, 'finish_resize', DST));
      await until('the spawn begun', () => dst.driver.callsOf('spawn').length === 1);
      const mig = lastMigration(src);
      dst.conductor.fail('objectAction', new Error('conductor gone'));
      const report = await restart(dst, mig);
      assert.deepEqual(report.resumedMoves, [uuid]);
      assert.deepEqual(dst.computeRpc.casts.filter((x) => x.method === 'finish_revert_resize'), []);
      const record = src.store.record(uuid);
      assert.deepEqual([record.get('host'), record.get('vm_state'), record.get('task_state')], [DST, VmState.ERROR, null]);
    });

    it('the source mid-revert (resize_reverting, the instance back on it): the revert finished, started again with its old flavor and allocation', async () => {
      const { src, dst, uuid, mig } = await moved();
      const inst = await src.store.get(src.ctx, uuid);
      await src.store.save(src.ctx, inst, { task_state: TaskState.RESIZE_REVERTING });
      mig.set('status', 'reverting');
      await revertResize(dst.deps, dst.ctx, argsFor(inst, { migration: mig.toPrimitive() }));
      diesIn(src, 'powerOn');
      void finishRevertResize(src.deps, src.ctx, castOf(dst, 'finish_revert_resize', SRC));
      await until('the start begun', () => src.driver.callsOf('powerOn').length === 1);
      assert.equal(src.store.record(uuid).get('host'), SRC);
      const report = await restart(src, lastMigration(src));
      assert.deepEqual(report.resumedMoves, [uuid]);
      assert.equal(src.driver.instances.get(uuid)?.state, PowerState.RUNNING);
      assert.deepEqual(src.placement.allocations.get(uuid), { VCPU: 1, MEMORY_MB: 128 });
      assert.equal(src.placement.allocations.has(mig.str('uuid')), false);
      const record = src.store.record(uuid);
      assert.deepEqual([record.get('vm_state'), record.get('task_state'), record.obj('flavor')?.get('name')], [VmState.ACTIVE, null, 'm1.small']);
      assert.deepEqual(record.get('system_metadata'), {});
    });
  });
});
