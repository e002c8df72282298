/**
 * Resize and cold migration (nova/compute/manager.py prep_resize, resize_instance,
 * finish_resize, confirm_resize, revert_resize, finish_revert_resize), with Nova's migration
 * statuses (pre-migrating -> migrating -> post-migrating -> finished -> confirmed | reverted),
 * task states and flavor bookkeeping (new_flavor, old_flavor, system_metadata.old_vm_state).
 *
 * On this same host an instance resizes in place (InstanceDriver.updateLimits): its CPU and
 * memory limits change while it runs, so nothing is copied and nothing restarts; the steps Nova
 * would cast between two computes run here one after the other.
 *
 * To another host, each step runs where Nova runs it and casts the next: prep_resize on the
 * destination casts resize_instance to the source, which stops the instance, captures its file
 * system into a Glance image (a delta over the instance's image, made with the request's
 * credentials and in the requester's project, hidden from image lists) and casts finish_resize
 * (disk_info: {"image_id": ...}) to the destination, which binds the ports there, spawns the
 * instance from that image and deletes the image. The source keeps its stopped container
 * until confirm_resize (source) removes it; revert_resize (destination) removes the
 * destination's and casts finish_revert_resize to the source, which binds the ports back and
 * starts its own again. A failure on the source, its cast included, leaves the instance there
 * as it was (started again if it ran, its allocation given back); a failure on the destination
 * hands it back the way a revert does (finish_revert_resize to the source, which still has its
 * stopped container), the migration in error. Only when even that cast fails does it stay in
 * ERROR on the destination, as Nova leaves every failed finish_resize. A restart of either host
 * in the middle of a move is taken up at start-up (move-recovery.ts).
 *
 * Placement: the conductor moved the old allocation to the migration's consumer; confirm
 * deletes it, revert moves it back to the instance.
 */
import type { Logger } from '../../common/log.js';
import { ImageNotFound, InvalidInput, UnexpectedTaskStateError } from '../errors.js';
import { NovaObject, type FieldValue, type ObjectPrimitive } from '../objects/versioned-object.js';
import { migrationFromArgs, saveMigration } from './migrations.js';
import type { RequestContext } from '../../messaging/types.js';
import type { ManagerDeps } from './deps.js';
import type { VifModel } from '../../network/network-info.js';
import { instanceAction, instanceFromArgs, settle } from './instance-action.js';
import { checkArgs } from './compute-args.js';
import { driverCall } from './power.js';
import { PowerState, TaskState, VmState, powerStateFor } from './states.js';
import { imagePropertiesOf, instanceSpec, limitsOf } from './instance-spec.js';
import { bindPortsHere, cachedVifs, imageAccess, vifSource } from './networking.js';
import { instanceList } from './build.js';

type Args = Record<string, unknown>;

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

/** Where a move between hosts keeps the Glance id of the image that carries the file system. */
const MOVE_IMAGE_KEY = 'nova_container_move_image';

/** The vm_state the instance had when its move began (prep_resize records it). */
export function oldVmState(inst: NovaObject): string {
  return sysmeta(inst).old_vm_state ?? VmState.ACTIVE;
}

/** The Glance id of the image of the instance's move, once its source recorded it. */
export function recordedMoveImage(inst: NovaObject): string | null {
  return sysmeta(inst)[MOVE_IMAGE_KEY] ?? null;
}

/**
 * The Glance id the image of a move is made with: its migration's, so that a restart of the
 * source finds it even when the stop came before the id was recorded on the instance.
 */
function moveImageId(migration: NovaObject): string {
  return migration.str('uuid');
}

/**
 * The image of a move between hosts whose id was never recorded (a stop, or Glance's answer to
 * its creation lost): the image under the migration's id, if it is that move's.
 */
