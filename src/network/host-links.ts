/**
 * Host commands the VIF pluggers share: iproute2 on the host and inside a container's network
 * namespace (`nsenter --net=<path>`), veth pairs, and the container end's configuration (the
 * port's MAC, addresses, routes, MTU). Commands run through an `Exec`, so a plugger's logic can
 * be tested with a fake one.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { VifModel } from './network-info.js';
import type { PlugTarget } from './vif-plug.js';

const run = promisify(execFile);

export class PlugError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlugError';
  }
}

/** A command that could not run (`missing`: the program is not installed) or exited non-zero. */
export class CommandFailed extends Error {
  constructor(readonly file: string, readonly args: readonly string[], readonly stderr: string, readonly missing: boolean) {
    super(`${file} ${args.join(' ')}: ${missing ? 'not found' : stderr}`);
    this.name = 'CommandFailed';
  }
}

/** Runs a program (no shell) and gives its stdout; throws CommandFailed. */
export type Exec = (file: string, args: readonly string[], timeoutMs?: number) => Promise<string>;

export const hostExec: Exec = async (file, args, timeoutMs = 10_000) => {
  try {
    return (await run(file, [...args], { timeout: timeoutMs })).stdout;
  } catch (err) {
    const e = err as { code?: unknown; stderr?: string; message: string; killed?: boolean };
    const stderr = (e.killed ? `timed out after ${timeoutMs / 1000} s` : e.stderr || e.message).trim();
    throw new CommandFailed(file, args, stderr, e.code === 'ENOENT');
  }
};

/** The part of `ip -j -d link show` the pluggers read. */
export interface LinkInfo {
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

function prefixOf(cidr: string): string {
  return cidr.split('/')[1] ?? '32';
}

/** The network's MTU from network_info, as `ip` wants it, or null when Neutron gave none. */
export function mtuOf(vif: VifModel): string | null {
  return typeof vif.network.meta.mtu === 'number' ? String(vif.network.meta.mtu) : null;
}

export class HostLinks {
  constructor(private readonly exec: Exec = hostExec) {}

  async ip(args: string[]): Promise<string> {
    try {
      return await this.exec('ip', args);
    } catch (err) {
      throw new PlugError(`ip ${args.join(' ')}: ${describe(err)}`);
    }
  }

  /** `cmd args` inside the network namespace at path `netns` (src/network/vif-plug.ts PlugTarget). */
  async inNamespace(netns: string, cmd: string, args: string[]): Promise<string> {
    try {
      return await this.exec('nsenter', [`--net=${netns}`, cmd, ...args]);
    } catch (err) {
      throw new PlugError(`${cmd} ${args.join(' ')} (in the network namespace ${netns}): ${describe(err)}`);
    }
  }

  async ipIn(netns: string, args: string[]): Promise<string> {
    return this.inNamespace(netns, 'ip', args);
  }

  async list(args: string[]): Promise<LinkInfo[]> {
    try {
      return JSON.parse((await this.exec('ip', ['-j', '-d', 'link', 'show', ...args])) || '[]') as LinkInfo[];
    } catch (err) {
      if (err instanceof CommandFailed && /does not exist/.test(err.stderr)) return [];
      throw new PlugError(`ip -j -d link show ${args.join(' ')}: ${describe(err)}`);
    }
  }

  async get(name: string): Promise<LinkInfo | null> {
    return (await this.list(['dev', name]))[0] ?? null;
  }

  async exists(name: string): Promise<boolean> {
    return (await this.get(name)) !== null;
  }

  /**
   * Deletes the device if it is there. One that goes while it is deleted is no error: the kernel
   * deletes a veth pair with the namespace of either end, after that namespace's last process
   * has ended (a delete ran into it on the Zed cloud: "Cannot find device").
   */
  async deleteIfExists(name: string): Promise<void> {
    if (!(await this.exists(name))) return;
    try {
      await this.ip(['link', 'del', name]);
    } catch (err) {
      if (await this.exists(name)) throw err;
    }
  }

  /**
   * The name, in the network namespace `netns`, of the peer of host device `ifindex`, or null
   * when it is not there. Found by the peer's link index: its name may differ from the one it
   * was plugged as (eth1 stays eth1 after eth0 was detached).
   */
  async peerIn(netns: string, ifindex: number): Promise<string | null> {
    const out = await this.ipIn(netns, ['-j', 'link', 'show']);
    return (JSON.parse(out || '[]') as LinkInfo[]).find((l) => l.link_index === ifindex)?.ifname ?? null;
  }

  /** A veth pair `hostEnd` / `peer`, both with `mtu` when given. */
  async addVeth(hostEnd: string, peer: string, mtu: string | null): Promise<void> {
    await this.ip(['link', 'add', hostEnd, ...(mtu ? ['mtu', mtu] : []), 'type', 'veth', 'peer', 'name', peer, ...(mtu ? ['mtu', mtu] : [])]);
  }

  /**
   * Moves `peer` into the target's namespace as `target.ifname` and gives it the port's MAC,
   * addresses and routes (the first port's gateway is the default route, as a DHCP client
   * would set it).
   */
  async moveIntoContainer(vif: VifModel, peer: string, target: PlugTarget): Promise<void> {
    const { netns, ifname } = target;
    await this.ip(['link', 'set', peer, 'netns', netns]);
    await this.ipIn(netns, ['link', 'set', peer, 'name', ifname]);
    await this.ipIn(netns, ['link', 'set', ifname, 'address', vif.address]);
    for (const subnet of vif.network.subnets) {
      for (const fixed of subnet.ips) {
        if (fixed.address) await this.ipIn(netns, ['addr', 'add', `${fixed.address}/${prefixOf(subnet.cidr)}`, 'dev', ifname]);
      }
    }
    await this.ipIn(netns, ['link', 'set', 'lo', 'up']);
    await this.ipIn(netns, ['link', 'set', ifname, 'up']);
    for (const subnet of vif.network.subnets) {
      for (const r of subnet.routes) {
        if (r.gateway.address) await this.ipIn(netns, ['route', 'replace', r.cidr, 'via', r.gateway.address, 'dev', ifname]);
      }
      if (ifname === 'eth0' && subnet.gateway.address) {
        await this.ipIn(netns, ['route', 'replace', 'default', 'via', subnet.gateway.address, 'dev', ifname]);
      }
    }
  }
}

function describe(err: unknown): string {
  return err instanceof CommandFailed ? (err.missing ? `${err.file} not found` : err.stderr) : (err as Error).message;
}
