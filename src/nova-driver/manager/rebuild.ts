/**
 * rebuild_instance (nova/compute/manager.py _do_rebuild_instance, _rebuild_default_impl):
 * the instance keeps its uuid, name and flavor and gets a new container from the image
 * nova-api already recorded in image_ref; the old container and its file system are gone.
 * Task states rebuilding -> rebuild_block_device_mapping -> rebuild_spawning -> none; a
 * stopped instance is stopped again afterwards. Evacuation (recreate) is not supported.
 */
import { ImageNotFound, NotImplementedError } from '../errors.js';
import { novaDatetime } from '../objects/versioned-object.js';
import type { RequestContext } from '../../messaging/types.js';
import type { ManagerDeps } from './deps.js';
import { instanceAction, instanceFromArgs, settle } from './instance-action.js';
import { containerName } from './container-spec.js';
import { replug } from './networking.js';
import { createAndStart } from './build.js';
import { PowerState, TaskState, VmState, powerStateOf } from './states.js';

export async function rebuildInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  if (args.recreate === true) throw new NotImplementedError('evacuate is not supported by this compute host (nova-container)');
  const imageRef = String(args.image_ref ?? inst.get('image_ref') ?? '');
  await instanceAction(deps, ctx, inst, { event: 'compute_rebuild_instance', revertTaskState: false }, async (log) => {
    const origVmState = inst.get('vm_state');
    const name = containerName(inst.str('uuid'));
    const before = await deps.engine.inspectContainer(name);
    await deps.instances.save(ctx, inst, { power_state: powerStateOf(before, inst.optStr('vm_state')), task_state: TaskState.REBUILDING },
      [TaskState.REBUILDING]);
    try {
      const image = await deps.images.getImage(ctx, imageRef);
      if (!image) throw new ImageNotFound({ image_id: imageRef });
      if (before) {
        await deps.engine.stopContainer(before.id, deps.shutdownTimeout);
        await deps.engine.removeContainer(before.id);
      }
      await deps.instances.save(ctx, inst, { task_state: TaskState.REBUILD_BLOCK_DEVICE_MAPPING }, [TaskState.REBUILDING]);
      await deps.instances.save(ctx, inst, { task_state: TaskState.REBUILD_SPAWNING }, [TaskState.REBUILD_BLOCK_DEVICE_MAPPING]);
      const id = await createAndStart(deps, ctx, inst, image, log);
      await replug(deps.network, deps.engine, inst.str('uuid'), id, log);
      await deps.instances.save(ctx, inst, {
        vm_state: VmState.ACTIVE, task_state: null, power_state: PowerState.RUNNING, launched_at: novaDatetime(),
      }, [TaskState.REBUILD_SPAWNING]);
      if (origVmState === VmState.STOPPED) {
        await deps.engine.stopContainer(id, deps.shutdownTimeout);
        await deps.instances.save(ctx, inst, { vm_state: VmState.STOPPED, power_state: PowerState.SHUTDOWN });
      }
    } catch (err) {
      await settle(log, 'set ERROR', deps.instances.save(ctx, inst, { vm_state: VmState.ERROR, task_state: null }));
      throw err;
    }
    await settle(log, 'update resources', deps.updateResources(ctx));
  });
}