export async function unrecordedMoveImage(deps: ManagerDeps, ctx: RequestContext, migration: NovaObject, log: Logger): Promise<string | null> {
  if (!betweenHosts(migration)) return null;
  try {
    const image = await deps.images.getImage(ctx, moveImageId(migration));
    return image?.nova_container_move === migration.str('uuid') ? image.id : null;
  } catch (err) {
    log.warn({ image: moveImageId(migration), err: (err as Error).message }, 'could not look for the move\'s image: it stays in Glance');
    return null;
  }
}

/** A move between two hosts, not a resize on one. */
export function betweenHosts(migration: NovaObject): boolean {
  const source = migration.optStr('source_compute');
  const dest = migration.optStr('dest_compute');
  return !!source && !!dest && source !== dest;
}

export async function prepResize(deps: ManagerDeps, ctx: RequestContext, args: Args): Promise<void> {
  const inst = instanceFromArgs(args);
  const source = inst.optStr('host');
  const migration = await instanceAction(deps, ctx, inst, { event: 'compute_prep_resize' }, async (log) => {
    checkArgs('prep_resize', args);
    const m = migrationFromArgs(args);
    const flavor = NovaObject.fromPrimitive(args.flavor as ObjectPrimitive);
    try {
      if (!source) throw new InvalidInput({ reason: `instance ${inst.str('uuid')} has no host to move from` });
      await deps.instances.save(ctx, inst, { new_flavor: flavor, system_metadata: { ...sysmeta(inst), old_vm_state: String(inst.get('vm_state') ?? VmState.ACTIVE) } });
      await saveMigration(deps, ctx, m, { dest_compute: deps.host, dest_node: deps.nodename, dest_host: deps.hostIp, status: 'pre-migrating' });
      if (source !== deps.host) {
        await deps.computeRpc.cast(ctx, source, 'resize_instance', {
          instance: inst.toPrimitive(), migration: m.toPrimitive(), image: args.image ?? null, flavor: args.flavor,
          request_spec: args.request_spec ?? null, clean_shutdown: args.clean_shutdown !== false,
        });
      }
    } catch (err) {
      if (source !== deps.host) await abandonMove(deps, ctx, m, inst.str('uuid'), log);
      throw err;
    }
    return m;
  });
  if (source === deps.host) await resizeHere(deps, ctx, inst, migration);
}

/** A move that cannot go on before the instance left its source: the migration in error, the instance's allocation back (_revert_allocation). */
async function abandonMove(deps: ManagerDeps, ctx: RequestContext, migration: NovaObject, uuid: string, log: Logger): Promise<void> {
  await settle(log, 'set the migration to error', saveMigration(deps, ctx, migration, { status: 'error' }));
  await settle(log, 'give its allocation back', deps.placement.moveAllocations(migration.str('uuid'), uuid));
}

/** The source half on one host: nothing to copy; records the steps Nova's API expects. */
async function resizeHere(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, migration: NovaObject): Promise<void> {
  await instanceAction(deps, ctx, inst, { event: 'compute_resize_instance' }, async () => {
    await saveMigration(deps, ctx, migration, { status: 'migrating' });
    await deps.instances.save(ctx, inst, { task_state: TaskState.RESIZE_MIGRATING }, [TaskState.RESIZE_PREP]);
    await saveMigration(deps, ctx, migration, { status: 'post-migrating' });
    await deps.instances.save(ctx, inst, { old_flavor: inst.obj('flavor'), task_state: TaskState.RESIZE_MIGRATED }, [TaskState.RESIZE_MIGRATING]);
  });
  await finishHere(deps, ctx, inst, migration);
}

/**
 * resize_instance, on the source of a move between hosts: the instance stopped, its file
 * system captured into a Glance image, the instance handed to the destination (finish_resize).
 * A failure leaves it here as it was.
 */
