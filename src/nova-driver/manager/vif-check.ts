/**
 * The VIFs of running containers checked against the host and mended, as nova-compute plugs
 * its instances' VIFs again in init_host: when the service starts, when the engine's event
 * stream comes back (the engine may have restarted), when a container starts behind the
 * service's back (its new namespace has no interfaces), and on the periodic power-state
 * spacing. Host devices whose instance is gone, or no longer has that port, are removed.
 * The VIFs come from the instance's info cache, so a check costs no Neutron call.
 */
import type { Logger } from '../../common/log.js';
import type { EnsureOutcome } from '../../network/vif-plug.js';
import type { RequestContext } from '../../messaging/types.js';
import type { NovaObject } from '../objects/versioned-object.js';
import { InstanceNotFound } from '../errors.js';
import type { ManagerDeps } from './deps.js';
import { containerName } from './container-spec.js';
import { applyDns, cachedVifs, type Networking } from './networking.js';
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
  const net = deps.network;
  if (!net) return report;
  const log = deps.log.child({ phase: 'vif-check' });
  for (const inst of await deps.instances.listOnHost(ctx, [])) {
    const uuid = inst.str('uuid');
    try {
      await deps.locks.run(uuid, () => checkInstance(deps, net, ctx, uuid, report, log));
    } catch (err) {
      log.error({ instance: uuid, err: (err as Error).message }, 'could not check the instance\'s VIFs');
    }
  }
  await removeStale(deps, net, ctx, startup, report, log);
  if (report.mended.length || report.removed.length) log.warn({ ...report }, 'VIFs mended or removed');
  else log.debug({ instances: report.instances }, 'VIFs checked: all in place');
  return report;
}

/** One instance, e.g. after its container started behind the service's back. */
export async function checkInstanceVifs(deps: ManagerDeps, ctx: RequestContext, uuid: string): Promise<VifCheckReport> {
  const report: VifCheckReport = { instances: 0, mended: [], removed: [] };
  const net = deps.network;
  if (!net) return report;
  const log = deps.log.child({ phase: 'vif-check', instance: uuid });
  await deps.locks.run(uuid, () => checkInstance(deps, net, ctx, uuid, report, log));
  if (report.mended.length) log.warn({ ...report }, 'VIFs mended');
  return report;
}

/** Under the instance's lock: no operation of this service is changing it meanwhile. */
async function checkInstance(deps: ManagerDeps, net: Networking, ctx: RequestContext, uuid: string, report: VifCheckReport, log: Logger): Promise<void> {
  let inst: NovaObject;
  try {
    inst = await deps.instances.get(ctx, uuid, ['info_cache']);
  } catch (err) {
    if (err instanceof InstanceNotFound) return;
    throw err;
  }
  if (inst.get('task_state') || inst.get('vm_state') === VmState.DELETED || inst.optStr('host') !== deps.host) return;
  const c = await deps.engine.inspectContainer(containerName(uuid));
  if (!c?.pid) return; // not running: its next start plugs
  report.instances++;
  const vifs = cachedVifs(inst);
  let mended = false;
  for (const [i, vif] of vifs.entries()) {
    const plugger = net.pluggers.find((p) => p.vifTypes.includes(vif.type));
    if (!plugger) {
      log.warn({ instance: uuid, port: vif.id, vif_type: vif.type }, 'VIF of a type this host cannot plug: not checked');
      continue;
    }
    const outcome = await plugger.ensure(vif, { pid: c.pid, ifname: `eth${i}`, instanceUuid: uuid });
    if (outcome !== 'ok') {
      mended = true;
      report.mended.push({ instance: uuid, port: vif.id, outcome });
    }
  }
  if (mended) await applyDns(deps.engine, c.id, vifs);
}

async function removeStale(deps: ManagerDeps, net: Networking, ctx: RequestContext, startup: boolean, report: VifCheckReport, log: Logger): Promise<void> {
  for (const plugger of net.pluggers) {
    const byOwner = new Map<string, string[]>();
    for (const d of await plugger.plugged()) {
      if (d.instanceUuid === null) {
        // At run time this may be a plug under way; at start-up it is one a crash cut short.
        if (startup) {
          await plugger.remove(d.devname);
          report.removed.push(d.devname);
        }
        continue;
      }
      byOwner.set(d.instanceUuid, [...(byOwner.get(d.instanceUuid) ?? []), d.devname]);
    }
    for (const [owner, devnames] of byOwner) {
      await deps.locks.run(owner, async () => {
        const keep = await devicesOf(deps, ctx, owner);
        for (const devname of devnames) {
          if (keep.has(devname)) continue;
          await plugger.remove(devname);
          report.removed.push(devname);
          log.info({ instance: owner, device: devname }, 'removed a device of an instance that is gone or no longer has that port');
        }
      });
    }
  }
}

/** The devices an instance of this host should have (none when it is gone or elsewhere). */
async function devicesOf(deps: ManagerDeps, ctx: RequestContext, uuid: string): Promise<Set<string>> {
  try {
    const inst = await deps.instances.get(ctx, uuid, ['info_cache']);
    if (inst.get('vm_state') === VmState.DELETED || inst.optStr('host') !== deps.host) return new Set();
    return new Set(cachedVifs(inst).map((v) => v.devname));
  } catch (err) {
    if (err instanceof InstanceNotFound) return new Set();
    throw err;
  }
}
