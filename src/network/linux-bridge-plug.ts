/**
 * vif_type `bridge` (ML2 Linux bridge): a veth pair whose host end is named `tap<port[:11]>`
 * and enlisted in the network's `brq<net[:11]>` bridge (created if the agent has not yet:
 * the agent does not add a compute's taps itself, and reports the port up only once the tap
 * exists), the peer moved into the container's namespace and configured there with iproute2.
 * The tap's alias names the instance, so a device of an instance that is gone can be found.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { VifModel } from './network-info.js';
import type { EnsureOutcome, PlugTarget, PluggedDevice, VifPlugger } from './vif-plug.js';

const run = promisify(execFile);

export class PlugError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlugError';
  }
}

async function ip(args: string[]): Promise<string> {
  try {
    return (await run('ip', args, { timeout: 10_000 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new PlugError(`ip ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`);
  }
}

/** `ip` inside the network namespace of process `pid`. */
async function ipIn(pid: number, args: string[]): Promise<string> {
  try {
    return (await run('nsenter', ['-t', String(pid), '-n', 'ip', ...args], { timeout: 10_000 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new PlugError(`ip ${args.join(' ')} (in the namespace of pid ${pid}): ${(e.stderr ?? e.message).trim()}`);
  }
}

/** The part of `ip -j -d link show` this plugger reads. */
interface LinkInfo {
  ifindex?: number;
  ifname: string;
  /** A veth's peer's ifindex (in the namespace `link_netnsid` names). */
  link_index?: number;
  ifalias?: string;
  master?: string;
  flags?: string[];
  /** Set when the veth's peer lives in another network namespace. */
  link_netnsid?: number;
  linkinfo?: { info_kind?: string };
}

async function links(args: string[]): Promise<LinkInfo[]> {
  try {
    return JSON.parse((await run('ip', ['-j', '-d', 'link', 'show', ...args], { timeout: 10_000 })).stdout || '[]') as LinkInfo[];
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    if (/does not exist/.test(e.stderr ?? '')) return [];
    throw new PlugError(`ip -j -d link show ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`);
  }
}

async function link(name: string): Promise<LinkInfo | null> {
  return (await links(['dev', name]))[0] ?? null;
}

async function linkExists(name: string): Promise<boolean> {
  return (await link(name)) !== null;
}

/**
 * Whether the peer of host device `ifindex` is in the namespace of `pid`, by the peer's link
 * index (its name there may differ: eth1 stays eth1 after eth0 was detached).
 */
async function peerInNamespace(pid: number, ifindex: number): Promise<boolean> {
  let out: string;
  try {
    out = (await run('nsenter', ['-t', String(pid), '-n', 'ip', '-j', 'link', 'show'], { timeout: 10_000 })).stdout;
  } catch (err) {
    throw new PlugError(`ip -j link show (in the namespace of pid ${pid}): ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`);
  }
  return (JSON.parse(out || '[]') as LinkInfo[]).some((l) => l.link_index === ifindex);
}

/** The network's bridge, made if the agent has not made it yet. */
async function ensureBridge(bridge: string): Promise<void> {
  if (await linkExists(bridge)) return;
  await ip(['link', 'add', bridge, 'type', 'bridge']).catch(async (e: unknown) => {
    if (!(await linkExists(bridge))) throw e; // the agent made it meanwhile: fine
  });
  await ip(['link', 'set', bridge, 'up']);
}

/** Recorded as the host end's alias: `nova-container:<host>:<instance uuid>`. */
const ALIAS_PREFIX = 'nova-container:';
/** The container end's name while it is still on the host (nc + 12 hex digits of the port id). */
const TEMP_PEER = /^nc[0-9a-f]{12}$/;

function prefixOf(cidr: string): string {
  return cidr.split('/')[1] ?? '32';
}

export class LinuxBridgePlugger implements VifPlugger {
  readonly vifTypes = ['bridge'] as const;
  /** The alias prefix of this service's devices (another compute host may share the machine). */
  private readonly alias: string;

  constructor(host: string) {
    this.alias = `${ALIAS_PREFIX}${host}:`;
  }

  async plug(vif: VifModel, target: PlugTarget): Promise<void> {
    const tap = vif.devname;
    const bridge = vif.network.bridge;
    if (!bridge) throw new PlugError(`port ${vif.id} has no bridge to plug into`);
    const peer = `nc${vif.id.replace(/-/g, '')}`.slice(0, 14); // temporary name until it is inside (TEMP_PEER)
    const mtu = typeof vif.network.meta.mtu === 'number' ? String(vif.network.meta.mtu) : null;
    await ensureBridge(bridge);
    if (await linkExists(tap)) await ip(['link', 'del', tap]); // a stale plug from before a restart
    if (await linkExists(peer)) await ip(['link', 'del', peer]); // a plug cut short
    await ip(['link', 'add', tap, ...(mtu ? ['mtu', mtu] : []), 'type', 'veth', 'peer', 'name', peer, ...(mtu ? ['mtu', mtu] : [])]);
    try {
      await ip(['link', 'set', 'dev', tap, 'alias', `${this.alias}${target.instanceUuid}`]);
      await ip(['link', 'set', tap, 'master', bridge]);
      await ip(['link', 'set', tap, 'up']);
      await ip(['link', 'set', peer, 'netns', String(target.pid)]);
      await ipIn(target.pid, ['link', 'set', peer, 'name', target.ifname]);
      await ipIn(target.pid, ['link', 'set', target.ifname, 'address', vif.address]);
      for (const subnet of vif.network.subnets) {
        for (const fixed of subnet.ips) {
          if (fixed.address) await ipIn(target.pid, ['addr', 'add', `${fixed.address}/${prefixOf(subnet.cidr)}`, 'dev', target.ifname]);
        }
      }
      await ipIn(target.pid, ['link', 'set', 'lo', 'up']);
      await ipIn(target.pid, ['link', 'set', target.ifname, 'up']);
      for (const subnet of vif.network.subnets) {
        for (const r of subnet.routes) {
          if (r.gateway.address) await ipIn(target.pid, ['route', 'replace', r.cidr, 'via', r.gateway.address, 'dev', target.ifname]);
        }
        // The first port's gateway is the default route (as a DHCP client would set it).
        if (target.ifname === 'eth0' && subnet.gateway.address) {
          await ipIn(target.pid, ['route', 'replace', 'default', 'via', subnet.gateway.address, 'dev', target.ifname]);
        }
      }
    } catch (err) {
      await ip(['link', 'del', tap]).catch(() => undefined);
      throw err;
    }
  }

  async ensure(vif: VifModel, target: PlugTarget): Promise<EnsureOutcome> {
    const tap = await link(vif.devname);
    // Gone, its peer never reached a container, or the peer is in a namespace that is no
    // longer the target's (the namespace's holder was restarted).
    if (!tap || tap.link_netnsid === undefined || tap.ifindex === undefined || !(await peerInNamespace(target.pid, tap.ifindex))) {
      await this.plug(vif, target);
      return 'replugged';
    }
    const bridge = vif.network.bridge;
    if (bridge && (tap.master !== bridge || !tap.flags?.includes('UP'))) {
      await ensureBridge(bridge);
      await ip(['link', 'set', vif.devname, 'master', bridge]);
      await ip(['link', 'set', vif.devname, 'up']);
      return 'reattached';
    }
    return 'ok';
  }

  async plugged(): Promise<PluggedDevice[]> {
    const out: PluggedDevice[] = [];
    for (const l of await links(['type', 'veth'])) {
      if (l.ifalias?.startsWith(this.alias)) out.push({ devname: l.ifname, instanceUuid: l.ifalias.slice(this.alias.length) });
      else if (TEMP_PEER.test(l.ifname)) out.push({ devname: l.ifname, instanceUuid: null });
    }
    return out;
  }

  async remove(devname: string): Promise<void> {
    if (await linkExists(devname)) await ip(['link', 'del', devname]);
  }
}
