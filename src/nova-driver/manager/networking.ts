/**
 * An instance's networks on the manager's side (nova/network/neutron.py as nova-compute uses
 * it): ports allocated and bound through Neutron, the info cache saved (nova-api shows
 * addresses from it), ports released on delete. Plugging is the driver's
 * (InstanceDriver.spawn, plugVifs, unplugVif).
 */
import type { Logger } from '../../common/log.js';
import type { VifModel } from '../../network/network-info.js';
import type { PortRequest } from '../../network/ports.js';
import { NovaObject } from '../objects/versioned-object.js';
import { objectVersion } from '../objects/manifest.js';
import type { RequestContext } from '../../messaging/types.js';
import type { ConductorClient } from '../conductor.js';
import type { ImageAccess, VifSource } from '../instance-driver.js';
import type { ManagerDeps } from './deps.js';
import { settle } from './instance-action.js';

/** The build's requested_networks (a NetworkRequestList primitive) as port requests; `none` asks for nothing. */
export function portRequests(requested: unknown): PortRequest[] {
  const list = requested as { 'nova_object.data'?: { objects?: { 'nova_object.data'?: Record<string, unknown> }[] } } | null;
  return (list?.['nova_object.data']?.objects ?? [])
    .map((o) => o['nova_object.data'] ?? {})
    .filter((r) => r.network_id !== 'none')
    .map((r) => ({
      networkId: typeof r.network_id === 'string' ? r.network_id : null,
      portId: typeof r.port_id === 'string' ? r.port_id : null,
      fixedIp: typeof r.address === 'string' ? r.address : null,
    }));
}

export async function saveInfoCache(conductor: ConductorClient, ctx: RequestContext, instanceUuid: string, vifs: VifModel[]): Promise<void> {
  const cache = new NovaObject('InstanceInfoCache', objectVersion('InstanceInfoCache'), { instance_uuid: instanceUuid });
  cache.set('network_info', JSON.stringify(vifs));
  await conductor.objectAction(ctx, cache, 'save');
}

/** The VIFs Nova has cached for the instance, in the order they were plugged (eth0, eth1, ...). */
export function cachedVifs(inst: NovaObject): VifModel[] {
  const raw = inst.obj('info_cache')?.get('network_info');
  if (typeof raw !== 'string') return [];
  try {
    const vifs = JSON.parse(raw) as unknown;
    return Array.isArray(vifs) ? vifs.filter((v): v is VifModel => typeof (v as VifModel)?.id === 'string' && typeof (v as VifModel)?.devname === 'string') : [];
  } catch {
    return [];
  }
}

/** Ports the user passed, from the info cache Nova saved (preserve_on_delete). */
export function preservedPorts(inst: NovaObject): Set<string> {
  return new Set(cachedVifs(inst).filter((v) => v.preserve_on_delete).map((v) => v.id));
}

/** The instance's cached VIFs, read when the cast's instance came without its info cache. */
export function vifSource(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject): VifSource {
  return async () => cachedVifs(inst.obj('info_cache') ? inst : await deps.instances.get(ctx, inst.str('uuid'), ['info_cache']));
}

/**
 * The instance's ports bound to this host and its info cache saved (migrate_instance_finish,
 * setup_instance_network_on_host: a move arrives here); its VIFs in the order it had them.
 * None when the host has no [neutron] credentials.
 */
export async function bindPortsHere(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject): Promise<VifModel[]> {
  if (!deps.ports) return [];
  const uuid = inst.str('uuid');
  const vifs = await deps.ports.bindHere(uuid, cachedVifs(inst).map((v) => v.id), preservedPorts(inst));
  await saveInfoCache(deps.conductor, ctx, uuid, vifs);
  return vifs;
}

/**
 * Gives back the instance's ports, best-effort (deallocate_for_instance): ports created here
 * deleted, ports the user passed unbound; one that is already gone, unbound or bound
 * elsewhere is skipped. Never throws: what fails is logged.
 */
export async function releasePorts(deps: ManagerDeps, ctx: RequestContext, instanceUuid: string, preserve: Set<string>, log: Logger): Promise<void> {
  if (!deps.ports) return;
  const ports = deps.ports;
  await settle(log, 'release the ports', ports.deallocate(instanceUuid, preserve));
  await settle(log, 'clear the network info cache', saveInfoCache(deps.conductor, ctx, instanceUuid, []));
}

/** Glance with the request's credentials, as the driver uses it; `wholeSnapshots`: no delta snapshots (shelve). */
export function imageAccess(deps: ManagerDeps, ctx: RequestContext, wholeSnapshots = false): ImageAccess {
  return {
    ensure: (image, recheck) => deps.images.ensureImage(ctx, image, recheck),
    upload: (engineRef, imageId, parentImageId) => deps.images.uploadSnapshot(ctx, engineRef, imageId, parentImageId, wholeSnapshots),
  };
}
