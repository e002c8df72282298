/**
 * terminate_instance against in-memory fakes: a delete always finishes, whatever is already
 * gone or fails to be released; only the driver failing to remove what exists leaves the
 * instance in ERROR, with a fault naming what is left.
 */
import { strict as assert } from 'node:assert';
import { terminateInstance } from '../../../../src/nova-driver/manager/terminate.js';
import { TaskState, VmState } from '../../../../src/nova-driver/manager/states.js';
import type { NovaObject } from '../../../../src/nova-driver/objects/versioned-object.js';
import { argsFor, fakeCompute, infoCache, type FakeCompute } from '../../../helpers/fake-compute.js';
import { fakeVif } from '../../../helpers/fake-services.js';
import type { FakeInstance } from '../../../helpers/fake-driver.js';

const USER_PORT = 'port-user';

/** An instance nova-api is deleting, with a port made here and one the user passed. */
function deleting(c: FakeCompute, onHost: Partial<FakeInstance> | null = {}): NovaObject {
  const inst = c.addInstance({ task_state: TaskState.DELETING }, onHost);
  const uuid = inst.str('uuid');
  const vifs = [fakeVif('port-made'), fakeVif(USER_PORT, 'net-1', true)];
  inst.set('info_cache', infoCache(uuid, vifs));
  c.store.put(inst);
  c.ports.byInstance.set(uuid, vifs);
  return inst;
}

function assertDeleted(c: FakeCompute, uuid: string): void {
  assert.deepEqual(c.store.destroyed, [uuid], 'record destroyed');
  const saves = c.store.savesOf(uuid);
  assert.equal(saves.at(-1)?.fields.vm_state, VmState.DELETED);
  assert.equal(saves.at(-1)?.fields.task_state, null);
  assert.ok(!saves.some((s) => s.fields.vm_state === VmState.ERROR));
  assert.equal(c.store.faults.length, 0);
  assert.equal(c.driver.instances.has(uuid), false);
  assert.deepEqual(c.scheduler.callsOf('deleteInstanceInfo').map(([, u]) => u), [uuid]);
}

describe('terminate_instance', () => {
  it('removes the instance, releases its ports (keeping the user\'s), gives back its allocation, destroys the record', async () => {
    const c = fakeCompute();
    const inst = deleting(c);
    const uuid = inst.str('uuid');
    await c.deps.usage.track(c.ctx, inst);
    assert.equal(c.hostUsage().stats.num_instances, '1');
    await terminateInstance(c.deps, c.ctx, argsFor(inst));
    assertDeleted(c, uuid);
    const [[destroyed, vifs]] = c.driver.callsOf('destroy');
    assert.equal(destroyed, uuid);
    assert.deepEqual(vifs.map((v) => v.id), ['port-made', USER_PORT], 'the driver gets the cached VIFs');
    const [[released, preserve]] = c.ports.callsOf('deallocate');
    assert.equal(released, uuid);
    assert.deepEqual([...preserve], [USER_PORT]);
    assert.equal(c.placement.allocations.has(uuid), false);
    assert.deepEqual([c.hostUsage().vcpus, c.hostUsage().stats.num_instances], [0, '0'], 'its usage is released');
  });

  it('reads the info cache when the cast\'s instance came without it', async () => {
    const c = fakeCompute();
    const inst = deleting(c);
    delete inst.fields.info_cache;
    await terminateInstance(c.deps, c.ctx, argsFor(inst));
    assert.deepEqual([...c.ports.callsOf('deallocate')[0][1]], [USER_PORT]);
  });

  const tolerated: { name: string; onHost?: null; arrange(c: FakeCompute, uuid: string): void }[] = [
    { name: 'the driver has nothing of it', onHost: null, arrange: () => undefined },
    { name: 'its ports are already gone', arrange: (c, uuid) => c.ports.byInstance.delete(uuid) },
    { name: 'Placement holds no allocation for it', arrange: (c, uuid) => c.placement.allocations.delete(uuid) },
    { name: 'Placement fails', arrange: (c) => c.placement.fail('deleteAllocations', new Error('Placement answered 503')) },
    { name: 'releasing the ports fails', arrange: (c) => c.ports.fail('deallocate', new Error('Neutron answered 500')) },
    { name: 'the schedulers cannot be told', arrange: (c) => c.scheduler.fail('deleteInstanceInfo', new Error('no route')) },
  ];
  for (const t of tolerated) {
    it(`succeeds when ${t.name}`, async () => {
      const c = fakeCompute();
      const inst = deleting(c, t.onHost);
      t.arrange(c, inst.str('uuid'));
      await terminateInstance(c.deps, c.ctx, argsFor(inst));
      assertDeleted(c, inst.str('uuid'));
    });
  }

  it('a second delete of an instance whose record is already gone succeeds quietly', async () => {
    const c = fakeCompute();
    const inst = deleting(c);
    await terminateInstance(c.deps, c.ctx, argsFor(inst));
    await terminateInstance(c.deps, c.ctx, argsFor(inst));
    assert.equal(c.store.faults.length, 0);
    assert.equal(c.store.savesOf(inst.str('uuid')).filter((x) => x.fields.vm_state === VmState.ERROR).length, 0);
  });

  it('a destroy that cannot remove what exists leaves the instance in ERROR with a fault naming what is left', async () => {
    const c = fakeCompute();
    const inst = deleting(c);
    const uuid = inst.str('uuid');
    c.driver.fail('destroy', new Error('could not remove device tapport-made (busy)'));
    await assert.rejects(terminateInstance(c.deps, c.ctx, argsFor(inst)), { name: 'InstanceTerminationFailure' });
    assert.deepEqual(c.store.destroyed, []);
    const record = c.store.record(uuid);
    assert.equal(record.get('vm_state'), VmState.ERROR);
    assert.equal(record.get('task_state'), null);
    assert.equal(c.store.faults.length, 1);
    assert.match((c.store.faults[0].error as Error).message, /tapport-made/);
    assert.equal(c.ports.callsOf('deallocate').length, 0, 'ports kept until the instance is gone');
    assert.equal(c.placement.allocations.has(uuid), true, 'allocation kept');
  });

  it('with serial consoles enabled, removes the instance\'s console tokens once it is gone; a failure to do so does not fail the delete', async () => {
    const c = fakeCompute({ serialConsole: true });
    const inst = deleting(c);
    const uuid = inst.str('uuid');
    await terminateInstance(c.deps, c.ctx, argsFor(inst));
    assertDeleted(c, uuid);
    assert.deepEqual(c.conductor.callsOf('classAction').map(([, obj, method, args]) => [obj, method, args]),
      [['ConsoleAuthToken', 'clean_console_auths_for_instance', [uuid]]]);

    const d = fakeCompute({ serialConsole: true });
    const other = deleting(d);
    d.conductor.fail('classAction', new Error('MessagingTimeout'));
    await terminateInstance(d.deps, d.ctx, argsFor(other));
    assertDeleted(d, other.str('uuid'));
  });

  it('without serial consoles, asks for no token removal', async () => {
    const c = fakeCompute();
    const inst = deleting(c);
    await terminateInstance(c.deps, c.ctx, argsFor(inst));
    assert.equal(c.conductor.callsOf('classAction').length, 0);
  });
});
