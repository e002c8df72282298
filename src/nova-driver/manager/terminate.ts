/**
 * terminate_instance (nova/compute/manager.py _delete_instance): remove the container, mark
 * the instance deleted, give back its Placement allocation, tell the schedulers, destroy the
 * record. Removing a container that is already gone is not an error, so a delete retried
 * after a crash finishes the job.
 */
import type { RequestContext } from '../../messaging/types.js';
import { InstanceTerminationFailure } from '../errors.js';
import { novaDatetime } from '../objects/versioned-object.js';
import type { ManagerDeps } from './deps.js';
import { instanceAction, instanceFromArgs, settle } from './instance-action.js';
import { containerName } from './container-spec.js';
import { PowerState, VmState } from './states.js';
import { preservedPorts, teardown } from './networking.js';
import type { NovaObject } from '../objects/versioned-object.js';

export async function terminateInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_terminate_instance', revertTaskState: false }, async (log) => {
    try {
      await deleteInstance(deps, ctx, inst);
    } catch (err) {
      await settle(log, 'set ERROR', deps.instances.save(ctx, inst, { vm_state: VmState.ERROR, task_state: null }));
      throw err;
    }
    await settle(log, 'tell the schedulers', deps.scheduler.deleteInstanceInfo(ctx, inst.str('uuid')));
    await settle(log, 'update resources', deps.updateResources(ctx));
  });
}

/** The delete itself, shared with start-up recovery of instances left mid-delete. */
export async function deleteInstance(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject): Promise<void> {
  const uuid = inst.str('uuid');
  try {
    await deps.engine.removeContainer(containerName(uuid));
    if (deps.network) await teardown(deps.network, deps.conductor, ctx, uuid, preservedPorts(inst));
  } catch (err) {
    throw new InstanceTerminationFailure({ reason: (err as Error).message });
  }
  await deps.instances.save(ctx, inst, { vm_state: VmState.DELETED, task_state: null, power_state: PowerState.NOSTATE, terminated_at: novaDatetime() });
  await deps.placement.deleteAllocations(uuid);
  await deps.instances.destroy(ctx, inst);
}
