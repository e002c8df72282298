/**
 * stop, start, reboot (soft and hard), pause, unpause, suspend and resume against in-memory
 * fakes: the task state nova-api set is expected by the final save, which records the vm and
 * power states the driver reached; a failure clears the task_state and records a fault.
 */
import { strict as assert } from 'node:assert';
import {
  getConsoleOutput, pauseInstance, rebootInstance, resumeInstance, startInstance, stopInstance, suspendInstance, unpauseInstance,
} from '../../../../src/nova-driver/manager/power.js';
import { PowerState, TaskState, VmState } from '../../../../src/nova-driver/manager/states.js';
import type { ManagerDeps } from '../../../../src/nova-driver/manager/deps.js';
import type { RequestContext } from '../../../../src/messaging/types.js';
import type { FieldValue } from '../../../../src/nova-driver/objects/versioned-object.js';
import type { InstanceDriver } from '../../../../src/nova-driver/instance-driver.js';
import type { MethodOf } from '../../../helpers/fake.js';
import { argsFor, fakeCompute, infoCache } from '../../../helpers/fake-compute.js';
import type { FakeInstance } from '../../../helpers/fake-driver.js';
import { fakeVif } from '../../../helpers/fake-services.js';

type Handler = (deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>) => Promise<void>;

interface PowerCase {
  name: string;
  handler: Handler;
  args?: Record<string, unknown>;
  /** The instance as nova-api cast it, and as the driver has it. */
  before: Record<string, FieldValue>;
  onHost: Partial<FakeInstance>;
  driverMethod: MethodOf<InstanceDriver>;
  /** Each save's task_state and expected_task_state, then the final vm and power states. */
  taskStates: (string | null)[];
  expected: ((string | null)[] | undefined)[];
  vmState: string;
  powerState: number;
  /** The Nova exception a driver failure becomes (else the driver's error itself). */
  failure?: string;
  /**
   * What a reboot's failure does, as Nova's reboot_instance: with the instance still running, a
   * fault and ACTIVE, nothing raised (`tolerated`); otherwise ERROR.
   */
  rebootFailure?: 'tolerated' | 'error';
}

const CASES: PowerCase[] = [
  {
    name: 'stop_instance', handler: stopInstance, args: { clean_shutdown: true }, before: { task_state: TaskState.POWERING_OFF }, onHost: {},
    driverMethod: 'powerOff', taskStates: [null], expected: [[TaskState.POWERING_OFF]], vmState: VmState.STOPPED, powerState: PowerState.SHUTDOWN, failure: 'InstancePowerOffFailure',
  },
  {
    name: 'start_instance', handler: startInstance, before: { vm_state: VmState.STOPPED, power_state: PowerState.SHUTDOWN, task_state: TaskState.POWERING_ON },
    onHost: { state: PowerState.SHUTDOWN }, driverMethod: 'powerOn', taskStates: [null], expected: [[TaskState.POWERING_ON]], vmState: VmState.ACTIVE, powerState: PowerState.RUNNING,
    failure: 'InstancePowerOnFailure',
  },
  {
    name: 'reboot_instance SOFT', handler: rebootInstance, args: { reboot_type: 'SOFT', block_device_info: null }, before: { task_state: TaskState.REBOOTING },
    onHost: {}, driverMethod: 'reboot', taskStates: [TaskState.REBOOT_PENDING, TaskState.REBOOT_STARTED, null],
    expected: [[TaskState.REBOOTING, TaskState.REBOOT_PENDING, TaskState.REBOOT_STARTED], [TaskState.REBOOT_PENDING], undefined],
    vmState: VmState.ACTIVE, powerState: PowerState.RUNNING, failure: 'InstanceRebootFailure', rebootFailure: 'tolerated',
  },
  {
    name: 'reboot_instance HARD', handler: rebootInstance, args: { reboot_type: 'HARD', block_device_info: null }, before: { task_state: TaskState.REBOOTING_HARD },
    onHost: { state: PowerState.CRASHED }, driverMethod: 'reboot', taskStates: [TaskState.REBOOT_PENDING_HARD, TaskState.REBOOT_STARTED_HARD, null],
    expected: [[TaskState.REBOOTING_HARD, TaskState.REBOOT_PENDING_HARD, TaskState.REBOOT_STARTED_HARD], [TaskState.REBOOT_PENDING_HARD], undefined],
    vmState: VmState.ACTIVE, powerState: PowerState.RUNNING, failure: 'InstanceRebootFailure', rebootFailure: 'error',
  },
  {
    name: 'pause_instance', handler: pauseInstance, before: { task_state: TaskState.PAUSING }, onHost: {},
    driverMethod: 'pause', taskStates: [null], expected: [[TaskState.PAUSING]], vmState: VmState.PAUSED, powerState: PowerState.PAUSED,
  },
  {
    name: 'unpause_instance', handler: unpauseInstance, before: { vm_state: VmState.PAUSED, power_state: PowerState.PAUSED, task_state: TaskState.UNPAUSING },
    onHost: { state: PowerState.PAUSED }, driverMethod: 'unpause', taskStates: [null], expected: [[TaskState.UNPAUSING]], vmState: VmState.ACTIVE, powerState: PowerState.RUNNING,
  },
  {
    name: 'suspend_instance', handler: suspendInstance, before: { task_state: TaskState.SUSPENDING }, onHost: {},
    driverMethod: 'suspend', taskStates: [null], expected: [[TaskState.SUSPENDING]], vmState: VmState.SUSPENDED, powerState: PowerState.SUSPENDED,
  },
  {
    name: 'resume_instance', handler: resumeInstance,
    before: { vm_state: VmState.SUSPENDED, power_state: PowerState.SUSPENDED, task_state: TaskState.RESUMING, system_metadata: { old_vm_state: VmState.ACTIVE } },
    onHost: { state: PowerState.PAUSED }, driverMethod: 'resume', taskStates: [null], expected: [[TaskState.RESUMING]], vmState: VmState.ACTIVE, powerState: PowerState.RUNNING,
  },
];

