/**
 * Start-up reconciliation and the periodic power-state sync (nova/compute/manager.py
 * _init_instance, _error_out_instances_whose_build_was_interrupted, _sync_power_states),
 * through the instance driver:
 *   - instances left mid-build go to ERROR and lose what their spawn made: never stuck in BUILD;
 *   - instances left mid-delete (or already deleted) finish deleting;
 *   - a snapshot or other task interrupted by the restart is cleared, powering-off/on is redone;
 *     a cut capture (snapshot, shelve, move) and its unfinished Glance image go;
 *   - a resize or migration interrupted by the restart is taken up (move-recovery.ts);
 *   - instances evacuated from here while the host was down lose their copy here;
 *   - what the driver runs for instances Nova does not know here is reported, and removed
 *     when [container] remove_orphans is set;
 *   - an instance that stopped, died or vanished behind Nova's back is recorded as such.
 */
import type { Logger } from '../../common/log.js';
import type { RequestContext } from '../../messaging/types.js';
import { NovaObject } from '../objects/versioned-object.js';
import { InstanceNotFound } from '../errors.js';
import type { InstanceInfo } from '../instance-driver.js';
import type { ManagerDeps } from './deps.js';
import { settle } from './instance-action.js';
import { deleteInstance } from './terminate.js';
import { deleteIfUnfinished } from './snapshot.js';
import { inMove, resumeMove } from './move-recovery.js';
import { cachedVifs, preservedPorts, releasePorts, vifSource } from './networking.js';
import { PowerState, TaskState, VmState, powerStateFor } from './states.js';

const BUILD_TASKS: (string | null)[] = [TaskState.SCHEDULING, TaskState.BLOCK_DEVICE_MAPPING, TaskState.NETWORKING, TaskState.SPAWNING];

export interface RecoveryReport {
  erroredBuilds: string[];
  finishedDeletes: string[];
  clearedTasks: string[];
  orphans: string[];
  removedOrphans: string[];
  /** Instances evacuated from here whose copy here was removed. */
  evacuated: string[];
  /** Instances whose interrupted resize or migration was taken up. */
  resumedMoves: string[];
  /** Instances moving to this host whose next step is a cast still to come (resize_migrated). */
  waitingMoves: string[];
  /** Glance images of captures (snapshot, shelve, move) the stop cut short: their captures dropped here. */
  droppedCaptures: string[];
}

/**
 * _destroy_evacuated_instances: instances evacuated from here while this host was down (their
 * evacuation migrations from this host, accepted, pre-migrating or done) lose their copy here
 * and this host's share of their allocation; each migration is then completed. Returns their
 * uuids.
 */
async function destroyEvacuated(deps: ManagerDeps, ctx: RequestContext, here: Set<string>, report: RecoveryReport, log: Logger): Promise<Set<string>> {
  // deleted instances' migrations too: a copy here of an instance deleted meanwhile goes as well
  const list = await deps.conductor.classAction({ ...ctx, read_deleted: 'yes' }, 'MigrationList', 'get_by_filters',
    [{ source_compute: deps.host, status: ['accepted', 'pre-migrating', 'done'], migration_type: 'evacuation' }]);
  const migrations = list instanceof NovaObject ? list.items() : [];
  const evacuated = new Set<string>();
  for (const m of migrations) {
    const uuid = m.str('instance_uuid');
    evacuated.add(uuid);
    const inst = await deps.instances.get(ctx, uuid, ['info_cache']).catch(() => null);
    if (here.has(uuid)) {
      await settle(log, `remove the copy of evacuated instance ${uuid}`, deps.driver.destroy(uuid, inst ? cachedVifs(inst) : []).then(() => {
        report.evacuated.push(uuid);
        log.info({ instance: uuid, migration: m.str('uuid') }, 'removed the copy of an instance evacuated from here');
      }));
    }
    // an instance deleted meanwhile has no allocation left to trim, and its migration stays as it is (Nova's)
    if (!inst) continue;
    await settle(log, `give back this host's share of the allocation of ${uuid}`, (async () => {
      await deps.placement.removeProviderFromConsumer(uuid, deps.providerUuid());
      m.set('status', 'completed');
      await deps.conductor.objectAction(ctx, m, 'save');
    })());
  }
  return evacuated;
}

