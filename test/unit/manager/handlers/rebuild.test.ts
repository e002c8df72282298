/**
 * rebuild_instance against in-memory fakes: rebuilding -> rebuild_block_device_mapping ->
 * rebuild_spawning -> none, a stopped instance rebuilt without starting it; a failure ends
 * in ERROR with a fault.
 */
import { strict as assert } from 'node:assert';
import { rebuildInstance } from '../../../../src/nova-driver/manager/rebuild.js';
import { PowerState, TaskState, VmState } from '../../../../src/nova-driver/manager/states.js';
import { argsFor, fakeCompute } from '../../../helpers/fake-compute.js';

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

  it('evacuation (recreate) is not supported: a fault, and the task_state cleared', async () => {
    const c = fakeCompute();
    const inst = c.addInstance({ task_state: TaskState.REBUILDING });
    await assert.rejects(rebuildInstance(c.deps, c.ctx, argsFor(inst, { image_ref: 'img-1', recreate: true })), { name: 'NotImplementedError' });
    assert.equal(c.store.faults.length, 1);
    assert.equal(c.store.record(inst.str('uuid')).get('task_state'), null);
  });

  it('a failure before the rebuild starts (the driver cannot be asked) clears the task_state', async () => {
    const c = fakeCompute();
    const inst = c.addInstance({ task_state: TaskState.REBUILDING });
    c.driver.fail('getInfo', new Error('engine unreachable'));
    await assert.rejects(rebuildInstance(c.deps, c.ctx, argsFor(inst, { image_ref: 'img-1' })), /engine unreachable/);
    assert.equal(c.store.record(inst.str('uuid')).get('task_state'), null);
  });
});
