/**
 * Start-up reconciliation and the periodic power-state sync (nova/compute/manager.py
 * _init_instance, _error_out_instances_whose_build_was_interrupted, _sync_power_states),
 * applied to containers:
 *   - instances left mid-build go to ERROR and lose their container: never stuck in BUILD;
 *   - instances left mid-delete (or already deleted) finish deleting;
 *   - a snapshot or other task interrupted by the restart is cleared, powering-off/on is redone;
 *   - containers of this host that belong to no instance are reported, and removed when
 *     [container] remove_orphans is set;
 *   - a container that stopped, died or vanished behind Nova's back is recorded as such.
 */
import type { Logger } from '../../common/log.js';
import type { RequestContext } from '../../messaging/types.js';
import type { NovaObject } from '../objects/versioned-object.js';
import { InstanceNotFound } from '../errors.js';
import type { ContainerStatus } from '../../runtime/types.js';
import type { ManagerDeps } from './deps.js';
import { settle } from './instance-action.js';
import { LABEL_HOST, LABEL_INSTANCE, containerName } from './container-spec.js';
import { deleteInstance } from './terminate.js';
import { preservedPorts, teardown } from './networking.js';
import { PowerState, TaskState, VmState, powerStateOf } from './states.js';

const BUILD_TASKS: (string | null)[] = [TaskState.SCHEDULING, TaskState.BLOCK_DEVICE_MAPPING, TaskState.NETWORKING, TaskState.SPAWNING];

export interface RecoveryReport {
  erroredBuilds: string[];
  finishedDeletes: string[];
  clearedTasks: string[];
  orphans: string[];
  removedOrphans: string[];
}

export async function recoverOnStartup(deps: ManagerDeps, ctx: RequestContext, removeOrphans: boolean): Promise<RecoveryReport> {
  const log = deps.log.child({ phase: 'recovery' });
  const report: RecoveryReport = { erroredBuilds: [], finishedDeletes: [], clearedTasks: [], orphans: [], removedOrphans: [] };
  const instances = await deps.instances.listOnHost(ctx, ['flavor', 'metadata', 'system_metadata']);
  for (const inst of instances) {
    const uuid = inst.str('uuid');
    try {
      await deps.locks.run(uuid, () => recoverInstance(deps, ctx, inst, report, log));
    } catch (err) {
      log.error({ instance: uuid, err: (err as Error).message }, 'could not recover instance');
    }
  }
  await errorOutBuildsNeverStarted(deps, ctx, new Set(instances.map((i) => i.str('uuid'))), report, log);
  const known = new Set(instances.filter((i) => i.get('vm_state') !== VmState.DELETED).map((i) => i.str('uuid')));
  for (const c of await deps.engine.listContainers({ [LABEL_HOST]: deps.host })) {
    const uuid = c.labels[LABEL_INSTANCE];
    if (uuid && known.has(uuid)) continue;
    report.orphans.push(c.name);
    if (removeOrphans) {
      await deps.engine.removeContainer(c.id);
      report.removedOrphans.push(c.name);
      log.warn({ container: c.name }, 'removed a container that belongs to no instance of this host');
    } else {
      log.warn({ container: c.name }, 'container belongs to no instance of this host (set [container] remove_orphans to remove it)');
    }
  }
  log.info({ ...report }, 'start-up reconciliation done');
  return report;
}

async function recoverInstance(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, report: RecoveryReport, log: Logger): Promise<void> {
  const uuid = inst.str('uuid');
  const vm = inst.get('vm_state');
  const task = (inst.get('task_state') ?? null) as string | null;
  if (vm === VmState.DELETED || task === TaskState.DELETING) {
    await deleteInstance(deps, ctx, inst);
    report.finishedDeletes.push(uuid);
    return;
  }
  if (vm === VmState.BUILDING || (task !== null && BUILD_TASKS.includes(task))) {
    await errorOut(deps, ctx, inst, 'build', log);
    report.erroredBuilds.push(uuid);
    return;
  }
  if (task === null) return;
  const c = await deps.engine.inspectContainer(containerName(uuid));
  if (task === TaskState.POWERING_OFF && c) {
    await deps.engine.stopContainer(c.id, deps.shutdownTimeout);
    await deps.instances.save(ctx, inst, { vm_state: VmState.STOPPED, power_state: PowerState.SHUTDOWN, task_state: null }, [task]);
  } else if (task === TaskState.POWERING_ON && c) {
    await deps.engine.startContainer(c.id);
    await deps.instances.save(ctx, inst, { vm_state: VmState.ACTIVE, power_state: PowerState.RUNNING, task_state: null }, [task]);
  } else {
    const after = c ? await deps.engine.inspectContainer(c.id) : null;
    await deps.instances.save(ctx, inst, { task_state: null, power_state: powerStateOf(after, inst.optStr('vm_state')) }, [task]);
  }
  report.clearedTasks.push(uuid);
}