/**
 * An instance moved to another host whose move is not confirmed or reverted yet (vm_state
 * resized, or a resize task): its stopped container here is what a revert starts again.
 */
async function movedAwayUnconfirmed(deps: ManagerDeps, ctx: RequestContext, uuid: string): Promise<boolean> {
  const inst = await deps.instances.get(ctx, uuid).catch(() => null);
  if (!inst || inst.optStr('host') === deps.host) return false;
  return inst.get('vm_state') === VmState.RESIZED || (inst.optStr('task_state') ?? '').startsWith('resize_');
}

export async function recoverOnStartup(deps: ManagerDeps, ctx: RequestContext, removeOrphans: boolean): Promise<RecoveryReport> {
  const log = deps.log.child({ phase: 'recovery' });
  const report: RecoveryReport = { erroredBuilds: [], finishedDeletes: [], clearedTasks: [], orphans: [], removedOrphans: [], evacuated: [], resumedMoves: [], waitingMoves: [], droppedCaptures: [] };
  const listRunning = () => deps.driver.listInstances().catch((err: unknown) => {
    log.error({ err: (err as Error).message }, 'could not list what this host runs: orphans and evacuated instances not looked for');
    return null;
  });
  // first, as Nova's init_host does: an evacuation still under way is not recovered here
  const before = await listRunning();
  const evacuated = before ? await destroyEvacuated(deps, ctx, new Set(before.map((i) => i.uuid)), report, log)
    .catch((err: unknown) => { log.error({ err: (err as Error).message }, 'could not look for instances evacuated from here'); return new Set<string>(); })
    : new Set<string>();
  const instances = (await deps.instances.listOnHost(ctx, ['flavor', 'metadata', 'system_metadata', 'info_cache']))
    .filter((i) => !evacuated.has(i.str('uuid')));
  for (const inst of instances) {
    const uuid = inst.str('uuid');
    const task = (inst.get('task_state') ?? null) as string | null;
    if (inMove(inst)) {
      const resumed = await resumeMove(deps, ctx, inst, log).catch((err: unknown) => {
        log.error({ instance: uuid, err: (err as Error).message }, 'could not take up an interrupted move');
        return 'failed' as const;
      });
      if (resumed === 'resumed') report.resumedMoves.push(uuid);
      if (resumed === 'waiting') report.waitingMoves.push(uuid);
      if (resumed === 'resumed' || resumed === 'waiting') continue;
    }
    await deps.locks.run(uuid, async () => {
      try {
        await recoverInstance(deps, ctx, inst, report, log);
      } catch (err) {
        log.error({ instance: uuid, err: (err as Error).message }, 'could not recover instance');
        await leaveNoTask(deps, ctx, inst, task, err, log);
      }
    });
  }
  // Neither may stop the service from starting: what fails here is logged, and tried again at the next start.
  await errorOutBuildsNeverStarted(deps, ctx, new Set(instances.map((i) => i.str('uuid'))), report, log)
    .catch((err: unknown) => log.error({ err: (err as Error).message }, 'could not look for builds that never started'));
  await dropInterruptedCaptures(deps, ctx, new Set([...instances.map((i) => i.str('uuid')), ...evacuated]), report, log)
    .catch((err: unknown) => log.error({ err: (err as Error).message }, 'could not look for captures cut short by the stop'));
  const known = new Set(instances.filter((i) => i.get('vm_state') !== VmState.DELETED).map((i) => i.str('uuid')));
  // what the recovery above left running
  const running = before ? await listRunning() : null;
  for (const { uuid } of running ?? []) {
    if (known.has(uuid) || evacuated.has(uuid) || await movedAwayUnconfirmed(deps, ctx, uuid)) continue;
    report.orphans.push(uuid);
    if (removeOrphans) {
      try {
        await deps.driver.destroy(uuid, []);
        report.removedOrphans.push(uuid);
        log.warn({ instance: uuid }, 'removed an instance that belongs to no instance record of this host');
      } catch (err) {
        log.error({ instance: uuid, err: (err as Error).message }, 'could not remove an instance that belongs to no instance record of this host');
      }
    } else {
      log.warn({ instance: uuid }, 'this host runs an instance Nova does not know here (set [container] remove_orphans to remove it)');
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
    await deleteInstance(deps, ctx, inst, log);
    report.finishedDeletes.push(uuid);
    return;
  }
  if (vm === VmState.BUILDING || (task !== null && BUILD_TASKS.includes(task))) {
    await errorOut(deps, ctx, inst, 'build', log);
    report.erroredBuilds.push(uuid);
    return;
  }
  if (task === null) return;
  const exists = (await deps.driver.getInfo(uuid)) !== null;
  if (task === TaskState.POWERING_OFF && exists) {
    await deps.driver.powerOff(uuid, deps.shutdownTimeout);
    await deps.instances.save(ctx, inst, { vm_state: VmState.STOPPED, power_state: PowerState.SHUTDOWN, task_state: null }, [task]);
  } else if (task === TaskState.POWERING_ON && exists) {
    await deps.driver.powerOn(uuid, vifSource(deps, ctx, inst));
    await deps.instances.save(ctx, inst, { vm_state: VmState.ACTIVE, power_state: PowerState.RUNNING, task_state: null }, [task]);
  } else {
    await deps.instances.save(ctx, inst, { task_state: null, power_state: powerStateFor(await deps.driver.getInfo(uuid), inst.optStr('vm_state')) }, [task]);
  }
  report.clearedTasks.push(uuid);
}

/**
 * A recovery that failed leaves no task (`task`, the one it found) nobody carries on: a delete
 * ends in ERROR with a fault (as terminate_instance and Nova's _init_instance leave it), any
 * other task is cleared (Nova's stop and start, retried at start-up, revert their task_state).
 */
async function leaveNoTask(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, task: string | null, err: unknown, log: Logger): Promise<void> {
  if (task === null) return;
  const deleting = task === TaskState.DELETING;
  if (deleting) await settle(log, 'record the fault', deps.instances.addFault(ctx, inst.str('uuid'), err));
  await settle(log, 'clear task_state', deps.instances.save(ctx, inst, deleting ? { vm_state: VmState.ERROR, task_state: null } : { task_state: null }));
}

async function errorOut(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, operation: string, log: Logger): Promise<void> {
  const uuid = inst.str('uuid');
  await settle(log, 'destroy what the build made', deps.driver.destroy(uuid, cachedVifs(inst)));
  await releasePorts(deps, ctx, uuid, preservedPorts(inst), log);
  await settle(log, 'record the fault', deps.instances.addFault(ctx, uuid, new Error(`The ${operation} was interrupted by a restart of the compute service`)));
  await deps.instances.save(ctx, inst, { vm_state: VmState.ERROR, task_state: null, power_state: PowerState.NOSTATE });
  await settle(log, 'release the allocation', deps.placement.deleteAllocations(uuid));
  log.warn({ instance: uuid }, `instance was mid-${operation} when the service stopped: set to ERROR`);
}

/**
 * A snapshot, shelve or move cut short by the stop (its task is cleared above, as Nova's
 * _init_instance clears it) leaves its capture here and its Glance image unfinished. The image
 * goes first, as it would have had the capture failed (delete_image_on_error), then the
 * capture: one whose image cannot be dealt with now is kept, and found again at the next start.
 * Captures of `ours` (the instances of this host, and those evacuated from it) go, as do those
 * of instances Nova no longer has (deleted while the service was down) or has on another host
 * with no task (evacuated, once the evacuation is complete): another host sharing the engine
 * (test hosts may) is not mid-capture of those.
 */
async function dropInterruptedCaptures(deps: ManagerDeps, ctx: RequestContext, ours: ReadonlySet<string>,
  report: RecoveryReport, log: Logger): Promise<void> {
  for (const capture of await deps.driver.interruptedCaptures()) {
    const clog = log.child({ instance: capture.instanceUuid, image: capture.imageId });
    try {
      const uuid = capture.instanceUuid;
      if (uuid !== null && !ours.has(uuid) && !await capturedByNoOne(deps, ctx, uuid)) continue;
      const deleted = await deleteIfUnfinished(deps, ctx, capture.imageId);
      await deps.driver.dropCapture(capture);
      clog.warn(deleted ? 'a capture cut short by the stop: dropped, its unfinished Glance image deleted' : 'a capture cut short by the stop: dropped');
      report.droppedCaptures.push(capture.imageId);
    } catch (err) {
      clog.error({ err: (err as Error).message }, 'could not clear a capture cut short by the stop: tried again at the next start');
    }
  }
}

async function capturedByNoOne(deps: ManagerDeps, ctx: RequestContext, uuid: string): Promise<boolean> {
  return deps.instances.get(ctx, uuid, []).then((inst) => inst.optStr('host') !== deps.host && !inst.get('task_state'), (err: unknown) => {
    if (err instanceof InstanceNotFound) return true;
    throw err;
  });
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
      try {
        await errorOut(deps, ctx, inst, 'build', log);
        report.erroredBuilds.push(consumer);
      } catch (err) {
        log.error({ instance: consumer, err: (err as Error).message }, 'could not recover instance');
      }
    }
  }
}

