/**
 * terminate_instance (nova/compute/manager.py _delete_instance): everything of the instance
 * on this host removed, its ports released, the instance marked deleted, its Placement
 * allocation given back, the record destroyed, its console tokens removed, the schedulers
 * told. A delete always succeeds: whatever is already gone or half-made (workload, sandbox, device, port unbound,
 * deleted or bound elsewhere, allocation) is skipped or cleaned best-effort and logged. Only
 * the driver failing to remove something that exists leaves the instance in ERROR, with a
 * fault naming what is left; a delete retried after a crash finishes the job.
 */
import type { Logger } from '../../common/log.js';
import type { RequestContext } from '../../messaging/types.js';
import { InstanceNotFound, InstanceTerminationFailure } from '../errors.js';
import { novaDatetime } from '../objects/versioned-object.js';
import type { ManagerDeps } from './deps.js';
import { instanceAction, instanceFromArgs, settle } from './instance-action.js';
import { checkArgs } from './compute-args.js';
import { PowerState, VmState } from './states.js';
import { cachedVifs, preservedPorts, releasePorts } from './networking.js';
import type { NovaObject } from '../objects/versioned-object.js';

export async function terminateInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_terminate_instance', revertTaskState: false }, async (log) => {
    checkArgs('terminate_instance', args);
    try {
      await deleteInstance(deps, ctx, inst, log);
    } catch (err) {
      if (err instanceof InstanceNotFound) {
        log.info('instance disappeared during terminate'); // deleted already (a delete retried): done
        await settle(log, 'release its usage', deps.usage.untrack(ctx, inst.str('uuid')));
        return;
      }
      await settle(log, 'set ERROR', deps.instances.save(ctx, inst, { vm_state: VmState.ERROR, task_state: null }));
      throw err;
    }
    await settle(log, 'tell the schedulers', deps.scheduler.deleteInstanceInfo(ctx, inst.str('uuid')));
  });
}

/** The delete itself, shared with start-up recovery of instances left mid-delete. */
export async function deleteInstance(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, log: Logger): Promise<void> {
  const uuid = inst.str('uuid');
  // The cast's instance may come without its info cache: it says which ports the user passed.
  const withCache = inst.obj('info_cache') ? inst : await deps.instances.get(ctx, uuid, ['info_cache']).catch(() => inst);
  try {
    const report = await deps.driver.destroy(uuid, cachedVifs(withCache));
    if (report.removed.length) log.info({ removed: report.removed }, 'instance removed from the host');
  } catch (err) {
    throw new InstanceTerminationFailure({ reason: (err as Error).message });
  }
  await releasePorts(deps, ctx, uuid, preservedPorts(withCache), log);
  await deps.instances.save(ctx, inst, { vm_state: VmState.DELETED, task_state: null, power_state: PowerState.NOSTATE, terminated_at: novaDatetime() });
  await settle(log, 'release the allocation', deps.placement.deleteAllocations(uuid));
  await deps.instances.destroy(ctx, inst);
  await settle(log, 'release its usage', deps.usage.untrack(ctx, uuid));
  // its console tokens go with it, as nova-compute removes them where consoles are enabled
  if (deps.serialConsole) {
    await settle(log, 'remove its console tokens', deps.conductor.classAction(ctx, 'ConsoleAuthToken', 'clean_console_auths_for_instance', [uuid]));
  }
}