async function errorOut(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, operation: string, log: Logger): Promise<void> {
  const uuid = inst.str('uuid');
  await deps.engine.removeContainer(containerName(uuid));
  if (deps.network) await settle(log, 'release the ports', teardown(deps.network, deps.conductor, ctx, uuid, preservedPorts(inst)));
  await settle(log, 'record the fault', deps.instances.addFault(ctx, uuid, new Error(`The ${operation} was interrupted by a restart of the compute service`)));
  await deps.instances.save(ctx, inst, { vm_state: VmState.ERROR, task_state: null, power_state: PowerState.NOSTATE });
  await settle(log, 'release the allocation', deps.placement.deleteAllocations(uuid));
  log.warn({ instance: uuid }, `instance was mid-${operation} when the service stopped: set to ERROR`);
}

/**
 * A build cast acknowledged just before a crash leaves an instance in BUILD that never got
 * this host's name, but the scheduler's allocation against our provider says it was ours.
 */
async function errorOutBuildsNeverStarted(deps: ManagerDeps, ctx: RequestContext, onHost: Set<string>,
  report: RecoveryReport, log: Logger): Promise<void> {
  const allocations = await deps.placement.providerAllocations(deps.providerUuid());
  for (const consumer of Object.keys(allocations)) {
    if (onHost.has(consumer)) continue;
    let inst: NovaObject;
    try {
      inst = await deps.instances.get(ctx, consumer, []);
    } catch (err) {
      if (err instanceof InstanceNotFound) continue; // a migration or a deleted instance: not ours to fix
      throw err;
    }
    if (inst.get('vm_state') === VmState.BUILDING && !inst.get('host')) {
      await errorOut(deps, ctx, inst, 'build', log);
      report.erroredBuilds.push(consumer);
    }
  }
}

/** One _sync_power_states pass: the container's state wins over what Nova has recorded. */
export async function syncPowerStates(deps: ManagerDeps, ctx: RequestContext): Promise<void> {
  for (const inst of await deps.instances.listOnHost(ctx, [])) {
    const uuid = inst.str('uuid');
    if (inst.get('task_state') !== null && inst.get('task_state') !== undefined) continue; // an operation is under way
    await deps.locks.run(uuid, async () => {
      const c: ContainerStatus | null = await deps.engine.inspectContainer(containerName(uuid));
      await syncOne(deps, ctx, inst, c);
    });
  }
}

async function syncOne(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, c: ContainerStatus | null): Promise<void> {
  const vm = inst.get('vm_state');
  const now = powerStateOf(c, inst.optStr('vm_state'));
  const log = deps.log.child({ instance: inst.str('uuid'), phase: 'power-sync' });
  if (vm === VmState.ACTIVE && !c) {
    log.warn('container vanished behind Nova\'s back: instance set to ERROR');
    await settle(log, 'record the fault', deps.instances.addFault(ctx, inst.str('uuid'), new InstanceNotFound({ instance_id: inst.str('uuid') })));
    await deps.instances.save(ctx, inst, { vm_state: VmState.ERROR, power_state: now }, [null]);
  } else if (vm === VmState.ACTIVE && (now === PowerState.SHUTDOWN || now === PowerState.CRASHED)) {
    log.warn({ exit_code: c?.exitCode }, 'container stopped behind Nova\'s back: instance recorded as stopped');
    await deps.instances.save(ctx, inst, { vm_state: VmState.STOPPED, power_state: now }, [null]);
  } else if (inst.get('power_state') !== now) {
    await deps.instances.save(ctx, inst, { power_state: now }, [null]);
  }
}
