/**
 * cleanupIncompleteMigrations (nova-compute's _cleanup_incomplete_migrations) against
 * in-memory fakes: what a failed move left on this host of a deleted instance is removed, with
 * its VIFs unplugged; an instance that is not deleted, or is this host's own, keeps it.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { cleanupIncompleteMigrations } from '../../../../src/nova-driver/manager/incomplete-migrations.js';
import { NovaObject } from '../../../../src/nova-driver/objects/versioned-object.js';
import { PowerState } from '../../../../src/nova-driver/manager/states.js';
import { fakeCompute, infoCache, HOST, type FakeCompute } from '../../../helpers/fake-compute.js';
import { fakeVif } from '../../../helpers/fake-services.js';

function failedMove(c: FakeCompute, uuid: string): void {
  const mig = new NovaObject('Migration', '1.7', { id: 1, uuid: randomUUID(), instance_uuid: uuid, status: 'error', migration_type: 'migration', source_compute: HOST, dest_compute: 'other-host' });
  c.conductor.classResults.set('MigrationList.get_by_filters', new NovaObject('MigrationList', '1.5', { objects: [mig] }));
}

function deletedInstances(c: FakeCompute, ...instances: NovaObject[]): void {
  c.conductor.classResults.set('InstanceList.get_by_filters', new NovaObject('InstanceList', '2.6', { objects: instances }));
}

describe('cleanupIncompleteMigrations', () => {
  it('a deleted instance whose move from here failed: its stopped container here is removed and its VIFs unplugged', async () => {
    const c = fakeCompute();
    const uuid = randomUUID();
    const vif = fakeVif('port-1');
    c.driver.add(uuid, { state: PowerState.SHUTDOWN });
    failedMove(c, uuid);
    deletedInstances(c, new NovaObject('Instance', '2.7', { uuid, host: 'other-host', deleted: true, info_cache: infoCache(uuid, [vif]) }));
    assert.deepEqual(await cleanupIncompleteMigrations(c.deps, c.ctx, c.deps.log), [uuid]);
    assert.equal(c.driver.instances.has(uuid), false);
    assert.deepEqual(c.driver.callsOf('destroy').map(([u, vifs]) => [u, vifs.map((v) => v.id)]), [[uuid, ['port-1']]]);
    const [migCall, instCall] = c.conductor.callsOf('classAction');
    assert.deepEqual([migCall[0].read_deleted, migCall[1], migCall[3]], ['yes', 'MigrationList', [{ host: HOST, status: 'error' }]],
      'deleted migrations too: deleting an instance soft-deletes its migrations');
    assert.deepEqual([instCall[0].read_deleted, instCall[1], instCall[3]], ['yes', 'InstanceList', [{ deleted: true, soft_deleted: false, uuid: [uuid] }]]);
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

  it('a deleted instance whose host is this one is left to its delete here; one this host has nothing of calls no destroy', async () => {
    const c = fakeCompute();
    const own = randomUUID();
    const absent = randomUUID();
    c.driver.add(own);
    failedMove(c, own);
    deletedInstances(c, new NovaObject('Instance', '2.7', { uuid: own, host: HOST, deleted: true }),
      new NovaObject('Instance', '2.7', { uuid: absent, host: 'other-host', deleted: true }));
    assert.deepEqual(await cleanupIncompleteMigrations(c.deps, c.ctx, c.deps.log), []);
    assert.equal(c.driver.instances.has(own), true);
    assert.deepEqual(c.driver.callsOf('destroy'), []);
  });

  it('no failed migration of this host: no instance is looked up', async () => {
    const c = fakeCompute();
    assert.deepEqual(await cleanupIncompleteMigrations(c.deps, c.ctx, c.deps.log), []);
    assert.deepEqual(c.conductor.callsOf('classAction').map((x) => x[1]), ['MigrationList']);
  });
});
