/**
 * attach_interface (a call; returns the new VIF) and detach_interface (a cast)
 * (nova/compute/manager.py): a port allocated or taken, bound here, plugged into the running
 * instance's network as the next ethN; detaching unplugs it and deletes it when this host
 * created it, or unbinds it when the user passed it. The info cache follows, so the API shows
 * the change.
 */
import { InterfaceAttachFailed, PortNotFound } from '../errors.js';
import type { RequestContext } from '../../messaging/types.js';
import type { VifModel } from '../../network/network-info.js';
import type { ManagerDeps } from './deps.js';
import { instanceAction, instanceFromArgs, settle } from './instance-action.js';
import { checkArgs } from './compute-args.js';
import { cachedVifs, preservedPorts, saveInfoCache } from './networking.js';

export async function attachInterface(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<VifModel> {
  const inst = instanceFromArgs(args);
  const uuid = inst.str('uuid');
  return instanceAction(deps, ctx, inst, { event: 'compute_attach_interface', revertTaskState: false }, async (log) => {
    checkArgs('attach_interface', args);
    const ports = deps.ports;
    if (!ports) throw new InterfaceAttachFailed({ instance_uuid: uuid }, 'this host has no [neutron] credentials');
    const before = cachedVifs(await deps.instances.get(ctx, uuid, ['info_cache']));
    const [vif] = await ports.allocate({
      uuid, projectId: inst.str('project_id'), availabilityZone: inst.optStr('availability_zone') ?? 'nova', hostname: inst.optStr('hostname') ?? uuid,
    }, [{
      networkId: typeof args.network_id === 'string' ? args.network_id : null,
      portId: typeof args.port_id === 'string' ? args.port_id : null,
      fixedIp: typeof args.requested_ip === 'string' ? args.requested_ip : null,
    }], []);
    try {
      const checks = await deps.driver.plugVifs(uuid, [...before, vif]);
      if (checks?.find((c) => c.port === vif.id)?.outcome === 'unpluggable') throw new Error(`port ${vif.id} has vif_type ${vif.type}, which this host cannot plug`);
      await saveInfoCache(deps.conductor, ctx, uuid, [...before, vif]);
    } catch (err) {
      await settle(log, 'unplug the new port', deps.driver.unplugVif(uuid, vif, before));
      await settle(log, 'release the new port', ports.deallocatePort(vif.id, vif.preserve_on_delete));
      throw new InterfaceAttachFailed({ instance_uuid: uuid }, `Failed to attach network adapter device to ${uuid}: ${(err as Error).message}`);
    }
    return vif;
  });
}

export async function detachInterface(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const inst = instanceFromArgs(args);
  const uuid = inst.str('uuid');
  await instanceAction(deps, ctx, inst, { event: 'compute_detach_interface', revertTaskState: false }, async () => {
    checkArgs('detach_interface', args);
    const portId = args.port_id as string;
    if (!deps.ports) throw new PortNotFound({ port_id: portId });
    // The cast's instance may come without its info cache: read it, it says which ports the user passed.
    const cached = await deps.instances.get(ctx, uuid, ['info_cache']);
    const vifs = cachedVifs(cached);
    const vif = vifs.find((v) => v.id === portId);
    if (!vif) throw new PortNotFound({ port_id: portId });
    const remaining = vifs.filter((v) => v.id !== portId);
    await deps.driver.unplugVif(uuid, vif, remaining);
    await deps.ports.deallocatePort(portId, preservedPorts(cached).has(portId));
    await saveInfoCache(deps.conductor, ctx, uuid, remaining);
  });
}
