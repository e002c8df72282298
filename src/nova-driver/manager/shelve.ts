/**
 * shelve_instance, shelve_offload_instance, unshelve_instance (nova/compute/manager.py
 * _shelve_instance, _shelve_offload_instance, _unshelve_instance): shelving stops the
 * container and snapshots it into the Glance image nova-api created; offloading removes
 * the container and gives back the host's resources; unshelving creates the container
 * again from that snapshot, then deletes the snapshot from Glance. With Nova's default
 * `shelved_offload_time = 0` shelve offloads at once.
 */
import type { Logger } from '../../common/log.js';
import { ImageNotFound } from '../errors.js';
import { novaDatetime, type NovaObject } from '../objects/versioned-object.js';
import type { RequestContext } from '../../messaging/types.js';
import type { GlanceImageMeta, ManagerDeps } from './deps.js';
import { instanceAction, instanceFromArgs, settle } from './instance-action.js';
import { containerName } from './container-spec.js';
import { captureToGlance, deleteUnfinishedImage } from './snapshot.js';
import { replug } from './networking.js';
import { createAndStart, instanceList } from './build.js';
import { PowerState, TaskState, VmState, powerStateOf } from './states.js';

const SHELVED_KEYS = ['shelved_at', 'shelved_image_id', 'shelved_host'];

function systemMetadata(inst: NovaObject): Record<string, string> {
  return { ...((inst.get('system_metadata') ?? {}) as Record<string, string>) };
}

export async function shelveInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const offloadAtOnce = deps.offloadShelvedAtOnce;
  const inst = instanceFromArgs(args);
  const imageId = String(args.image_id);
  await instanceAction(deps, ctx, inst, { event: 'compute_shelve_instance' }, async (log) => {
    const c = await deps.engine.inspectContainer(containerName(inst.str('uuid')));
    if (c) {
      if (c.state === 'paused') await deps.engine.unpauseContainer(c.id);
      await deps.engine.stopContainer(c.id, args.clean_shutdown === false ? 0 : deps.shutdownTimeout);
    }
    try {
      await captureToGlance(deps, ctx, inst, imageId,
        { from: TaskState.SHELVING, pending: TaskState.SHELVING_IMAGE_PENDING_UPLOAD, uploading: TaskState.SHELVING_IMAGE_UPLOADING }, log);
    } catch (err) {
      await deleteUnfinishedImage(deps, ctx, imageId, log);
      throw err;
    }
    const sysmeta = { ...systemMetadata(inst), shelved_at: new Date().toISOString(), shelved_image_id: imageId, shelved_host: deps.host };
    await deps.instances.save(ctx, inst, {
      vm_state: VmState.SHELVED, task_state: offloadAtOnce ? TaskState.SHELVING_OFFLOADING : null,
      power_state: PowerState.SHUTDOWN, system_metadata: sysmeta,
    }, [TaskState.SHELVING, TaskState.SHELVING_IMAGE_UPLOADING]);
    if (offloadAtOnce) await offload(deps, ctx, inst, log);
  });
}

export async function shelveOffloadInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_shelve_offload_instance' }, async (log) => {
    const c = await deps.engine.inspectContainer(containerName(inst.str('uuid')));
    if (c) await deps.engine.stopContainer(c.id, args.clean_shutdown === false ? 0 : deps.shutdownTimeout);
    await offload(deps, ctx, inst, log);
  });
}

/** _shelve_offload_instance: the container goes, the host's resources and allocation are given back. */
async function offload(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, log: Logger): Promise<void> {
  const uuid = inst.str('uuid');
  const c = await deps.engine.inspectContainer(containerName(uuid));
  const power = powerStateOf(c, inst.optStr('vm_state'));
  await deps.engine.removeContainer(containerName(uuid));
  await deps.placement.deleteAllocations(uuid);
  await deps.instances.save(ctx, inst, { power_state: power, vm_state: VmState.SHELVED_OFFLOADED, task_state: null },
    [TaskState.SHELVING, TaskState.SHELVING_OFFLOADING]);
  await deps.instances.save(ctx, inst, { host: null, node: null }, [null]);
  await settle(log, 'tell the schedulers', deps.scheduler.deleteInstanceInfo(ctx, uuid));
  await settle(log, 'update resources', deps.updateResources(ctx));
}

export async function unshelveInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_unshelve_instance' }, async (log) => {
    const uuid = inst.str('uuid');
    await deps.instances.save(ctx, inst, { task_state: TaskState.SPAWNING });
    const sysmeta = systemMetadata(inst);
    const shelvedImageId = sysmeta.shelved_image_id;
    const given = args.image as GlanceImageMeta | null | undefined;
    const image = given?.id ? given : shelvedImageId ? await deps.images.getImage(ctx, shelvedImageId) : null;
    if (!image) throw new ImageNotFound({ image_id: shelvedImageId ?? '(none)' });
    try {
      await deps.instances.save(ctx, inst, { host: deps.host, node: deps.nodename });
      const id = await createAndStart(deps, ctx, inst, image, log);
      await replug(deps.network, deps.engine, uuid, id, log);
    } catch (err) {
      await settle(log, 'remove the container', deps.engine.removeContainer(containerName(uuid)));
      await settle(log, 'release the allocation', deps.placement.deleteAllocations(uuid));
      await settle(log, 'clear host and node', deps.instances.save(ctx, inst, { host: null, node: null }));
      throw err;
    }
    if (shelvedImageId) await settle(log, 'delete the shelved snapshot', deps.images.deleteImage(ctx, shelvedImageId));
    for (const k of SHELVED_KEYS) delete sysmeta[k];
    await deps.instances.save(ctx, inst, {
      vm_state: VmState.ACTIVE, task_state: null, power_state: PowerState.RUNNING, launched_at: novaDatetime(), system_metadata: sysmeta,
    }, [TaskState.SPAWNING]);
    await settle(log, 'tell the schedulers', deps.scheduler.updateInstanceInfo(ctx, instanceList(inst)));
    await settle(log, 'update resources', deps.updateResources(ctx));
  });
}
