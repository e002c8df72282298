/**
 * Power actions on an instance's container, with Nova's task-state protocol
 * (nova/compute/manager.py stop/start/reboot/pause/unpause/suspend/resume_instance):
 *   stop     graceful stop (SIGTERM, SIGKILL after shutdown_timeout; at once if not clean_shutdown)
 *   start    start the stopped container (file system kept)
 *   reboot   SOFT: graceful stop then start; HARD: kill then start
 *   pause    freeze every process (cgroup freezer)
 *   suspend  the same freeze, recorded as SUSPENDED: a container cannot be checkpointed to
 *            disk here, so its memory stays resident while it uses no CPU; resume thaws it
 */
import { InstanceNotFound, InstancePowerOffFailure, InstancePowerOnFailure, InstanceRebootFailure } from '../errors.js';
import type { RequestContext } from '../../messaging/types.js';
import type { NovaObject } from '../objects/versioned-object.js';
import type { ManagerDeps } from './deps.js';
import { instanceAction, instanceFromArgs } from './instance-action.js';
import { containerName } from './container-spec.js';
import { replug } from './networking.js';
import { POWER_TRANSITIONS, PowerState, TaskState, VmState, powerStateOf, type PowerTransition } from './states.js';

async function containerOf(deps: ManagerDeps, inst: NovaObject) {
  const c = await deps.engine.inspectContainer(containerName(inst.str('uuid')));
  if (!c) throw new InstanceNotFound({ instance_id: inst.str('uuid') });
  return c;
}

async function finish(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, t: PowerTransition,
  extra: Record<string, string | number | null | Record<string, string>> = {}): Promise<void> {
  await deps.instances.save(ctx, inst, { vm_state: t.finalVmState, power_state: t.finalPowerState, task_state: null, ...extra }, t.expectedTaskState);
}

export async function stopInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_stop_instance' }, async () => {
    const c = await containerOf(deps, inst);
    try {
      if (c.state === 'paused') await deps.engine.unpauseContainer(c.id);
      await deps.engine.stopContainer(c.id, args.clean_shutdown === false ? 0 : deps.shutdownTimeout);
    } catch (err) {
      throw new InstancePowerOffFailure({ reason: (err as Error).message });
    }
    await finish(deps, ctx, inst, POWER_TRANSITIONS.stop);
  });
}

export async function startInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_start_instance' }, async (log) => {
    const c = await containerOf(deps, inst);
    try {
      await deps.engine.startContainer(c.id);
      await replug(deps.network, deps.engine, inst.str('uuid'), c.id, log);
    } catch (err) {
      throw new InstancePowerOnFailure({ reason: (err as Error).message });
    }
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
    const c = await containerOf(deps, inst);
    await deps.instances.save(ctx, inst, { task_state: pending, power_state: powerStateOf(c, inst.optStr('vm_state')) }, expected);
    await deps.instances.save(ctx, inst, { task_state: started }, [pending]);
    try {
      if (c.state === 'paused') await deps.engine.unpauseContainer(c.id);
      await deps.engine.stopContainer(c.id, hard ? 0 : deps.shutdownTimeout);
      await deps.engine.startContainer(c.id);
      await replug(deps.network, deps.engine, inst.str('uuid'), c.id, log);
    } catch (err) {
      throw new InstanceRebootFailure({ reason: (err as Error).message });
    }
    const after = await containerOf(deps, inst);
    await deps.instances.save(ctx, inst, {
      vm_state: inst.get('vm_state') === VmState.RESCUED ? VmState.RESCUED : VmState.ACTIVE,
      power_state: powerStateOf(after), task_state: null,
    });
  });
}

export async function pauseInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_pause_instance' }, async () => {
    await deps.engine.pauseContainer((await containerOf(deps, inst)).id);
    await finish(deps, ctx, inst, POWER_TRANSITIONS.pause);
  });
}

export async function unpauseInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_unpause_instance' }, async () => {
    await deps.engine.unpauseContainer((await containerOf(deps, inst)).id);
    await finish(deps, ctx, inst, POWER_TRANSITIONS.unpause);
  });
}

export async function suspendInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_suspend_instance' }, async () => {
    await deps.engine.pauseContainer((await containerOf(deps, inst)).id);
    const sysmeta = { ...((inst.get('system_metadata') ?? {}) as Record<string, string>), old_vm_state: String(inst.get('vm_state') ?? VmState.ACTIVE) };
    await finish(deps, ctx, inst, POWER_TRANSITIONS.suspend, { system_metadata: sysmeta });
  });
}

export async function resumeInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_resume_instance' }, async () => {
    await deps.engine.unpauseContainer((await containerOf(deps, inst)).id);
    const sysmeta = { ...((inst.get('system_metadata') ?? {}) as Record<string, string>) };
    const back = sysmeta.old_vm_state ?? VmState.ACTIVE;
    delete sysmeta.old_vm_state;
    await deps.instances.save(ctx, inst, { vm_state: back, power_state: PowerState.RUNNING, task_state: null, system_metadata: sysmeta },
      POWER_TRANSITIONS.resume.expectedTaskState);
  });
}

/** get_console_output (a call): what the container wrote to stdout/stderr, the last tail_length lines. */
export async function getConsoleOutput(deps: ManagerDeps, _ctx: RequestContext, args: Record<string, unknown>): Promise<string> {
  const inst = instanceFromArgs(args);
  const tail = typeof args.tail_length === 'number' && args.tail_length >= 0 ? args.tail_length : undefined;
  return deps.engine.containerLogs((await containerOf(deps, inst)).id, tail);
}
