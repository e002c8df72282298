/**
 * Power actions through the instance driver, with Nova's task-state protocol
 * (nova/compute/manager.py stop/start/reboot/pause/unpause/suspend/resume_instance):
 *   stop     graceful stop (shutdown_timeout; at once if not clean_shutdown)
 *   start    start the stopped instance (file system kept)
 *   reboot   SOFT: graceful stop then start; HARD: kill then start
 *   pause    freeze every process
 *   suspend  recorded as SUSPENDED: the driver freezes what it cannot checkpoint to disk;
 *            resume thaws it
 */
import { InstanceNotFound, InstancePowerOffFailure, InstancePowerOnFailure, InstanceRebootFailure } from '../errors.js';
import type { RequestContext } from '../../messaging/types.js';
import type { NovaObject } from '../objects/versioned-object.js';
import { InstanceMissing, type InstanceInfo } from '../instance-driver.js';
import type { ManagerDeps } from './deps.js';
import { instanceAction, instanceFromArgs, settle } from './instance-action.js';
import { checkArgs } from './compute-args.js';
import { vifSource } from './networking.js';
import { POWER_TRANSITIONS, PowerState, TaskState, VmState, powerStateFor, type PowerTransition } from './states.js';

/** The driver's view of the instance; InstanceNotFound (as Nova's drivers raise) when it has none. */
export async function infoOf(deps: ManagerDeps, inst: NovaObject): Promise<InstanceInfo> {
  const info = await deps.driver.getInfo(inst.str('uuid'));
  if (!info) throw new InstanceNotFound({ instance_id: inst.str('uuid') });
  return info;
}

/** Runs a driver call; a missing instance is Nova's InstanceNotFound, any other failure `wrap`'s exception. */
export async function driverCall<T>(inst: NovaObject, call: () => Promise<T>, wrap?: (reason: string) => Error): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof InstanceMissing) throw new InstanceNotFound({ instance_id: inst.str('uuid') });
    throw wrap ? wrap((err as Error).message) : err;
  }
}

async function finish(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, t: PowerTransition,
  extra: Record<string, string | number | null | Record<string, string>> = {}): Promise<void> {
  await deps.instances.save(ctx, inst, { vm_state: t.finalVmState, power_state: t.finalPowerState, task_state: null, ...extra }, t.expectedTaskState);
}

export async function stopInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_stop_instance' }, async () => {
    checkArgs('stop_instance', args);
    await driverCall(inst, () => deps.driver.powerOff(inst.str('uuid'), args.clean_shutdown === false ? 0 : deps.shutdownTimeout),
      (reason) => new InstancePowerOffFailure({ reason }));
    await finish(deps, ctx, inst, POWER_TRANSITIONS.stop);
  });
}

export async function startInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_start_instance' }, async () => {
    checkArgs('start_instance', args);
    const uuid = inst.str('uuid');
    await driverCall(inst, () => deps.driver.powerOn(uuid, vifSource(deps, ctx, inst)), (reason) => new InstancePowerOnFailure({ reason }));
    await finish(deps, ctx, inst, POWER_TRANSITIONS.start);
  });
}

export async function rebootInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  const hard = args.reboot_type === 'HARD';
  const pending = hard ? TaskState.REBOOT_PENDING_HARD : TaskState.REBOOT_PENDING;
  const started = hard ? TaskState.REBOOT_STARTED_HARD : TaskState.REBOOT_STARTED;
  const expected = hard
    ? [TaskState.REBOOTING_HARD, TaskState.REBOOT_PENDING_HARD, TaskState.REBOOT_STARTED_HARD]
    : [TaskState.REBOOTING, TaskState.REBOOT_PENDING, TaskState.REBOOT_STARTED];
  await instanceAction(deps, ctx, inst, { event: 'compute_reboot_instance' }, async (log) => {
    checkArgs('reboot_instance', args);
    const uuid = inst.str('uuid');
    const before = await infoOf(deps, inst);
    await deps.instances.save(ctx, inst, { task_state: pending, power_state: powerStateFor(before, inst.optStr('vm_state')) }, expected);
    await deps.instances.save(ctx, inst, { task_state: started }, [pending]);
    try {
      await driverCall(inst, () => deps.driver.reboot(uuid, hard, deps.shutdownTimeout, vifSource(deps, ctx, inst)),
        (reason) => new InstanceRebootFailure({ reason }));
    } catch (err) {
      // As Nova's reboot_instance: a failed reboot of an instance that still runs is a fault, not an error.
      if ((await deps.driver.getInfo(uuid).catch(() => null))?.state !== PowerState.RUNNING) {
        await settle(log, 'set ERROR', deps.instances.save(ctx, inst, { vm_state: VmState.ERROR }));
        throw err;
      }
      log.warn({ err: (err as Error).message }, 'reboot failed but the instance is running');
      await settle(log, 'record the fault', deps.instances.addFault(ctx, uuid, err));
    }
    await deps.instances.save(ctx, inst, {
      vm_state: inst.get('vm_state') === VmState.RESCUED ? VmState.RESCUED : VmState.ACTIVE,
      power_state: powerStateFor(await infoOf(deps, inst)), task_state: null,
    });
  });
}

export async function pauseInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_pause_instance' }, async () => {
    checkArgs('pause_instance', args);
    await driverCall(inst, () => deps.driver.pause(inst.str('uuid')));
    await finish(deps, ctx, inst, POWER_TRANSITIONS.pause);
  });
}

export async function unpauseInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_unpause_instance' }, async () => {
    checkArgs('unpause_instance', args);
    await driverCall(inst, () => deps.driver.unpause(inst.str('uuid')));
    await finish(deps, ctx, inst, POWER_TRANSITIONS.unpause);
  });
}

export async function suspendInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_suspend_instance' }, async () => {
    checkArgs('suspend_instance', args);
    await driverCall(inst, () => deps.driver.suspend(inst.str('uuid')));
    const sysmeta = { ...((inst.get('system_metadata') ?? {}) as Record<string, string>), old_vm_state: String(inst.get('vm_state') ?? VmState.ACTIVE) };
    await finish(deps, ctx, inst, POWER_TRANSITIONS.suspend, { system_metadata: sysmeta });
  });
}

export async function resumeInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_resume_instance' }, async () => {
    checkArgs('resume_instance', args);
    await driverCall(inst, () => deps.driver.resume(inst.str('uuid')));
    const sysmeta = { ...((inst.get('system_metadata') ?? {}) as Record<string, string>) };
    const back = sysmeta.old_vm_state ?? VmState.ACTIVE;
    delete sysmeta.old_vm_state;
    await deps.instances.save(ctx, inst, { vm_state: back, power_state: PowerState.RUNNING, task_state: null, system_metadata: sysmeta },
      POWER_TRANSITIONS.resume.expectedTaskState);
  });
}

/** get_console_output (a call): what the instance wrote to stdout/stderr, the last tail_length lines. */
export async function getConsoleOutput(deps: ManagerDeps, _ctx: RequestContext, args: Record<string, unknown>): Promise<string> {
  checkArgs('get_console_output', args);
  const inst = instanceFromArgs(args);
  // nova-api passes the API's `length` as it came: an integer or a string of digits.
  const tail = Number(args.tail_length ?? -1);
  return driverCall(inst, () => deps.driver.consoleOutput(inst.str('uuid'), Number.isInteger(tail) && tail >= 0 ? tail : undefined));
}
