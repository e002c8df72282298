/**
 * shelve_instance, shelve_offload_instance, unshelve_instance (nova/compute/manager.py
 * _shelve_instance, _shelve_offload_instance, _unshelve_instance): shelving stops the
 * instance and snapshots it into the Glance image nova-api created; offloading removes
 * it from the host and gives back the host's resources; unshelving spawns it
 * again from that snapshot, then deletes the snapshot from Glance. With Nova's default
 * `shelved_offload_time = 0` shelve offloads at once.
 */
import type { Logger } from '../../common/log.js';
import { ImageNotFound } from '../errors.js';
import { novaDatetime, type NovaObject } from '../objects/versioned-object.js';
import type { RequestContext } from '../../messaging/types.js';
import type { VifModel } from '../../network/network-info.js';
import type { GlanceImageMeta, ManagerDeps } from './deps.js';
import { instanceAction, instanceFromArgs, settle } from './instance-action.js';
import { checkArgs } from './compute-args.js';
import { captureToGlance, deleteUnfinishedImage } from './snapshot.js';
import { imageAccess, vifSource } from './networking.js';
import { instanceList } from './build.js';
import { imagePropertiesOf, instanceSpec } from './instance-spec.js';
import { driverCall } from './power.js';
import { PowerState, TaskState, VmState, powerStateFor } from './states.js';

const SHELVED_KEYS = ['shelved_at', 'shelved_image_id', 'shelved_host'];

function systemMetadata(inst: NovaObject): Record<string, string> {
  return { ...((inst.get('system_metadata') ?? {}) as Record<string, string>) };
}

export async function shelveInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const offloadAtOnce = deps.offloadShelvedAtOnce;
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_shelve_instance' }, async (log) => {
    checkArgs('shelve_instance', args);
    const imageId = args.image_id as string;
    await driverCall(inst, () => deps.driver.powerOff(inst.str('uuid'), args.clean_shutdown === false ? 0 : deps.shutdownTimeout));
    try {
      await captureToGlance(deps, ctx, inst, imageId,
        { from: TaskState.SHELVING, pending: TaskState.SHELVING_IMAGE_PENDING_UPLOAD, uploading: TaskState.SHELVING_IMAGE_UPLOADING, whole: true }, log);
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
    checkArgs('shelve_offload_instance', args);
    if (await deps.driver.getInfo(inst.str('uuid'))) {
      await driverCall(inst, () => deps.driver.powerOff(inst.str('uuid'), args.clean_shutdown === false ? 0 : deps.shutdownTimeout));
    }
    await offload(deps, ctx, inst, log);
  });
}

/**
 * _shelve_offload_instance: the instance leaves the host (workload, sandbox and VIFs; its
 * ports stay the instance's), the host's resources and allocation are given back.
 */
async function offload(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, log: Logger): Promise<void> {
  const uuid = inst.str('uuid');
  const power = powerStateFor(await deps.driver.getInfo(uuid), inst.optStr('vm_state'));
  await deps.driver.destroy(uuid, await vifSource(deps, ctx, inst)());
  await deps.placement.deleteAllocations(uuid);
  await deps.instances.save(ctx, inst, { power_state: power, vm_state: VmState.SHELVED_OFFLOADED, task_state: null },
    [TaskState.SHELVING, TaskState.SHELVING_OFFLOADING]);
  await deps.instances.save(ctx, inst, { host: null, node: null }, [null]);
  await settle(log, 'tell the schedulers', deps.scheduler.deleteInstanceInfo(ctx, uuid));
  await settle(log, 'release its usage', deps.usage.untrack(ctx, uuid));
}

export async function unshelveInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_unshelve_instance' }, async (log) => {
    checkArgs('unshelve_instance', args);
    const uuid = inst.str('uuid');
    await deps.instances.save(ctx, inst, { task_state: TaskState.SPAWNING });
    const sysmeta = systemMetadata(inst);
    const shelvedImageId = sysmeta.shelved_image_id;
    const given = args.image as GlanceImageMeta | null | undefined;
    const image = given?.id ? given : shelvedImageId ? await deps.images.getImage(ctx, shelvedImageId) : null;
    if (!image) throw new ImageNotFound({ image_id: shelvedImageId ?? '(none)' });
    let vifs: Promise<VifModel[]> = Promise.resolve([]); // what the spawn plugs: its host devices go with a failed unshelve
    try {
      await deps.instances.save(ctx, inst, { host: deps.host, node: deps.nodename });
      await settle(log, 'record its usage', deps.usage.track(ctx, inst));
      vifs = vifSource(deps, ctx, inst)();
      await deps.driver.spawn({
        instance: instanceSpec(inst, imagePropertiesOf(image), deps.limitsPolicy), image, images: imageAccess(deps, ctx),
        networkInfo: vifs, waitForVifs: false,
      });
    } catch (err) {
      await settle(log, 'destroy what the spawn made', deps.driver.destroy(uuid, await vifs.catch(() => [])));
      await settle(log, 'release the allocation', deps.placement.deleteAllocations(uuid));
      await settle(log, 'clear host and node', deps.instances.save(ctx, inst, { host: null, node: null }));
      await settle(log, 'release its usage', deps.usage.untrack(ctx, uuid));
      throw err;
    }
    if (shelvedImageId) await settle(log, 'delete the shelved snapshot', deps.images.deleteImage(ctx, shelvedImageId));
    for (const k of SHELVED_KEYS) delete sysmeta[k];
    await deps.instances.save(ctx, inst, {
      vm_state: VmState.ACTIVE, task_state: null, power_state: PowerState.RUNNING, launched_at: novaDatetime(), system_metadata: sysmeta,
    }, [TaskState.SPAWNING]);
    await settle(log, 'tell the schedulers', deps.scheduler.updateInstanceInfo(ctx, instanceList(inst)));
    await settle(log, 'record its usage', deps.usage.track(ctx, inst));
  });
}
