/**
 * The periodic power-state sync against in-memory fakes: the driver's state wins over the
 * recorded one; one listing of Nova's and one of the driver's find what differs, and only that
 * is handled, each instance alone on a copy re-read under its lock; an instance an operation
 * took meanwhile is left to it.
 */
import { strict as assert } from 'node:assert';
import { syncPowerStates } from '../../../../src/nova-driver/manager/recovery.js';
import { PowerState, TaskState, VmState } from '../../../../src/nova-driver/manager/states.js';
import { fakeCompute, type FakeCompute } from '../../../helpers/fake-compute.js';

describe('syncPowerStates', () => {
  it('records what the driver reports: stopped or crashed behind Nova\'s back -> STOPPED, vanished -> ERROR with a fault, paused -> power state', async () => {
    const c = fakeCompute();
    const stopped = c.addInstance({}, { state: PowerState.SHUTDOWN }).str('uuid');
    const crashed = c.addInstance({}, { state: PowerState.CRASHED }).str('uuid');
    const vanished = c.addInstance({}, null).str('uuid');
    const paused = c.addInstance({ vm_state: VmState.PAUSED }, { state: PowerState.PAUSED }).str('uuid');
    const fine = c.addInstance().str('uuid');
    await syncPowerStates(c.deps, c.ctx);
    assert.deepEqual([stopped, crashed].map((u) => c.store.record(u).get('vm_state')), [VmState.STOPPED, VmState.STOPPED]);
    assert.equal(c.store.record(crashed).get('power_state'), PowerState.CRASHED);
    assert.equal(c.store.record(vanished).get('vm_state'), VmState.ERROR);
    assert.deepEqual(c.store.faults.map((f) => f.uuid), [vanished]);
    assert.equal(c.store.record(paused).get('power_state'), PowerState.PAUSED);
    assert.deepEqual(c.store.savesOf(fine), [], 'nothing to record');
    assert.ok(c.store.saves.every((s) => JSON.stringify(s.expected) === '[null]'), 'every save expects no task');
  });

  it('costs two listings when Nova and the driver agree: no instance is read again or inspected, only the one that differs', async () => {
    const c = fakeCompute();
    for (let i = 0; i < 5; i++) c.addInstance();
    c.addInstance({ vm_state: VmState.STOPPED, power_state: PowerState.SHUTDOWN }, { state: PowerState.SHUTDOWN });
    const stopped = c.addInstance({}, { state: PowerState.SHUTDOWN }).str('uuid');
    const reads: string[] = [];
    c.store.on('get', (_ctx, uuid) => { reads.push(uuid); });
    await syncPowerStates(c.deps, c.ctx);
    assert.equal(c.driver.callsOf('listInstances').length, 1);
    assert.deepEqual(reads, [stopped]);
    assert.deepEqual(c.driver.callsOf('getInfo').map(([u]) => u), [stopped]);
    assert.equal(c.store.record(stopped).get('vm_state'), VmState.STOPPED);
  });

  it('an ACTIVE instance whose workload is gone but whose sandbox is listed (NOSTATE) is found and set to ERROR', async () => {
    const c = fakeCompute();
    const uuid = c.addInstance({ power_state: PowerState.NOSTATE }, null).str('uuid');
    const list = c.driver.listInstances.bind(c.driver);
    c.driver.listInstances = async () => [...await list(), { uuid, state: PowerState.NOSTATE }]; // as a sandbox alone is listed
    await syncPowerStates(c.deps, c.ctx);
    assert.equal(c.store.record(uuid).get('vm_state'), VmState.ERROR);
    assert.deepEqual(c.store.faults.map((f) => f.uuid), [uuid]);
  });

  it('leaves alone instances with a task, and instances of another host', async () => {
    const c = fakeCompute();
    c.addInstance({ task_state: TaskState.POWERING_OFF }, { state: PowerState.SHUTDOWN });
    const moved = c.addInstance({}, { state: PowerState.SHUTDOWN }).str('uuid');
    c.store.on('get', (_ctx, uuid) => { if (uuid === moved) c.store.record(moved).set('host', 'other-host'); });
    await syncPowerStates(c.deps, c.ctx);
    assert.deepEqual(c.store.saves, []);
  });

  it('one instance whose sync fails does not stop the pass', async () => {
    const c = fakeCompute();
    const broken = c.addInstance({}, { state: PowerState.SHUTDOWN }).str('uuid');
    const other = c.addInstance({}, { state: PowerState.SHUTDOWN }).str('uuid');
    c.driver.on('getInfo', (uuid) => { if (uuid === broken) throw new Error('engine timed out'); });
    await syncPowerStates(c.deps, c.ctx);
    assert.equal(c.store.record(broken).get('vm_state'), VmState.ACTIVE);
    assert.equal(c.store.record(other).get('vm_state'), VmState.STOPPED);
    assert.equal(c.logs.find('could not sync the power state').length, 1);
  });

  /** Runs `operation` under the instance's lock once the pass has listed the instances. */
  function afterListing(c: FakeCompute, uuid: string, operation: () => void): Promise<void> {
    let listed!: () => void;
    const listing = new Promise<void>((resolve) => { listed = resolve; });
    c.store.on('listOnHost', () => listed());
    return c.deps.locks.run(uuid, async () => {
      await listing;
      await new Promise((resolve) => setTimeout(resolve, 5));
      operation();
    });
  }

  it('an instance whose task_state became non-null after the listing is left alone, not even asked about', async () => {
    const c = fakeCompute();
    const uuid = c.addInstance().str('uuid');
    const stop = afterListing(c, uuid, () => {
      c.store.record(uuid).set('task_state', TaskState.POWERING_OFF);
      c.driver.instances.get(uuid)!.state = PowerState.SHUTDOWN;
    });
    await Promise.all([stop, syncPowerStates(c.deps, c.ctx)]);
    assert.deepEqual(c.store.saves, []);
    assert.deepEqual(c.driver.callsOf('getInfo'), []);
    assert.equal(c.logs.find('could not sync the power state').length, 0);
  });

  it('reads each instance again once an operation holding its lock is done: one offloaded meanwhile is not taken for vanished', async () => {
    const c = fakeCompute();
    const uuid = c.addInstance({}, { state: PowerState.SHUTDOWN }).str('uuid');
    const order: string[] = [];
    c.store.on('get', (_ctx, u) => { if (u === uuid) order.push('sync read'); });
    const offload = afterListing(c, uuid, () => {
      c.driver.instances.delete(uuid);
      c.store.record(uuid).set('vm_state', VmState.SHELVED_OFFLOADED).set('host', null);
      order.push('offloaded');
    });
    await Promise.all([offload, syncPowerStates(c.deps, c.ctx)]);
    assert.deepEqual(order, ['offloaded', 'sync read']);
    assert.equal(c.store.record(uuid).get('vm_state'), VmState.SHELVED_OFFLOADED);
    assert.deepEqual(c.store.faults, []);
  });

  it('an instance deleted before its turn is skipped', async () => {
    const c = fakeCompute();
    const uuid = c.addInstance({}, { state: PowerState.SHUTDOWN }).str('uuid');
    c.store.on('listOnHost', () => setImmediate(() => c.store.remove(uuid)));
    c.deps.locks.run(uuid, () => new Promise((resolve) => setTimeout(resolve, 5))).catch(() => undefined);
    await syncPowerStates(c.deps, c.ctx);
    assert.deepEqual(c.store.saves, []);
    assert.equal(c.logs.find('could not sync the power state').length, 0);
  });
});
