/**
 * snapshot_instance (nova/compute/manager.py snapshot_instance/_snapshot_instance): the
 * driver captures the instance's file system and exports it as a layered
 * `docker save` archive into the queued Glance image nova-api created (PATCH formats, PUT
 * data, confirm active), with Nova's task states image_snapshot -> image_pending_upload ->
 * image_uploading -> none. On failure the Glance image is deleted (delete_image_on_error).
 */
import type { Logger } from '../../common/log.js';
import { InstanceNotFound, UnexpectedDeletingTaskStateError } from '../errors.js';
import { findImageNotFound } from '../../glance-bridge/index.js';
import type { RequestContext } from '../../messaging/types.js';
import type { NovaObject } from '../objects/versioned-object.js';
import type { ManagerDeps } from './deps.js';
import { instanceAction, instanceFromArgs, settle } from './instance-action.js';
import { checkArgs } from './compute-args.js';
import { imageAccess } from './networking.js';
import { driverCall, infoOf } from './power.js';
import { TaskState, powerStateFor } from './states.js';

function deletedMeanwhile(err: unknown): boolean {
  return err instanceof InstanceNotFound || err instanceof UnexpectedDeletingTaskStateError;
}

/**
 * Captures the instance into `imageId`; shared with shelve. `pending` and `uploading` are the
 * task states to pass through, `from` the current one. `whole`: the whole image, never a delta
 * snapshot over the instance's image (shelve: an unshelve must not need an image the user
 * may delete meanwhile, as a VM's shelved disk needs none).
 */
export async function captureToGlance(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, imageId: string,
  states: { from: string; pending: string; uploading: string; whole: boolean }, log: Logger): Promise<void> {
  const uuid = inst.str('uuid');
  const info = await infoOf(deps, inst);
  await deps.instances.save(ctx, inst, { power_state: powerStateFor(info, inst.optStr('vm_state')) });
  await deps.instances.save(ctx, inst, { task_state: states.pending }, [states.from]);
  await driverCall(inst, () => deps.driver.snapshot(uuid, imageId, inst.optStr('image_ref'), imageAccess(deps, ctx, states.whole),
    () => deps.instances.save(ctx, inst, { task_state: states.uploading }, [states.pending])));
  log.info({ image: imageId }, 'snapshot uploaded to Glance');
}

export async function snapshotInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_snapshot_instance' }, async (log) => {
    checkArgs('snapshot_instance', args);
    const imageId = args.image_id as string;
    try {
      await deps.instances.save(ctx, inst, { task_state: TaskState.IMAGE_SNAPSHOT }, [TaskState.IMAGE_SNAPSHOT_PENDING]);
      await captureToGlance(deps, ctx, inst, imageId,
        { from: TaskState.IMAGE_SNAPSHOT, pending: TaskState.IMAGE_PENDING_UPLOAD, uploading: TaskState.IMAGE_UPLOADING, whole: false }, log);
      await deps.instances.save(ctx, inst, { task_state: null }, [TaskState.IMAGE_UPLOADING]);
    } catch (err) {
      await deleteUnfinishedImage(deps, ctx, imageId, log);
      if (deletedMeanwhile(err)) { log.info('instance deleted during the snapshot'); return; }
      if (findImageNotFound(err)) {
        // The user deleted the snapshot image meanwhile: not the instance's fault.
        log.warn({ image: imageId }, 'snapshot image deleted during the snapshot');
        await deps.instances.save(ctx, inst, { task_state: null });
        return;
      }
      throw err;
    }
  });
}

/** delete_image_on_error: an image that never became active is removed from Glance. */
export async function deleteUnfinishedImage(deps: ManagerDeps, ctx: RequestContext, imageId: string, log: Logger): Promise<void> {
  await settle(log, 'delete the unfinished Glance image', deleteIfUnfinished(deps, ctx, imageId));
}

/** The same, failing when Glance does; whether there was an unfinished image to delete. */
export async function deleteIfUnfinished(deps: ManagerDeps, ctx: RequestContext, imageId: string): Promise<boolean> {
  const image = await deps.images.getImage(ctx, imageId);
  if (!image || image.status === 'active') return false;
  await deps.images.deleteImage(ctx, imageId);
  return true;
}