/**
 * One _sync_power_states pass: the driver's state wins over what Nova has recorded. One listing
 * of the host's instances and one of the engine's find the instances whose state differs; only
 * those are re-read under their lock (an operation that just finished is not undone) and
 * inspected again, each alone: one failure is logged and the pass goes on.
 */
export async function syncPowerStates(deps: ManagerDeps, ctx: RequestContext): Promise<void> {
  const log = deps.log.child({ phase: 'power-sync' });
  const listed = await deps.instances.listOnHost(ctx, []);
  const running = new Map((await deps.driver.listInstances()).map((i) => [i.uuid, i]));
  for (const candidate of listed) {
    const uuid = candidate.str('uuid');
    if (candidate.get('task_state') !== null && candidate.get('task_state') !== undefined) continue; // an operation is under way
    if (!outOfSync(candidate, running.get(uuid) ?? null)) continue;
    try {
      await deps.locks.run(uuid, async () => {
        let inst: NovaObject;
        try {
          inst = await deps.instances.get(ctx, uuid, []);
        } catch (err) {
          if (err instanceof InstanceNotFound) return; // deleted meanwhile
          throw err;
        }
        if ((inst.get('task_state') ?? null) !== null || inst.optStr('host') !== deps.host) return;
        await syncOne(deps, ctx, inst, await deps.driver.getInfo(uuid), log.child({ instance: uuid }));
      });
    } catch (err) {
      log.error({ instance: uuid, err: (err as Error).message }, 'could not sync the power state');
    }
  }
}

