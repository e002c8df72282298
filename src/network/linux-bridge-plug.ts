/**
 * vif_type `bridge` (ML2 Linux bridge): a veth pair whose host end is named `tap<port[:11]>`
 * and enlisted in the network's `brq<net[:11]>` bridge (created if the agent has not yet:
 * the agent does not add a compute's taps itself, and reports the port up only once the tap
 * exists), the peer moved into the container's namespace and configured there with iproute2.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { VifModel } from './network-info.js';
import type { PlugTarget, VifPlugger } from './vif-plug.js';

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

async function linkExists(name: string): Promise<boolean> {
  try {
    await run('ip', ['link', 'show', 'dev', name], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

function prefixOf(cidr: string): string {
  return cidr.split('/')[1] ?? '32';
}

export class LinuxBridgePlugger implements VifPlugger {
  readonly vifTypes = ['bridge'] as const;

  async plug(vif: VifModel, target: PlugTarget): Promise<void> {
    const tap = vif.devname;
    const bridge = vif.network.bridge;
    if (!bridge) throw new PlugError(`port ${vif.id} has no bridge to plug into`);
    const peer = `nc${vif.id.replace(/-/g, '')}`.slice(0, 14); // temporary name until it is inside
    const mtu = typeof vif.network.meta.mtu === 'number' ? String(vif.network.meta.mtu) : null;
    if (!(await linkExists(bridge))) {
      await ip(['link', 'add', bridge, 'type', 'bridge']).catch(async (e: unknown) => {
        if (!(await linkExists(bridge))) throw e; // the agent made it meanwhile: fine
      });
      await ip(['link', 'set', bridge, 'up']);
    }
    if (await linkExists(tap)) await ip(['link', 'del', tap]); // a stale plug from before a restart
    await ip(['link', 'add', tap, ...(mtu ? ['mtu', mtu] : []), 'type', 'veth', 'peer', 'name', peer, ...(mtu ? ['mtu', mtu] : [])]);
    try {
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

  async unplug(vif: VifModel): Promise<void> {
    if (await linkExists(vif.devname)) await ip(['link', 'del', vif.devname]);
  }

  async isPlugged(vif: VifModel): Promise<boolean> {
    return linkExists(vif.devname);
  }
}