export async function resizeInstance(deps: ManagerDeps, ctx: RequestContext, args: Args): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_resize_instance' }, async (log) => {
    checkArgs('resize_instance', args);
    const migration = migrationFromArgs(args);
    const dest = migration.optStr('dest_compute');
    const uuid = inst.str('uuid');
    const wasRunning = (await deps.driver.getInfo(uuid))?.state === PowerState.RUNNING;
    let image: string | null = null;
    try {
      if (!dest) throw new InvalidInput({ reason: `migration ${migration.str('uuid')} names no destination host` });
      await saveMigration(deps, ctx, migration, { status: 'migrating' });
      await deps.instances.save(ctx, inst, { task_state: TaskState.RESIZE_MIGRATING }, [TaskState.RESIZE_PREP]);
      await driverCall(inst, () => deps.driver.powerOff(uuid, args.clean_shutdown === false ? 0 : deps.shutdownTimeout));
      // Its devices here go while its ports are bound to the destination: plugged again only
      // after a revert binds them back, so that an OVN chassis claims a port it is bound to
      // (one still plugged is claimed before the binding is committed, and Neutron leaves it DOWN).
      const vifs = await vifSource(deps, ctx, inst)();
      await driverCall(inst, () => deps.driver.releaseNetwork(uuid, vifs));
      image = await deps.images.createImage(ctx, {
        id: moveImageId(migration), name: `move-${migration.str('uuid')}`, visibility: 'private', os_hidden: true,
        instance_uuid: uuid, nova_container_move: migration.str('uuid'),
      });
      const captured = image;
      await driverCall(inst, () => deps.driver.snapshot(uuid, captured, inst.optStr('image_ref'), imageAccess(deps, ctx), async () => undefined));
      await saveMigration(deps, ctx, migration, { status: 'post-migrating' });
      await deps.instances.save(ctx, inst, {
        host: dest, node: migration.optStr('dest_node') ?? dest, old_flavor: inst.obj('flavor'), task_state: TaskState.RESIZE_MIGRATED,
        system_metadata: { ...sysmeta(inst), [MOVE_IMAGE_KEY]: captured },
      }, [TaskState.RESIZE_MIGRATING]);
      await deps.computeRpc.cast(ctx, dest, 'finish_resize', {
        instance: inst.toPrimitive(), migration: migration.toPrimitive(), image: args.image ?? null,
        disk_info: JSON.stringify({ image_id: captured }), request_spec: args.request_spec ?? null,
      });
    } catch (err) {
      await stayHere(deps, ctx, inst, migration, image ?? await unrecordedMoveImage(deps, ctx, migration, log), wasRunning, log);
      throw err;
    }
  });
}

/**
 * A move's source step failed (or a restart cut it short): the instance stays here as it was,
 * with its old flavor (its limits applied again after a resize on this host, which may have
 * changed them), its allocation given back. Leaves task_state to the caller.
 */
export async function stayHere(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, migration: NovaObject, image: string | null,
  wasRunning: boolean, log: Logger): Promise<void> {
  const uuid = inst.str('uuid');
  if (image) await settle(log, 'delete the move\'s image', deps.images.deleteImage(ctx, image));
  const flavor = inst.obj('old_flavor') ?? inst.obj('flavor');
  if (flavor && !betweenHosts(migration)) await settle(log, 'apply its flavor\'s limits again', applyLimits(deps, inst, flavor));
  if (wasRunning) await settle(log, 'start it again', deps.driver.powerOn(uuid, vifSource(deps, ctx, inst)));
  await abandonMove(deps, ctx, migration, uuid, log);
  const meta = sysmeta(inst);
  delete meta.old_vm_state;
  delete meta[MOVE_IMAGE_KEY];
  await settle(log, 'keep it here', deps.instances.save(ctx, inst, {
    host: deps.host, node: deps.nodename, ...(flavor ? flavorFields(flavor) : {}), new_flavor: null, old_flavor: null, system_metadata: meta,
    power_state: powerStateFor(await deps.driver.getInfo(uuid).catch(() => null)),
  }));
}

