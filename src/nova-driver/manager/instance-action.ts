/**
 * What nova-compute's decorators do around every instance operation
 * (nova/compute/manager.py wrap_instance_event, wrap_instance_fault, reverts_task_state):
 * an instance action event named `compute_<method>`, a fault recorded when it fails, the
 * task_state cleared on failure unless the failure was a task-state conflict, and one
 * operation at a time per instance.
 */
import type { Logger } from '../../common/log.js';
import { UnexpectedTaskStateError, InstanceNotFound } from '../errors.js';
import type { RequestContext } from '../../messaging/types.js';
import { NovaObject, type ObjectPrimitive } from '../objects/versioned-object.js';
import type { ManagerDeps } from './deps.js';

export function instanceFromArgs(args: Record<string, unknown>, key = 'instance'): NovaObject {
  const inst = NovaObject.fromPrimitive(args[key] as ObjectPrimitive);
  inst.clearChanges();
  return inst;
}

export interface ActionOptions {
  /** Event name; default `compute_<method>`. */
  event: string;
  /** Clear task_state on failure (reverts_task_state); a function decides once the failure is known. */
  revertTaskState?: boolean | (() => boolean);
  /** Record an instance fault on failure (wrap_instance_fault). */
  recordFault?: boolean;
}

export async function instanceAction<T>(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject,
  opts: ActionOptions, body: (log: Logger) => Promise<T>): Promise<T> {
  const uuid = inst.str('uuid');
  const log = deps.log.child({ instance: uuid, request_id: ctx.request_id, action: opts.event });
  return deps.locks.run(uuid, async () => {
    // The event is bookkeeping for `server event list`: recorded alongside the work, not before it.
    const started = deps.instances.eventStart(ctx, uuid, opts.event).then(() => true, (e: unknown) => {
      log.warn({ err: (e as Error).message }, 'could not record the action event start');
      return false;
    });
    try {
      const result = await body(log);
      if (await started) await deps.instances.eventFinish(ctx, uuid, opts.event);
      return result;
    } catch (err) {
      log.error({ err: (err as Error).message, error_class: (err as Error).name }, 'instance action failed');
      if (await started) await settle(log, 'finish the action event', deps.instances.eventFinish(ctx, uuid, opts.event, err));
      // No fault for InstanceNotFound (wrap_instance_fault), but the task_state is still cleared
      // (reverts_task_state): the driver may have lost an instance Nova still has.
      if ((opts.recordFault ?? true) && !(err instanceof InstanceNotFound)) {
        await settle(log, 'record the fault', deps.instances.addFault(ctx, uuid, err));
      }
      const revert = typeof opts.revertTaskState === 'function' ? opts.revertTaskState() : opts.revertTaskState ?? true;
      if (revert && !(err instanceof UnexpectedTaskStateError)) {
        await settle(log, 'clear task_state', deps.instances.save(ctx, inst, { task_state: null }));
      }
      throw err;
    }
  });
}

/** Best-effort bookkeeping on a failure path: log, never mask the original error. */
export async function settle(log: Logger, what: string, p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    log.warn({ err: (e as Error).message }, `could not ${what}`);
  }
}
