/**
 * An instance's networks, between the manager and src/network: ports allocated and bound
 * through Neutron, the info cache saved (nova-api shows addresses from it), each VIF plugged
 * into the container's namespace as eth0, eth1, ... in request order, and Neutron's
 * network-vif-plugged events awaited with Nova's vif_plugging_timeout/_is_fatal semantics.
 * A container's namespace dies with its processes, so every start plugs again.
 */
import type { Logger } from '../../common/log.js';
import type { ContainerEngine } from '../../runtime/types.js';
import type { VifModel } from '../../network/network-info.js';
import type { PortManager, PortRequest } from '../../network/ports.js';
import type { VifPlugger } from '../../network/vif-plug.js';
import { resolvConf } from '../../network/resolv-conf.js';
import { NovaObject } from '../objects/versioned-object.js';
import { objectVersion } from '../objects/manifest.js';
import type { RequestContext } from '../../messaging/types.js';
import type { ConductorClient } from '../conductor.js';
import { VifPlugTimeout, type InstanceEvents } from './instance-events.js';

export interface Networking {
  ports: PortManager;
  pluggers: VifPlugger[];
  events: InstanceEvents;
  vifPluggingTimeout: number;
  vifPluggingIsFatal: boolean;
}

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

export function pluggerFor(net: Networking, vif: VifModel): VifPlugger {
  const p = net.pluggers.find((x) => x.vifTypes.includes(vif.type));
  if (!p) throw new Error(`port ${vif.id} has vif_type ${vif.type}, which this host cannot plug`);
  return p;
}

/** A running container of an instance: where its VIFs go. */
export interface PlugSite {
  instanceUuid: string;
  containerId: string;
  /** A process inside it (its network namespace is the container's). */
  pid: number;
}

/** The container's resolver follows its ports' subnets (left as the engine wrote it when they name no DNS). */
export async function applyDns(engine: ContainerEngine, containerId: string, vifs: VifModel[]): Promise<void> {
  const text = resolvConf(vifs);
  if (text !== null) await engine.setResolvConf(containerId, text);
}

/**
 * Plugs every VIF into the container's namespace and writes its resolv.conf; with
 * `waitForEvents` it registers the network-vif-plugged waiters first (for ports not yet
 * ACTIVE) and waits for them.
 */
export async function plugAll(net: Networking, engine: ContainerEngine, site: PlugSite, vifs: VifModel[], waitForEvents: boolean, log: Logger): Promise<void> {
  const { instanceUuid, pid } = site;
  const expected = waitForEvents ? vifs.filter((v) => !v.active).map((v) => ({ name: 'network-vif-plugged', tag: v.id })) : [];
  const pending = net.events.prepare(instanceUuid, expected);
  for (const [i, vif] of vifs.entries()) await pluggerFor(net, vif).plug(vif, { pid, ifname: `eth${i}`, instanceUuid });
  await applyDns(engine, site.containerId, vifs);
  if (expected.length === 0) return;
  try {
    await net.events.wait(instanceUuid, expected, pending, net.vifPluggingTimeout);
  } catch (err) {
    if (err instanceof VifPlugTimeout && !net.vifPluggingIsFatal) {
      log.warn({ missing: err.missing }, 'timed out waiting for network-vif-plugged; going on (vif_plugging_is_fatal = false)');
      return;
    }
    throw err;
  }
}

/** Unplugs and releases everything: ports created here deleted, ports the user passed unbound. */
export async function teardown(net: Networking, conductor: ConductorClient, ctx: RequestContext, instanceUuid: string, preserve: Set<string>): Promise<void> {
  const vifs = await net.ports.networkInfo(instanceUuid, preserve);
  for (const vif of vifs) await pluggerFor(net, vif).unplug(vif).catch(() => undefined);
  await net.ports.deallocate(instanceUuid, preserve);
  if (vifs.length) await saveInfoCache(conductor, ctx, instanceUuid, []);
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

/** After a (re)start: the container's new namespace gets the instance's ports again. */
export async function replug(net: Networking | null, engine: ContainerEngine, instanceUuid: string, containerId: string, log: Logger): Promise<void> {
  if (!net) return;
  const vifs = await net.ports.networkInfo(instanceUuid, new Set());
  if (vifs.length === 0) return;
  const c = await engine.inspectContainer(containerId);
  if (!c?.pid) throw new Error('the container is not running: its networks cannot be plugged');
  await plugAll(net, engine, { instanceUuid, containerId: c.id, pid: c.pid }, vifs, false, log);
}
