/**
 * cleanupIncompleteMigrations (nova-compute's _cleanup_incomplete_migrations) against
 * in-memory fakes: what a failed move left on this host of a deleted instance is removed, its
 * migration's allocation deleted and the migration set to failed; an instance that is not deleted, or is this host's own, keeps it.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { cleanupIncompleteMigrations } from '../../../../src/nova-driver/manager/incomplete-migrations.js';
import { NovaObject } from '../../../../src/nova-driver/objects/versioned-object.js';
import { PowerState } from '../../../../src/nova-driver/manager/states.js';
import { fakeCompute, HOST, type FakeCompute } from '../../../helpers/fake-compute.js';

function failedMove(c: FakeCompute, ...uuids: string[]): NovaObject[] {
  const migs = uuids.map((uuid, i) => new NovaObject('Migration', '1.7', {
    id: i + 1, uuid: randomUUID(), instance_uuid: uuid, status: 'error', migration_type: 'migration', source_compute: HOST, dest_compute: 'other-host',
  }));
  c.conductor.classResults.set('MigrationList.get_by_filters', new NovaObject('MigrationList', '1.5', { objects: migs }));
  return migs;
}

/** The statuses the migrations were saved with, by migration uuid. */
function savedStatuses(c: FakeCompute): Record<string, unknown>[] {
  return c.conductor.actions('Migration').map((m) => ({ [String(m.uuid)]: m.status }));
}

function deletedInstances(c: FakeCompute, ...instances: NovaObject[]): void {
  c.conductor.classResults.set('InstanceList.get_by_filters', new NovaObject('InstanceList', '2.6', { objects: instances }));
}

describe('cleanupIncompleteMigrations', () => {
  it('a deleted instance whose move from here failed: its stopped container here is removed, its migration\'s allocation deleted and the migration set to failed, whose save finds it deleted', async () => {
    const c = fakeCompute();
    const uuid = randomUUID();
    c.driver.add(uuid, { state: PowerState.SHUTDOWN });
    const [mig] = failedMove(c, uuid);
    c.placement.allocations.set(mig.str('uuid'), { VCPU: 1, MEMORY_MB: 128 });
    deletedInstances(c, new NovaObject('Instance', '2.7', { uuid, host: 'other-host', deleted: true }));
    assert.deepEqual(await cleanupIncompleteMigrations(c.deps, c.ctx, c.deps.log), [uuid]);
    assert.equal(c.driver.instances.has(uuid), false);
    assert.equal(c.placement.allocations.has(mig.str('uuid')), false, 'the old flavor it held on this host');
    assert.deepEqual(savedStatuses(c), [{ [mig.str('uuid')]: 'failed' }]);
    assert.equal(c.conductor.callsOf('objectAction')[0][0].read_deleted, 'yes');
    const [migCall, instCall] = c.conductor.callsOf('classAction');
    assert.deepEqual([migCall[0].read_deleted, migCall[1], migCall[3]], ['yes', 'MigrationList', [{ host: HOST, status: 'error' }]],
      'deleted migrations too: deleting an instance soft-deletes its migrations');
    assert.deepEqual([instCall[0].read_deleted, instCall[1], instCall[3]], ['yes', 'InstanceList', [{ deleted: true, soft_deleted: false, uuid: [uuid] }]]);
  });

  it('a removal that fails keeps its migration in error for the next period; the other instances are still removed', async () => {
    const c = fakeCompute();
    const stuck = randomUUID();
    const other = randomUUID();
    c.driver.add(stuck);
    c.driver.add(other);
    const [stuckMig, otherMig] = failedMove(c, stuck, other);
    c.placement.allocations.set(stuckMig.str('uuid'), { VCPU: 1, MEMORY_MB: 128 });
    deletedInstances(c, new NovaObject('Instance', '2.7', { uuid: stuck, host: 'other-host', deleted: true }),
      new NovaObject('Instance', '2.7', { uuid: other, host: 'other-host', deleted: true }));
    c.driver.on('destroy', (uuid) => {
      if (uuid === stuck) throw new Error('engine busy');
    });
    assert.deepEqual(await cleanupIncompleteMigrations(c.deps, c.ctx, c.deps.log), [other]);
    assert.equal(c.driver.instances.has(stuck), true);
    assert.equal(c.placement.allocations.has(stuckMig.str('uuid')), true, 'its allocation kept with it');
    assert.deepEqual(savedStatuses(c), [{ [otherMig.str('uuid')]: 'failed' }]);
  });

  it('an instance not deleted keeps what the failed move left here (the listing of deleted instances does not return it)', async () => {
    const c = fakeCompute();
    const uuid = randomUUID();
    c.driver.add(uuid, { state: PowerState.SHUTDOWN });
    failedMove(c, uuid);
    deletedInstances(c);
    assert.deepEqual(await cleanupIncompleteMigrations(c.deps, c.ctx, c.deps.log), []);
    assert.equal(c.driver.instances.has(uuid), true);
  });

  it('a deleted instance whose host is this one is left to its delete here; one this host has nothing of is only set to failed', async () => {
    const c = fakeCompute();
    const own = randomUUID();
    const absent = randomUUID();
    c.driver.add(own);
    const [, absentMig] = failedMove(c, own, absent);
    deletedInstances(c, new NovaObject('Instance', '2.7', { uuid: own, host: HOST, deleted: true }),
      new NovaObject('Instance', '2.7', { uuid: absent, host: 'other-host', deleted: true }));
    assert.deepEqual(await cleanupIncompleteMigrations(c.deps, c.ctx, c.deps.log), []);
    assert.equal(c.driver.instances.has(own), true);
    assert.deepEqual(c.driver.callsOf('destroy').map((x) => x[0]), [absent]);
    assert.deepEqual(savedStatuses(c), [{ [absentMig.str('uuid')]: 'failed' }]);
  });

  it('no failed migration of this host: no instance is looked up', async () => {
    const c = fakeCompute();
    assert.deepEqual(await cleanupIncompleteMigrations(c.deps, c.ctx, c.deps.log), []);
    assert.deepEqual(c.conductor.callsOf('classAction').map((x) => x[1]), ['MigrationList']);
  });
});