/** The destination half on one host: the new flavor's limits applied to the running instance. */
async function finishHere(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, migration: NovaObject): Promise<void> {
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

/**
 * finish_resize, on the destination of a move between hosts: the instance's ports bound here,
 * the instance spawned from the image its source captured, with the new flavor; stopped again
 * if it was stopped. A failure removes what was made here and hands the instance back to its
 * source (the failed event and the fault recorded here first); if that cannot be cast, ERROR here.
 */
export async function finishResize(deps: ManagerDeps, ctx: RequestContext, args: Args): Promise<void> {
  const inst = instanceFromArgs(args);
  let goingBack: NovaObject | null = null;
  try {
    // handed back, the task_state is the source's to finish (resize_reverting), not to clear here
    await instanceAction(deps, ctx, inst, { event: 'compute_finish_resize', revertTaskState: () => !goingBack }, async (log) => {
      checkArgs('finish_resize', args);
      const migration = migrationFromArgs(args);
      const uuid = inst.str('uuid');
      try {
        const newFlavor = inst.obj('new_flavor');
        if (!newFlavor) throw new InvalidInput({ reason: 'finish_resize without a new_flavor on the instance' });
        const wasStopped = oldVmState(inst) === VmState.STOPPED;
        await deps.instances.save(ctx, inst, { ...flavorFields(newFlavor), task_state: TaskState.RESIZE_FINISH }, [TaskState.RESIZE_MIGRATED]);
        await arriveHere(deps, ctx, inst, args, moveImageOf(args.disk_info as string), wasStopped, log);
      } catch (err) {
        // another operation took the instance (a delete): it is that one's
        if (!(err instanceof UnexpectedTaskStateError)) goingBack = await readyToHandBack(deps, ctx, inst, migration, log);
        throw err;
      } finally {
        // made into the instance here, or of no use: a revert starts the source's own container
        await deleteMoveImage(deps, ctx, inst, log);
      }
      await saveMigration(deps, ctx, migration, { status: 'finished' });
      await deps.instances.save(ctx, inst, { vm_state: VmState.RESIZED, task_state: null, power_state: powerStateFor(await deps.driver.getInfo(uuid)) },
        [TaskState.RESIZE_FINISH]);
      await settle(log, 'record its usage', deps.usage.track(ctx, inst));
      await settle(log, 'tell the schedulers', deps.scheduler.updateInstanceInfo(ctx, instanceList(inst)));
    });
  } catch (err) {
    if (goingBack) await castHandBack(deps, ctx, inst, goingBack, args);
    throw err;
  }
}

/**
 * A move that failed here goes back to its source as after a revert: the migration in error,
 * task_state resize_reverting. Returns the migration, or null when that cannot be saved (the
 * instance then stays here in ERROR).
 */
export async function readyToHandBack(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, migration: NovaObject,
  log: Logger): Promise<NovaObject | null> {
  try {
    await saveMigration(deps, ctx, migration, { status: 'error' });
    await deps.instances.save(ctx, inst, { task_state: TaskState.RESIZE_REVERTING }, [TaskState.RESIZE_FINISH, TaskState.RESIZE_MIGRATED]);
    return migration;
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'could not ready it for its source');
    await stayInError(deps, ctx, inst, migration, log);
    return null;
  }
}

/**
 * finish_revert_resize cast to the source, once this host recorded the failure (its event and
 * fault): the source binds the ports there again, moves the allocation back and starts its
 * stopped container. A cast that fails leaves the instance here in ERROR.
 */
async function castHandBack(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, migration: NovaObject, args: Args): Promise<void> {
  const log = deps.log.child({ instance: inst.str('uuid'), request_id: ctx.request_id, action: 'compute_finish_resize' });
  await deps.locks.run(inst.str('uuid'), () => handBack(deps, ctx, inst, migration, args.request_spec ?? null, log));
}

