/**
 * rebuild_instance (nova/compute/manager.py _do_rebuild_instance, _rebuild_default_impl):
 * the instance keeps its uuid, name and flavor and gets a new workload from the image
 * nova-api already recorded in image_ref; the old workload and its file system are gone.
 * Task states rebuilding -> rebuild_block_device_mapping -> rebuild_spawning -> none; a
 * stopped instance gets its new workload without starting it. The instance's ports and
 * addresses stay (its sandbox stays, or its new workload's own namespace is plugged before it
 * starts). Evacuation (recreate) is evacuate.ts's.
 */
import { ImageNotFound } from '../errors.js';
import { evacuateHere } from './evacuate.js';
import { novaDatetime } from '../objects/versioned-object.js';
import type { RequestContext } from '../../messaging/types.js';
import type { ManagerDeps } from './deps.js';
import { instanceAction, instanceFromArgs, settle } from './instance-action.js';
import { checkArgs } from './compute-args.js';
import { imageAccess, vifSource } from './networking.js';
import { imagePropertiesOf, instanceSpec } from './instance-spec.js';
import { driverCall } from './power.js';
import { PowerState, TaskState, VmState, powerStateFor } from './states.js';

export async function rebuildInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: 'compute_rebuild_instance' }, async (log) => {
    checkArgs('rebuild_instance', args);
    if (args.recreate === true) {
      await evacuateHere(deps, ctx, inst, args, log);
      return;
    }
    const imageRef = String(args.image_ref ?? inst.get('image_ref') ?? '');
    const origVmState = inst.get('vm_state');
    const uuid = inst.str('uuid');
    const before = await deps.driver.getInfo(uuid);
    await deps.instances.save(ctx, inst, { power_state: powerStateFor(before, inst.optStr('vm_state')), task_state: TaskState.REBUILDING },
      [TaskState.REBUILDING]);
    try {
      const image = await deps.images.getImage(ctx, imageRef);
      if (!image) throw new ImageNotFound({ image_id: imageRef });
      await deps.instances.save(ctx, inst, { task_state: TaskState.REBUILD_BLOCK_DEVICE_MAPPING }, [TaskState.REBUILDING]);
      await deps.instances.save(ctx, inst, { task_state: TaskState.REBUILD_SPAWNING }, [TaskState.REBUILD_BLOCK_DEVICE_MAPPING]);
      const stopped = origVmState === VmState.STOPPED;
      await driverCall(inst, () => deps.driver.rebuild(instanceSpec(inst, imagePropertiesOf(image), deps.limitsPolicy), image, imageAccess(deps, ctx), stopped,
        vifSource(deps, ctx, inst), deps.shutdownTimeout));
      await deps.instances.save(ctx, inst, {
        vm_state: stopped ? VmState.STOPPED : VmState.ACTIVE, task_state: null, power_state: stopped ? PowerState.SHUTDOWN : PowerState.RUNNING,
        launched_at: novaDatetime(),
      }, [TaskState.REBUILD_SPAWNING]);
    } catch (err) {
      await settle(log, 'set ERROR', deps.instances.save(ctx, inst, { vm_state: VmState.ERROR, task_state: null }));
      throw err;
    }
  });
}
