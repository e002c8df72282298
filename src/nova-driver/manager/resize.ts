/**
 * Resize on this host (nova/compute/manager.py prep_resize, resize_instance, finish_resize,
 * confirm_resize, revert_resize, finish_revert_resize), with Nova's migration statuses
 * (pre-migrating -> migrating -> post-migrating -> finished -> confirmed | reverted), task
 * states and flavor bookkeeping (new_flavor, old_flavor, system_metadata.old_vm_state).
 *
 * An instance resizes in place (InstanceDriver.updateLimits): its CPU and memory limits
 * change while it runs, so nothing is copied and nothing restarts. Source and destination are
 * this same host, so the steps Nova would cast between two computes run here one after the
 * other. Moving an instance to another host is not supported. Placement: the conductor moved the old allocation to the
 * migration's consumer; confirm deletes it, revert moves it back to the instance.
 */
import type { Logger } from '../../common/log.js';
import { NotImplementedError } from '../errors.js';
import { NovaObject, type FieldValue, type ObjectPrimitive } from '../objects/versioned-object.js';
import { withComputeId } from '../objects/compute-id.js';
import type { RequestContext } from '../../messaging/types.js';
import type { ManagerDeps } from './deps.js';
import { instanceAction, instanceFromArgs, settle } from './instance-action.js';
import { checkArgs } from './compute-args.js';
import { driverCall } from './power.js';
import { PowerState, TaskState, VmState, powerStateFor } from './states.js';
import { limitsOf } from './instance-spec.js';

type Args = Record<string, unknown>;

function migrationFromArgs(args: Args): NovaObject {
  const m = NovaObject.fromPrimitive(args.migration as ObjectPrimitive);
  m.clearChanges();
  return m;
}

async function saveMigration(deps: ManagerDeps, ctx: RequestContext, migration: NovaObject, fields: Record<string, FieldValue>): Promise<void> {
  for (const [k, v] of Object.entries(withComputeId(migration, fields, deps.computeNodeId()))) migration.set(k, v);
  await deps.conductor.objectAction(ctx, migration, 'save');
}

/** _set_instance_info: the instance's own copies of the flavor's sizes follow the flavor. */
function flavorFields(flavor: NovaObject): Record<string, FieldValue> {
  return {
    flavor, instance_type_id: flavor.get('id') ?? null, memory_mb: flavor.get('memory_mb') ?? 0, vcpus: flavor.get('vcpus') ?? 1,
    root_gb: flavor.get('root_gb') ?? 0, ephemeral_gb: flavor.get('ephemeral_gb') ?? 0,
  };
}

async function applyLimits(deps: ManagerDeps, inst: NovaObject, flavor: NovaObject): Promise<void> {
  await driverCall(inst, () => deps.driver.updateLimits(inst.str('uuid'), limitsOf(flavor, inst, deps.limitsPolicy)));
}

function sysmeta(inst: NovaObject): Record<string, string> {
  return { ...((inst.get('system_metadata') ?? {}) as Record<string, string>) };
}

export async function prepResize(deps: ManagerDeps, ctx: RequestContext, args: Args): Promise<void> {
  const inst = instanceFromArgs(args);
  const migration = await instanceAction(deps, ctx, inst, { event: 'compute_prep_resize' }, async () => {
    checkArgs('prep_resize', args);
    const m = migrationFromArgs(args);
    const flavor = NovaObject.fromPrimitive(args.flavor as ObjectPrimitive);
    if (inst.get('host') !== deps.host) {
      throw new NotImplementedError('moving an instance between hosts is not supported by this compute host (nova-container); resize to the same host');
    }
    await deps.instances.save(ctx, inst, { new_flavor: flavor, system_metadata: { ...sysmeta(inst), old_vm_state: String(inst.get('vm_state') ?? VmState.ACTIVE) } });
    await saveMigration(deps, ctx, m, { dest_compute: deps.host, dest_node: deps.nodename, dest_host: deps.hostIp, status: 'pre-migrating' });
    return m;
  });
  await resizeInstance(deps, ctx, inst, migration);
}

/** The source half: nothing to copy on one host; records the steps Nova's API expects. */
async function resizeInstance(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, migration: NovaObject): Promise<void> {
  await instanceAction(deps, ctx, inst, { event: 'compute_resize_instance' }, async () => {
    await saveMigration(deps, ctx, migration, { status: 'migrating' });
    await deps.instances.save(ctx, inst, { task_state: TaskState.RESIZE_MIGRATING }, [TaskState.RESIZE_PREP]);
    await saveMigration(deps, ctx, migration, { status: 'post-migrating' });
    await deps.instances.save(ctx, inst, { old_flavor: inst.obj('flavor'), task_state: TaskState.RESIZE_MIGRATED }, [TaskState.RESIZE_MIGRATING]);
  });
  await finishResize(deps, ctx, inst, migration);
}