/** finish_revert_resize cast to the source of a move readied to go back; ERROR here if it cannot be cast. The caller holds the instance's lock. */
export async function handBack(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, migration: NovaObject, requestSpec: unknown,
  log: Logger): Promise<void> {
  try {
    await deps.computeRpc.cast(ctx, migration.str('source_compute'), 'finish_revert_resize', {
      instance: inst.toPrimitive(), migration: migration.toPrimitive(), request_spec: requestSpec,
    });
    log.info({ source: migration.str('source_compute') }, 'handed back to its source');
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'could not hand it back to its source');
    await stayInError(deps, ctx, inst, migration, log);
    await settle(log, 'clear task_state', deps.instances.save(ctx, inst, { task_state: null }));
  }
}

/** A failed arrival that cannot go back stays here in ERROR (a hard reboot would be here): the source's old flavor goes (Nova's finish_resize). */
async function stayInError(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, migration: NovaObject, log: Logger): Promise<void> {
  await errorOutMigration(deps, ctx, inst, migration, log);
  await settle(log, 'delete the migration\'s allocation', deps.placement.deleteAllocations(migration.str('uuid')));
}

/** Nova's errors_out_migration and _set_instance_obj_error_state, on a failure path: both best-effort. */
async function errorOutMigration(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, migration: NovaObject, log: Logger): Promise<void> {
  await settle(log, 'set the migration to error', saveMigration(deps, ctx, migration, { status: 'error' }));
  await settle(log, 'set ERROR', deps.instances.save(ctx, inst, { vm_state: VmState.ERROR }));
}

/**
 * The instance's ports bound here and the instance made here from the image of the move, with
 * the properties of the image it was built from (its command line, ...), which Nova passes;
 * stopped again when it was stopped. What it made goes again on failure.
 */
async function arriveHere(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, args: Args, imageId: string, stopped: boolean,
  log: Logger): Promise<void> {
  const uuid = inst.str('uuid');
  let vifs: VifModel[] = [];
  try {
    vifs = await bindPortsHere(deps, ctx, inst);
    const image = await deps.images.getImage(ctx, imageId);
    if (!image) throw new ImageNotFound({ image_id: imageId });
    const built = args.image && typeof args.image === 'object' ? args.image as Record<string, unknown> : image;
    await deps.driver.spawn({
      instance: instanceSpec(inst, imagePropertiesOf(built), deps.limitsPolicy), image, images: imageAccess(deps, ctx),
      networkInfo: Promise.resolve(vifs), waitForVifs: false,
    });
    if (stopped) await driverCall(inst, () => deps.driver.powerOff(uuid, deps.shutdownTimeout));
  } catch (err) {
    await settle(log, 'destroy what the spawn made', deps.driver.destroy(uuid, vifs));
    throw err;
  }
}

/** The Glance image id a source's disk_info names. */
function moveImageOf(diskInfo: string): string {
  let id: unknown;
  try {
    id = (JSON.parse(diskInfo) as { image_id?: unknown }).image_id;
  } catch {
    id = undefined;
  }
  if (typeof id !== 'string' || !id) throw new InvalidInput({ reason: `disk_info names no image of the move: ${diskInfo.slice(0, 100)}` });
  return id;
}

/**
 * confirm_resize, on the source (after a resize on one host, that host): the migration
 * confirmed and its allocation deleted; after a move between hosts the source's stopped
 * instance goes too.
 */
