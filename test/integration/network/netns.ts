/** Looking into a container server's network namespace and the network's DHCP namespace with the host's tools. */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { inspectContainer } from '../../helpers/servers.js';

const run = promisify(execFile);

export async function pidOf(serverId: string): Promise<number> {
  const c = await inspectContainer(serverId);
  assert.ok(c?.State.Pid, `container of ${serverId} runs`);
  return c.State.Pid;
}

/** Runs a command in a process's network namespace. */
export async function inNetns(pid: number, cmd: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await run('nsenter', ['-t', String(pid), '-n', ...cmd], { timeout: 15_000 });
    return { ok: true, out: r.stdout };
  } catch (err) {
    return { ok: false, out: String((err as { stdout?: string }).stdout ?? err) };
  }
}

export async function waitForAddr(pid: number, dev: string, want: RegExp): Promise<string> {
  for (let i = 0; i < 60; i++) {
    const r = await inNetns(pid, ['ip', 'addr', 'show', 'dev', dev]);
    if (r.ok && want.test(r.out)) return r.out;
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error(`${dev} with ${want} never appeared in the container`);
}

export async function waitForGoneLink(pid: number, dev: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if (!(await inNetns(pid, ['ip', 'link', 'show', 'dev', dev])).ok) return;
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error(`${dev} is still in the container`);
}

/** Whether `ip` answers pings from the namespace of `pid` within 10 s (the first reply ends it, as in pingFromDhcp). */
export async function pings(pid: number, ip: string): Promise<boolean> {
  return (await inNetns(pid, ['ping', '-c', '1', '-w', '10', ip])).ok;
}

/** Whether `ip` answers pings from the network's DHCP namespace (qdhcp-<network id>) within `waitSeconds`. */
export async function pingFromDhcp(networkId: string, ip: string, waitSeconds = 10): Promise<boolean> {
  // one echo a second until the first reply or the deadline: a lost first probe (ARP, the
  // agent's rules for the port still going in on a loaded host) is not an unreachable server
  return run('ip', ['netns', 'exec', `qdhcp-${networkId}`, 'ping', '-c', '1', '-w', String(waitSeconds), ip]).then(() => true, () => false);
}