/** The destination half: the new flavor's limits applied to the running instance. */
async function finishResize(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, migration: NovaObject): Promise<void> {
  await instanceAction(deps, ctx, inst, { event: 'compute_finish_resize' }, async (log) => {
    const oldFlavor = inst.obj('flavor');
    const newFlavor = inst.obj('new_flavor');
    if (!newFlavor) throw new Error('finish_resize without a new_flavor on the instance');
    await deps.instances.save(ctx, inst, { ...flavorFields(newFlavor), old_flavor: oldFlavor, task_state: TaskState.RESIZE_FINISH }, [TaskState.RESIZE_MIGRATED]);
    await settle(log, 'record its usage', deps.usage.track(ctx, inst)); // the new flavor's, also if its limits fail below
    await errorsOut(deps, ctx, inst, migration, log, () => applyLimits(deps, inst, newFlavor));
    await saveMigration(deps, ctx, migration, { status: 'finished' });
    await deps.instances.save(ctx, inst, { vm_state: VmState.RESIZED, task_state: null, power_state: powerStateFor(await deps.driver.getInfo(inst.str('uuid'))) },
      [TaskState.RESIZE_FINISH]);
    await settle(log, 'record its usage', deps.usage.track(ctx, inst));
  });
}

export async function confirmResize(deps: ManagerDeps, ctx: RequestContext, args: Args): Promise<void> {
  const given = instanceFromArgs(args);
  await instanceAction(deps, ctx, given, { event: 'compute_confirm_resize' }, async (log) => {
    checkArgs('confirm_resize', args);
    // Read under the instance's lock: what an operation just before saved is not written back stale.
    const inst = await deps.instances.get(ctx, given.str('uuid'), ['metadata', 'system_metadata', 'flavor']);
    const migration = migrationFromArgs(args);
    if (migration.get('status') === 'confirmed') return;
    try {
      await saveMigration(deps, ctx, migration, { status: 'confirmed' });
      const power = powerStateFor(await deps.driver.getInfo(inst.str('uuid')));
      await deps.instances.save(ctx, inst, { vm_state: power === PowerState.SHUTDOWN ? VmState.STOPPED : VmState.ACTIVE, task_state: null, power_state: power },
        [null, TaskState.DELETING, 'soft-deleting']);
    } finally {
      await settle(log, 'delete the migration\'s allocation', deps.placement.deleteAllocations(migration.str('uuid')));
    }
    await deleteStashedFlavor(deps, ctx, inst);
    await settle(log, 'record its usage', deps.usage.track(ctx, inst));
  });
}

export async function revertResize(deps: ManagerDeps, ctx: RequestContext, args: Args): Promise<void> {
  const inst = instanceFromArgs(args);
  const migration = await instanceAction(deps, ctx, inst, { event: 'compute_revert_resize' }, async () => {
    checkArgs('revert_resize', args);
    const m = migrationFromArgs(args);
    await saveMigration(deps, ctx, m, { status: 'reverted' });
    return m;
  });
  await finishRevertResize(deps, ctx, inst, migration);
}

async function finishRevertResize(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, migration: NovaObject): Promise<void> {
  await instanceAction(deps, ctx, inst, { event: 'compute_finish_revert_resize' }, async (log: Logger) => {
    const oldFlavor = inst.obj('old_flavor');
    if (!oldFlavor) throw new Error('finish_revert_resize without an old_flavor on the instance');
    const oldVmState = sysmeta(inst).old_vm_state ?? VmState.ACTIVE;
    await deps.instances.save(ctx, inst, {
      ...flavorFields(oldFlavor), host: migration.optStr('source_compute') ?? deps.host, node: migration.optStr('source_node') ?? deps.nodename,
    }, [TaskState.RESIZE_REVERTING]);
    await settle(log, 'record its usage', deps.usage.track(ctx, inst));
    await deps.placement.moveAllocations(migration.str('uuid'), inst.str('uuid'));
    await errorsOut(deps, ctx, inst, migration, log, () => applyLimits(deps, inst, oldFlavor));
    const uuid = inst.str('uuid');
    if (oldVmState === VmState.STOPPED) await driverCall(inst, () => deps.driver.powerOff(uuid, deps.shutdownTimeout));
    await deps.instances.save(ctx, inst, {
      vm_state: oldVmState === VmState.STOPPED ? VmState.STOPPED : VmState.ACTIVE, task_state: null, power_state: powerStateFor(await deps.driver.getInfo(uuid)),
    }, [TaskState.RESIZE_REVERTING]);
    await deleteStashedFlavor(deps, ctx, inst);
    await settle(log, 'record its usage', deps.usage.track(ctx, inst));
  });
}

/**
 * The limits of the recorded flavor failing to apply leave the instance in ERROR and the
 * migration in error (Nova's errors_out_migration and _set_instance_obj_error_state): its
 * recorded flavor is not what it runs.
 */
async function errorsOut(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, migration: NovaObject, log: Logger,
  step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (err) {
    await settle(log, 'set the migration to error', saveMigration(deps, ctx, migration, { status: 'error' }));
    await settle(log, 'set ERROR', deps.instances.save(ctx, inst, { vm_state: VmState.ERROR }));
    throw err;
  }
}

/** _delete_stashed_flavor_info */
async function deleteStashedFlavor(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject): Promise<void> {
  const meta = sysmeta(inst);
  delete meta.old_vm_state;
  await deps.instances.save(ctx, inst, { old_flavor: null, new_flavor: null, system_metadata: meta });
}