export async function confirmResize(deps: ManagerDeps, ctx: RequestContext, args: Args): Promise<void> {
  const given = instanceFromArgs(args);
  await instanceAction(deps, ctx, given, { event: 'compute_confirm_resize' }, async (log) => {
    checkArgs('confirm_resize', args);
    // Read under the instance's lock: what an operation just before saved is not written back stale.
    const inst = await deps.instances.get(ctx, given.str('uuid'), ['metadata', 'system_metadata', 'flavor', 'info_cache']);
    const migration = migrationFromArgs(args);
    const status = migration.optStr('status');
    if (status === 'confirmed') return;
    if (status !== 'finished' && status !== 'confirming') {
      log.warn({ migration: migration.str('uuid'), status }, 'migration not in a state to be confirmed: nothing done');
      return;
    }
    const uuid = inst.str('uuid');
    const moved = betweenHosts(migration);
    try {
      if (moved) {
        await driverCall(inst, async () => { await deps.driver.destroy(uuid, cachedVifs(inst)); });
        await settle(log, 'release its usage here', deps.usage.untrack(ctx, uuid));
        await settle(log, 'tell the schedulers', deps.scheduler.deleteInstanceInfo(ctx, uuid));
      }
      await saveMigration(deps, ctx, migration, { status: 'confirmed' });
      // moved: it runs on the destination, whose power state the record holds
      const power = moved ? Number(inst.get('power_state') ?? PowerState.NOSTATE) : powerStateFor(await deps.driver.getInfo(uuid));
      await deps.instances.save(ctx, inst, { vm_state: power === PowerState.SHUTDOWN ? VmState.STOPPED : VmState.ACTIVE, task_state: null, power_state: power },
        [null, TaskState.DELETING, 'soft-deleting']);
    } finally {
      await settle(log, 'delete the migration\'s allocation', deps.placement.deleteAllocations(migration.str('uuid')));
    }
    await deleteStashedFlavor(deps, ctx, inst);
    if (!moved) await settle(log, 'record its usage', deps.usage.track(ctx, inst));
  });
}

/**
 * revert_resize, on the destination: the migration reverted; after a move between hosts the
 * destination's instance removed and finish_revert_resize cast to the source.
 */
export async function revertResize(deps: ManagerDeps, ctx: RequestContext, args: Args): Promise<void> {
  const inst = instanceFromArgs(args);
  const migration = await instanceAction(deps, ctx, inst, { event: 'compute_revert_resize' }, async (log) => {
    checkArgs('revert_resize', args);
    const m = migrationFromArgs(args);
    if (await revertedMeanwhile(deps, ctx, m)) {
      log.info({ migration: m.str('uuid') }, 'already reverted (taken up at a restart of this host): nothing left to do');
      return null;
    }
    if (betweenHosts(m)) {
      await leaveDestination(deps, ctx, inst, m, args.request_spec ?? null, log);
      return m;
    }
    await saveMigration(deps, ctx, m, { status: 'reverted' });
    return m;
  });
  if (migration && !betweenHosts(migration)) await finishRevertHere(deps, ctx, inst, migration);
}

/**
 * The destination's part of a revert between hosts: its instance removed, the migration
 * reverted, finish_revert_resize cast to the source. The caller holds the instance's lock.
 */
export async function leaveDestination(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, m: NovaObject, requestSpec: unknown,
  log: Logger): Promise<void> {
  const uuid = inst.str('uuid');
  await errorsOut(deps, ctx, inst, m, log, async () => {
    await driverCall(inst, async () => { await deps.driver.destroy(uuid, await vifSource(deps, ctx, inst)()); });
  });
  await settle(log, 'release its usage here', deps.usage.untrack(ctx, uuid));
  await settle(log, 'tell the schedulers', deps.scheduler.deleteInstanceInfo(ctx, uuid));
  await saveMigration(deps, ctx, m, { status: 'reverted' });
  await errorsOut(deps, ctx, inst, m, log, () => deps.computeRpc.cast(ctx, m.str('source_compute'), 'finish_revert_resize', {
    instance: inst.toPrimitive(), migration: m.toPrimitive(), request_spec: requestSpec,
  }));
}

/**
 * Whether the migration a revert_resize cast carries is already reverted: a restart of this
 * host took the revert up (move-recovery.ts) while the cast waited in its queue.
 */
async function revertedMeanwhile(deps: ManagerDeps, ctx: RequestContext, m: NovaObject): Promise<boolean> {
  const stored = await deps.conductor.classAction(ctx, 'Migration', 'get_by_id', [m.get('id') ?? null]);
  return stored instanceof NovaObject && stored.optStr('status') === 'reverted';
}

