/**
 * Evacuation: rebuild_instance with recreate (nova/compute/manager.py rebuild_instance,
 * _do_rebuild_instance; ResourceTracker rebuild_claim and finish_evacuation), on the host the
 * scheduler chose while the instance's own host is down. The instance is made here anew from
 * its image (what it wrote on the old host stays there, as a VM's local disk would), its ports
 * bound here; meanwhile it carries a migration context, so that Neutron's network-vif-plugged
 * reaches this host and the spawn waits for it, as libvirt's does. Then it is this host's and
 * the migration is done. 2025.1's target_state `stopped` (microversion 2.95; ignored for an
 * instance in ERROR, as Nova does), like a stopped instance, leaves it stopped; another target
 * state fails the evacuation. The old host removes its copy, and its share of the instance's
 * allocation, when it starts again (recovery.ts, destroyEvacuated). On failure the instance is
 * in ERROR, the migration failed, this host's share of the allocation given back.
 */
import type { Logger } from '../../common/log.js';
import { ImageNotFound, InstanceEvacuateNotSupportedTargetState, InstanceExists } from '../errors.js';
import { novaDatetime, type NovaObject } from '../objects/versioned-object.js';
import type { RequestContext } from '../../messaging/types.js';
import type { VifModel } from '../../network/network-info.js';
import type { ManagerDeps } from './deps.js';
import { settle } from './instance-action.js';
import { bindPortsHere, imageAccess } from './networking.js';
import { imagePropertiesOf, instanceSpec } from './instance-spec.js';
import { migrationContext, migrationFromArgs, saveMigration } from './migrations.js';
import { instanceList } from './build.js';
import { driverCall } from './power.js';
import { ALLOW_TARGET_STATES, PowerState, TaskState, VmState, powerStateFor } from './states.js';

export async function evacuateHere(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, args: Record<string, unknown>, log: Logger): Promise<void> {
  const uuid = inst.str('uuid');
  const migration = args.migration ? migrationFromArgs(args) : null;
  const vmState = inst.get('vm_state');
  // 2025.1 honours target_state unless the instance is in ERROR (2.95 always sends `stopped`)
  const target = vmState === VmState.ERROR ? null : args.target_state;
  const stopped = vmState === VmState.STOPPED || target === VmState.STOPPED;
  let vifs: VifModel[] = [];
  try {
    if (typeof target === 'string' && !ALLOW_TARGET_STATES.includes(target)) throw new InstanceEvacuateNotSupportedTargetState({ target_state: target });
    if (await deps.driver.getInfo(uuid)) throw new InstanceExists({ name: uuid });
    if (migration) {
      await saveMigration(deps, ctx, migration, { dest_compute: deps.host, dest_node: deps.nodename, dest_host: deps.hostIp, status: 'pre-migrating' });
    }
    // the migration context first: Neutron's events for the ports bound below reach this host too
    await deps.instances.save(ctx, inst, {
      power_state: PowerState.NOSTATE, task_state: TaskState.REBUILDING, ...(migration ? { migration_context: migrationContext(uuid, migration) } : {}),
    }, [TaskState.REBUILDING]);
    vifs = await bindPortsHere(deps, ctx, inst);
    const imageRef = inst.optStr('image_ref') ?? '';
    const image = await deps.images.getImage(ctx, imageRef);
    if (!image) throw new ImageNotFound({ image_id: imageRef });
    await deps.instances.save(ctx, inst, { task_state: TaskState.REBUILD_BLOCK_DEVICE_MAPPING }, [TaskState.REBUILDING]);
    await deps.instances.save(ctx, inst, { task_state: TaskState.REBUILD_SPAWNING }, [TaskState.REBUILD_BLOCK_DEVICE_MAPPING]);
    try {
      // network-vif-plugged of the ports not yet active comes here through the migration context
      // (without a migration, nova-api sends it to the old host only: not waited for)
      await deps.driver.spawn({
        instance: instanceSpec(inst, imagePropertiesOf(image), deps.limitsPolicy), image, images: imageAccess(deps, ctx),
        networkInfo: Promise.resolve(vifs), waitForVifs: migration !== null,
      });
      if (stopped) await driverCall(inst, () => deps.driver.powerOff(uuid, deps.shutdownTimeout));
      await deps.instances.save(ctx, inst, {
        host: deps.host, node: deps.nodename, vm_state: stopped ? VmState.STOPPED : VmState.ACTIVE, task_state: null,
        power_state: powerStateFor(await deps.driver.getInfo(uuid)), launched_at: novaDatetime(), ...(migration ? { migration_context: null } : {}),
      }, [TaskState.REBUILD_SPAWNING]);
    } catch (err) {
      await settle(log, 'destroy what the spawn made', deps.driver.destroy(uuid, vifs));
      throw err;
    }
  } catch (err) {
    if (migration) await settle(log, 'set the migration to failed', saveMigration(deps, ctx, migration, { status: 'failed' }));
    await settle(log, 'give back this host\'s share of the allocation', deps.placement.removeProviderFromConsumer(uuid, deps.providerUuid()));
    await settle(log, 'set ERROR', deps.instances.save(ctx, inst, { vm_state: VmState.ERROR, task_state: null, ...(migration ? { migration_context: null } : {}) }));
    throw err;
  }
  if (migration) await saveMigration(deps, ctx, migration, { status: 'done' });
  await settle(log, 'record its usage', deps.usage.track(ctx, inst));
  await settle(log, 'tell the schedulers', deps.scheduler.updateInstanceInfo(ctx, instanceList(inst)));
}
