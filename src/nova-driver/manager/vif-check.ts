/**
 * The VIFs of this host's instances checked and mended through the driver, as nova-compute
 * plugs its instances' VIFs again in init_host: when the service starts, when the engine's
 * event stream comes back (the engine may have restarted), when an instance's network
 * namespace is made anew behind the service's back (its sandbox, or a workload with a
 * namespace of its own, started: the new namespace has no interfaces), and on the
 * periodic power-state spacing. The VIFs come from the instances' info caches, read in one
 * listing of the host's instances (only one an operation of ours locked since is read again),
 * so a check costs no Neutron call and no conductor call per instance; where the engine's
 * listing says where each network is (InstanceDriver.vifCheckRound), no engine call per
 * instance either.
 *
 * It is also where the leftovers of a destroy go, which removes only the devices of the VIFs
 * it is given (src/runtime/container-driver.ts): host devices whose instance is gone, elsewhere
 * or no longer has that port are removed here, and at start-up the plugs a crash cut short.
 */
import type { Logger } from '../../common/log.js';
import type { EnsureOutcome } from '../../network/vif-plug.js';
import type { RequestContext } from '../../messaging/types.js';
import type { NovaObject } from '../objects/versioned-object.js';
import { InstanceNotFound } from '../errors.js';
import type { ManagerDeps } from './deps.js';
import type { InstanceDriver } from '../instance-driver.js';
import type { LockMark } from '../../common/keyed-lock.js';
import { cachedVifs } from './networking.js';
import { VmState } from './states.js';

export interface VifCheckReport {
  instances: number;
  mended: { instance: string; port: string; outcome: EnsureOutcome }[];
  removed: string[];
}

/**
 * Checks every instance of this host. With `startup` (nothing else runs yet) it also removes
 * devices no instance was recorded on, i.e. plugs a crash cut short.
 */
export async function checkAllVifs(deps: ManagerDeps, ctx: RequestContext, startup: boolean): Promise<VifCheckReport> {
  const report: VifCheckReport = { instances: 0, mended: [], removed: [] };
  if (!deps.ports) return report;
  const log = deps.log.child({ phase: 'vif-check' });
  // Opened before the listing: an instance whose lock no operation took since is as listed.
  const mark = deps.locks.mark();
  try {
    const listed = new Map((await deps.instances.listOnHost(ctx, ['info_cache'])).map((i) => [i.str('uuid'), i]));
    const read = listedUnlessTouched(deps, ctx, listed, mark);
    const round = await deps.driver.vifCheckRound();
    const plug: Plug = (uuid, vifs) => (mark.touched(uuid) ? deps.driver.plugVifs(uuid, vifs) : round.plugVifs(uuid, vifs));
    for (const uuid of listed.keys()) {
      try {
        await deps.locks.run(uuid, () => checkInstance(deps, uuid, read, plug, report), mark);
      } catch (err) {
        log.error({ instance: uuid, err: (err as Error).message }, 'could not check the instance\'s VIFs');
      }
    }
    await removeStale(deps, startup, read, mark, report, log);
  } finally {
    mark.close();
  }
  if (report.mended.length || report.removed.length) log.warn({ ...report }, 'VIFs mended or removed');
  else log.debug({ instances: report.instances }, 'VIFs checked: all in place');
  return report;
}

/** One instance, e.g. after its network started again behind the service's back. */
export async function checkInstanceVifs(deps: ManagerDeps, ctx: RequestContext, uuid: string): Promise<VifCheckReport> {
  const report: VifCheckReport = { instances: 0, mended: [], removed: [] };
  if (!deps.ports) return report;
  const log = deps.log.child({ phase: 'vif-check', instance: uuid });
  await deps.locks.run(uuid, () => checkInstance(deps, uuid, (id) => deps.instances.get(ctx, id, ['info_cache']), (id, vifs) => deps.driver.plugVifs(id, vifs), report));
  if (report.mended.length) log.warn({ ...report }, 'VIFs mended');
  return report;
}

/** An instance with its info cache, under its lock; InstanceNotFound when it is gone. */
type InstanceReader = (uuid: string) => Promise<NovaObject>;

/** InstanceDriver.plugVifs, or a round's for an instance no operation changed since it began. */
type Plug = InstanceDriver['plugVifs'];

/**
 * The listed instance, unless an operation of this service took its lock since the listing
 * (every change of ours to an instance's info cache, host or states is made under it): then,
 * and for one not listed, the conductor's.
 */
function listedUnlessTouched(deps: ManagerDeps, ctx: RequestContext, listed: Map<string, NovaObject>, mark: LockMark): InstanceReader {
  return async (uuid) => {
    const inst = listed.get(uuid);
    return inst && !mark.touched(uuid) ? inst : deps.instances.get(ctx, uuid, ['info_cache']);
  };
}

/** Under the instance's lock: no operation of this service is changing it meanwhile. */
async function checkInstance(deps: ManagerDeps, uuid: string, read: InstanceReader, plug: Plug, report: VifCheckReport): Promise<void> {
  let inst: NovaObject;
  try {
    inst = await read(uuid);
  } catch (err) {
    if (err instanceof InstanceNotFound) return;
    throw err;
  }
  if (inst.get('task_state') || inst.get('vm_state') === VmState.DELETED || inst.optStr('host') !== deps.host) return;
  const checks = await plug(uuid, cachedVifs(inst));
  if (!checks) return; // its network is not up: its next start makes it
  report.instances++;
  for (const c of checks) if (c.outcome === 'reattached' || c.outcome === 'replugged') report.mended.push({ instance: uuid, port: c.port, outcome: c.outcome });
}

async function removeStale(deps: ManagerDeps, startup: boolean, read: InstanceReader, mark: LockMark, report: VifCheckReport,
  log: Logger): Promise<void> {
  const byOwner = new Map<string, string[]>();
  for (const d of await deps.driver.vifDevices()) {
    if (d.instanceUuid === null) {
      // At run time this may be a plug under way; at start-up it is one a crash cut short.
      if (startup) {
        await deps.driver.removeVifDevice(d.devname);
        report.removed.push(d.devname);
      }
      continue;
    }
    byOwner.set(d.instanceUuid, [...(byOwner.get(d.instanceUuid) ?? []), d.devname]);
  }
  for (const [owner, devnames] of byOwner) {
    await deps.locks.run(owner, async () => {
      const keep = await devicesOf(deps, read, owner);
      for (const devname of devnames) {
        if (keep.has(devname)) continue;
        await deps.driver.removeVifDevice(devname);
        report.removed.push(devname);
        log.info({ instance: owner, device: devname }, 'removed a device of an instance that is gone or no longer has that port');
      }
    }, mark);
  }
}

/** The devices an instance of this host should have (none when it is gone or elsewhere). */
async function devicesOf(deps: ManagerDeps, read: InstanceReader, uuid: string): Promise<Set<string>> {
  try {
    const inst = await read(uuid);
    if (inst.get('vm_state') === VmState.DELETED || inst.optStr('host') !== deps.host) return new Set();
    return new Set(cachedVifs(inst).map((v) => v.devname));
  } catch (err) {
    if (err instanceof InstanceNotFound) return new Set();
    throw err;
  }
}