/** finish_revert_resize, on the source of a move between hosts (the destination cast it). */
export async function finishRevertResize(deps: ManagerDeps, ctx: RequestContext, args: Args): Promise<void> {
  await finishRevertHere(deps, ctx, instanceFromArgs(args), args);
}

/**
 * The instance back on its source with its old flavor: after a move between hosts its ports
 * bound here again and its stopped container started (unless it was stopped).
 */
export async function finishRevertHere(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, from: NovaObject | Args): Promise<void> {
  await instanceAction(deps, ctx, inst, { event: 'compute_finish_revert_resize' }, async (log: Logger) => {
    if (!(from instanceof NovaObject)) checkArgs('finish_revert_resize', from);
    const migration = from instanceof NovaObject ? from : migrationFromArgs(from);
    // a second cast of a revert that a restart of either host took up finds it done
    if ((await deps.instances.get(ctx, inst.str('uuid'), [])).get('task_state') !== TaskState.RESIZE_REVERTING) {
      log.info({ migration: migration.str('uuid') }, 'the revert is already finished: nothing left to do');
      return;
    }
    const oldFlavor = inst.obj('old_flavor');
    if (!oldFlavor) throw new Error('finish_revert_resize without an old_flavor on the instance');
    const wasStopped = oldVmState(inst) === VmState.STOPPED;
    const uuid = inst.str('uuid');
    const moved = betweenHosts(migration);
    await deps.instances.save(ctx, inst, {
      ...flavorFields(oldFlavor), host: migration.optStr('source_compute') ?? deps.host, node: migration.optStr('source_node') ?? deps.nodename,
    }, [TaskState.RESIZE_REVERTING]);
    await settle(log, 'record its usage', deps.usage.track(ctx, inst));
    await deps.placement.moveAllocations(migration.str('uuid'), uuid);
    await errorsOut(deps, ctx, inst, migration, log, async () => {
      // its container here still has the old flavor's limits: after a move only its ports come
      // back, and its network (released when it left) is plugged from them as bound here now
      let bound: VifModel[] = [];
      if (!moved) await applyLimits(deps, inst, oldFlavor);
      else bound = await bindPortsHere(deps, ctx, inst);
      if (wasStopped) await driverCall(inst, () => deps.driver.powerOff(uuid, deps.shutdownTimeout));
      else if (moved) await driverCall(inst, () => deps.driver.powerOn(uuid, async () => (bound.length > 0 ? bound : vifSource(deps, ctx, inst)())));
    });
    await deps.instances.save(ctx, inst, {
      vm_state: wasStopped ? VmState.STOPPED : VmState.ACTIVE, task_state: null, power_state: powerStateFor(await deps.driver.getInfo(uuid)),
    }, [TaskState.RESIZE_REVERTING]);
    await deleteStashedFlavor(deps, ctx, inst);
    await settle(log, 'record its usage', deps.usage.track(ctx, inst));
    if (moved) await settle(log, 'tell the schedulers', deps.scheduler.updateInstanceInfo(ctx, instanceList(inst)));
  });
}

/** The Glance image that carried a move's file system, once the destination made the instance from it (or failed to). */
export async function deleteMoveImage(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, log: Logger): Promise<void> {
  const image = recordedMoveImage(inst);
  if (image) await settle(log, 'delete the move\'s image', deps.images.deleteImage(ctx, image));
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
    await errorOutMigration(deps, ctx, inst, migration, log);
    throw err;
  }
}

/** _delete_stashed_flavor_info */
async function deleteStashedFlavor(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject): Promise<void> {
  const meta = sysmeta(inst);
  delete meta.old_vm_state;
  delete meta[MOVE_IMAGE_KEY];
  await deps.instances.save(ctx, inst, { old_flavor: null, new_flavor: null, system_metadata: meta });
}