describe('power actions', () => {
  for (const p of CASES) {
    describe(p.name, () => {
      it(`${p.before.task_state} -> ${p.vmState}, power state ${p.powerState}, no task`, async () => {
        const c = fakeCompute();
        const inst = c.addInstance(p.before, p.onHost);
        const uuid = inst.str('uuid');
        await p.handler(c.deps, c.ctx, argsFor(inst, p.args));
        assert.deepEqual(c.driver.callsOf(p.driverMethod).map((a) => a[0]), [uuid]);
        assert.deepEqual(c.store.taskStates(uuid), p.taskStates);
        assert.deepEqual(c.store.savesOf(uuid).map((s) => s.expected), p.expected);
        const record = c.store.record(uuid);
        assert.equal(record.get('vm_state'), p.vmState);
        assert.equal(record.get('power_state'), p.powerState);
        assert.equal(record.get('task_state'), null);
        assert.equal(c.store.faults.length, 0);
        assert.deepEqual(c.store.actionEvents.map((e) => e.phase), ['start', 'finish']);
      });

      it('an instance the driver does not have is InstanceNotFound, without a fault; the task_state is cleared', async () => {
        const c = fakeCompute();
        const inst = c.addInstance(p.before, null);
        await assert.rejects(p.handler(c.deps, c.ctx, argsFor(inst, p.args)), { name: 'InstanceNotFound' });
        assert.equal(c.store.faults.length, 0);
        const record = c.store.record(inst.str('uuid'));
        assert.equal(record.get('vm_state'), p.before.vm_state ?? VmState.ACTIVE);
        assert.equal(record.get('task_state'), null);
      });

      it(`a driver failure is ${p.failure ?? 'the driver\'s error'}${p.rebootFailure ? ` (${p.rebootFailure} as Nova's reboot does)` : ''}: fault recorded, task_state cleared`, async () => {
        const c = fakeCompute();
        const inst = c.addInstance(p.before, p.onHost);
        c.driver.fail(p.driverMethod, new Error('the engine said no'));
        const record = c.store.record(inst.str('uuid'));
        if (p.rebootFailure === 'tolerated') {
          await p.handler(c.deps, c.ctx, argsFor(inst, p.args));
          assert.equal(record.get('vm_state'), VmState.ACTIVE, 'still running: not an error');
        } else {
          await assert.rejects(p.handler(c.deps, c.ctx, argsFor(inst, p.args)), { name: p.failure ?? 'Error', message: /the engine said no/ });
          assert.equal(record.get('vm_state'), p.rebootFailure === 'error' ? VmState.ERROR : (p.before.vm_state ?? VmState.ACTIVE));
          assert.equal(c.store.actionEvents.at(-1)?.error !== undefined, true, 'the action event finished with the failure');
        }
        assert.equal(record.get('task_state'), null);
        assert.equal(c.store.faults.length, 1);
      });
    });
  }

  it('stop without clean_shutdown stops at once; with it, waits shutdown_timeout', async () => {
    const c = fakeCompute();
    const hard = c.addInstance({ task_state: TaskState.POWERING_OFF });
    const soft = c.addInstance({ task_state: TaskState.POWERING_OFF });
    await stopInstance(c.deps, c.ctx, argsFor(hard, { clean_shutdown: false }));
    await stopInstance(c.deps, c.ctx, argsFor(soft, { clean_shutdown: true }));
    assert.deepEqual(c.driver.callsOf('powerOff').map(([, grace]) => grace), [0, c.deps.shutdownTimeout]);
  });

  it('a hard reboot asks the driver to kill, a soft one to stop gracefully', async () => {
    const c = fakeCompute();
    const hard = c.addInstance({ task_state: TaskState.REBOOTING_HARD });
    const soft = c.addInstance({ task_state: TaskState.REBOOTING });
    await rebootInstance(c.deps, c.ctx, argsFor(hard, { reboot_type: 'HARD' }));
    await rebootInstance(c.deps, c.ctx, argsFor(soft, { reboot_type: 'SOFT' }));
    assert.deepEqual(c.driver.callsOf('reboot').map(([, isHard]) => isHard), [true, false]);
  });

  it('start makes a network that is gone again from the cached VIFs', async () => {
    const c = fakeCompute();
    const inst = c.addInstance({ vm_state: VmState.STOPPED, task_state: TaskState.POWERING_ON }, { state: PowerState.SHUTDOWN, sandbox: false });
    const uuid = inst.str('uuid');
    inst.set('info_cache', infoCache(uuid, [fakeVif('p1')]));
    await startInstance(c.deps, c.ctx, argsFor(inst));
    assert.deepEqual(c.driver.instances.get(uuid)?.vifs.map((v) => v.id), ['p1']);
    assert.equal(c.driver.instances.get(uuid)?.sandbox, true);
  });

  it('suspend keeps the vm_state to resume to; resume goes back to it and forgets it', async () => {
    const c = fakeCompute();
    const inst = c.addInstance({ vm_state: VmState.PAUSED, task_state: TaskState.SUSPENDING }, { state: PowerState.PAUSED });
    const uuid = inst.str('uuid');
    await suspendInstance(c.deps, c.ctx, argsFor(inst));
    assert.deepEqual(c.store.record(uuid).get('system_metadata'), { old_vm_state: VmState.PAUSED });
    c.store.record(uuid).set('task_state', TaskState.RESUMING);
    await resumeInstance(c.deps, c.ctx, argsFor(await c.store.get(c.ctx, uuid)));
    assert.equal(c.store.record(uuid).get('vm_state'), VmState.PAUSED);
    assert.deepEqual(c.store.record(uuid).get('system_metadata'), {});
  });

  it('a save refused because the task changed meanwhile (UnexpectedTaskStateError) leaves the task_state alone', async () => {
    const c = fakeCompute();
    const inst = c.addInstance({ task_state: TaskState.POWERING_OFF });
    const uuid = inst.str('uuid');
    c.driver.on('powerOff', () => { c.store.record(uuid).set('task_state', TaskState.POWERING_ON); });
    await assert.rejects(stopInstance(c.deps, c.ctx, argsFor(inst)), { name: 'UnexpectedTaskStateError' });
    assert.equal(c.store.record(uuid).get('task_state'), TaskState.POWERING_ON);
  });

  it('get_console_output: the tail nova-api passes (an integer or, from the API, a string of digits); -1 or none is all of it', async () => {
    const c = fakeCompute();
    const inst = c.addInstance();
    for (const tail of [10, '10', 0, -1, '-1', null]) {
      assert.match(await getConsoleOutput(c.deps, c.ctx, argsFor(inst, { tail_length: tail })), /console of/);
    }
    assert.deepEqual(c.driver.callsOf('consoleOutput').map(([, lines]) => lines), [10, 10, 0, undefined, undefined, undefined]);
  });
});