/** Whether syncOne would change the instance's record, given what the driver reports. */
function outOfSync(inst: NovaObject, info: InstanceInfo | null): boolean {
  const now = powerStateFor(info, inst.optStr('vm_state'));
  if (inst.get('power_state') !== now) return true;
  // NOSTATE with an entry: its sandbox is listed, its workload is gone (getInfo says null)
  return inst.get('vm_state') === VmState.ACTIVE && (!info || now === PowerState.NOSTATE || now === PowerState.SHUTDOWN || now === PowerState.CRASHED);
}

async function syncOne(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, info: InstanceInfo | null, log: Logger): Promise<void> {
  const vm = inst.get('vm_state');
  const now = powerStateFor(info, inst.optStr('vm_state'));
  if (vm === VmState.ACTIVE && !info) {
    log.warn('instance vanished behind Nova\'s back: set to ERROR');
    await settle(log, 'record the fault', deps.instances.addFault(ctx, inst.str('uuid'), new InstanceNotFound({ instance_id: inst.str('uuid') })));
    await deps.instances.save(ctx, inst, { vm_state: VmState.ERROR, power_state: now }, [null]);
  } else if (vm === VmState.ACTIVE && (now === PowerState.SHUTDOWN || now === PowerState.CRASHED)) {
    log.warn({ exit_code: info?.exitCode }, 'instance stopped behind Nova\'s back: recorded as stopped');
    await deps.instances.save(ctx, inst, { vm_state: VmState.STOPPED, power_state: now }, [null]);
  } else if (inst.get('power_state') !== now) {
    await deps.instances.save(ctx, inst, { power_state: now }, [null]);
  }
}
