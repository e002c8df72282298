/**
 * A resize or cold migration that a restart of this service cut short, taken up at start-up
 * from the step it was in. Nova's _init_instance only reverts a source's resize_migrating and
 * leaves the other steps stuck; here each ends the way a failure of that step ends (resize.ts).
 * The instance's record names this host; its newest resize or migration from or to this host
 * tells which step ran here:
 *   - resize_migrating on the source (the capture under way): it stays here as it was, started
 *     again unless it was stopped, the migration in error, its allocation given back, the
 *     image of the move deleted;
 *   - resize_finish on the destination (finish_resize under way): what the arrival made here
 *     goes and the instance is handed back to its source;
 *   - resize_reverting on the source (finish_revert_resize under way): the revert finished;
 *   - resize_reverting on the destination (revert_resize, or a hand-back, under way): its copy
 *     here removed and finish_revert_resize cast to the source again;
 *   - a resize on this one host, whose steps all run in one go here: back to its old flavor,
 *     or the revert finished.
 * A revert_resize that was still queued here when the service stopped (nova-api casts it also
 * to a host that is down) finds the migration reverted and does nothing (resize.ts). resize_migrated
 * on the destination is left as it is: the source's finish_resize cast may be waiting in this
 * host's queue, and runs once the service consumes it (recovery runs before it consumes).
 */
import type { Logger } from '../../common/log.js';
import type { RequestContext } from '../../messaging/types.js';
import { NovaObject } from '../objects/versioned-object.js';
import type { ManagerDeps } from './deps.js';
import { settle } from './instance-action.js';
import { cachedVifs } from './networking.js';
import {
  betweenHosts, deleteMoveImage, finishRevertHere, handBack, leaveDestination, oldVmState, readyToHandBack, recordedMoveImage, stayHere, unrecordedMoveImage,
} from './resize.js';
import { saveMigration } from './migrations.js';
import { TaskState, VmState } from './states.js';

const MOVE_TASKS: (string | null)[] = [TaskState.RESIZE_MIGRATING, TaskState.RESIZE_MIGRATED, TaskState.RESIZE_FINISH, TaskState.RESIZE_REVERTING];

/** What resumeMove did: taken up, left for a cast still to come, or no move of this host to take up. */
export type MoveResumption = 'resumed' | 'waiting' | 'none';

export function inMove(inst: NovaObject): boolean {
  return MOVE_TASKS.includes((inst.get('task_state') ?? null) as string | null);
}

/** The instance's newest resize or cold migration from or to this host. */
async function latestMove(deps: ManagerDeps, ctx: RequestContext, uuid: string): Promise<NovaObject | null> {
  const list = await deps.conductor.classAction(ctx, 'MigrationList', 'get_by_filters', [{ instance_uuid: uuid, host: deps.host }]);
  const moves = (list instanceof NovaObject ? list.items() : [])
    .filter((m) => ['resize', 'migration'].includes(m.optStr('migration_type') ?? 'resize'));
  return moves.sort((a, b) => Number(b.get('id') ?? 0) - Number(a.get('id') ?? 0))[0] ?? null;
}

/** What an arrival cut short made here goes: its container, its usage here, the image of the move. */
async function leaveArrival(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, log: Logger): Promise<void> {
  const uuid = inst.str('uuid');
  await settle(log, 'destroy what the arrival made', deps.driver.destroy(uuid, cachedVifs(inst)));
  await settle(log, 'release its usage here', deps.usage.untrack(ctx, uuid));
  await deleteMoveImage(deps, ctx, inst, log);
}

const interrupted = (step: string) => new Error(`The ${step} was interrupted by a restart of the compute service`);

/**
 * Takes up the move of an instance in one of MOVE_TASKS. Called outside the instance's lock:
 * each step takes it.
 */
export async function resumeMove(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, log: Logger): Promise<MoveResumption> {
  const uuid = inst.str('uuid');
  const task = String(inst.get('task_state'));
  const m = await latestMove(deps, ctx, uuid);
  if (!m) return 'none';
  const status = m.optStr('status');
  const mlog = log.child({ instance: uuid, migration: m.str('uuid'), task_state: task, migration_status: status });
  const locked = (fn: () => Promise<void>) => deps.locks.run(uuid, fn);
  const sourceHere = m.optStr('source_compute') === deps.host;

  if (task === TaskState.RESIZE_REVERTING) {
    // A revert_resize cast still queued here finds the migration reverted and does nothing (resize.ts).
    if (!betweenHosts(m) || sourceHere) {
      mlog.warn('a revert was under way when the service stopped: finishing it');
      if (status === 'reverting') await locked(() => saveMigration(deps, ctx, m, { status: 'reverted' })); // revert_resize's step on one host
      await finishRevertHere(deps, ctx, inst, m);
      return 'resumed';
    }
    await locked(async () => {
      if (status === 'error') {
        mlog.warn('a hand-back to the source was under way when the service stopped: casting it again');
        await leaveArrival(deps, ctx, inst, mlog);
        await handBack(deps, ctx, inst, m, null, mlog);
      } else {
        mlog.warn('a revert was under way when the service stopped: removing the copy here, casting it to the source again');
        await leaveDestination(deps, ctx, inst, m, null, mlog);
      }
    });
    return 'resumed';
  }
  if (!betweenHosts(m) || (task === TaskState.RESIZE_MIGRATING && sourceHere)) {
    await locked(async () => {
      mlog.warn('a move was under way here when the service stopped: the instance stays here as it was');
      const wasRunning = betweenHosts(m) && oldVmState(inst) !== VmState.STOPPED;
      const image = recordedMoveImage(inst) ?? await unrecordedMoveImage(deps, ctx, m, mlog);
      await stayHere(deps, ctx, inst, m, image, wasRunning, mlog);
      await settle(mlog, 'record the fault', deps.instances.addFault(ctx, uuid, interrupted(betweenHosts(m) ? 'move to another host' : 'resize')));
      await deps.instances.save(ctx, inst, { task_state: null }, [task]);
      await settle(mlog, 'record its usage', deps.usage.track(ctx, inst));
    });
    return 'resumed';
  }
  if (task === TaskState.RESIZE_FINISH) {
    await locked(async () => {
      mlog.warn('an arrival was under way here when the service stopped: handing the instance back to its source');
      await leaveArrival(deps, ctx, inst, mlog);
      await settle(mlog, 'record the fault', deps.instances.addFault(ctx, uuid, interrupted('arrival on this host')));
      const back = await readyToHandBack(deps, ctx, inst, m, mlog);
      // not readied: it stays here in ERROR (readyToHandBack), with no task, as a failed finish_resize leaves it
      if (back) await handBack(deps, ctx, inst, back, null, mlog);
      else await settle(mlog, 'clear task_state', deps.instances.save(ctx, inst, { task_state: null }));
    });
    return 'resumed';
  }
  mlog.warn('a move to this host waits for its source\'s finish_resize cast: left as it is');
  return 'waiting';
}
