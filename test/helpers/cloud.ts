/**
 * The local cloud (devstack/local-cloud.sh) as tests see it: its openrc, the real
 * `openstack` CLI, and extra nova-container processes started from its config.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CLOUD_DIR } from './cloud-dir.js';
import { SERVING_MESSAGE } from '../../src/nova-driver/compute-service.js';

const run = promisify(execFile);

export { CLOUD_DIR };
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const COMPUTE_CONF = join(CLOUD_DIR, 'etc', 'nova-container.conf');

/** OS_* variables from the cloud's openrc (`export OS_X=...` lines). */
export function openrcEnv(rc: RcFile = 'openrc'): Record<string, string> {
  const text = readFileSync(join(CLOUD_DIR, rc), 'utf8');
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/^\s*export\s+([A-Z0-9_]+)=(.*)$/gm)) env[m[1]] = m[2].replace(/^["']|["']$/g, '');
  return env;
}

/**
 * The local cloud's credentials: `openrc` the admin's, `demorc` a member of project demo,
 * `movesrc` the admin in project moves, whose servers the compute hosts beyond the first take
 * (devstack/local-cloud.sh, devstack/lib/compute_hosts.sh).
 */
export type RcFile = 'openrc' | 'demorc' | 'movesrc';

/** Runs `openstack ARGS -f json` (or plain with json=false) as the cloud's admin (or the user of `rc`). */
export async function openstack<T = unknown>(args: string[], json = true, rc: RcFile = 'openrc'): Promise<T> {
  const { stdout } = await run('/usr/bin/openstack', json ? [...args, '-f', 'json'] : args, {
    env: { ...process.env, ...openrcEnv(rc) }, maxBuffer: 16 * 1024 * 1024, timeout: 120_000,
  });
  return (json ? JSON.parse(stdout) : stdout) as T;
}

/**
 * Runs one SQL statement in Nova's cell database of the local cloud, for a state no API makes
 * (the tests say which); its tab-separated rows.
 */
export async function novaCellSql(sql: string): Promise<string> {
  const { stdout } = await run('mariadb', [`--defaults-file=${join(CLOUD_DIR, 'etc', 'mysql', 'my.cnf')}`, '-uroot', '-N', '-B', 'nova', '-e', sql],
    { timeout: 30_000 });
  return stdout;
}

/** The value of `key` in `[section]` of an INI file (the last one, as oslo.config reads it). */
export function iniValue(file: string, section: string, key: string): string | undefined {
  let current = '';
  let found: string | undefined;
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    const h = /^\[(.+)\]$/.exec(line);
    if (h) { current = h[1]; continue; }
    const kv = /^([^#;=\s][^=]*?)\s*=\s*(.*)$/.exec(line);
    if (kv && current === section && kv[1] === key) found = kv[2].trim();
  }
  return found;
}

/** The value of `key` in `[section]` of the local cloud's compute config. */
export function computeConfValue(section: string, key: string): string | undefined {
  return iniValue(COMPUTE_CONF, section, key);
}

/** The ms `work` took to resolve (its rejection is thrown), or null if it had not settled after `limitMs`. */
export async function settlesWithin(work: Promise<unknown>, limitMs: number): Promise<number | null> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), limitMs); });
  try {
    return await Promise.race([work.then(() => Date.now() - t0), limit]);
  } finally {
    clearTimeout(timer);
  }
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs: number, everyMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface ComputeProcess {
  host: string;
  dir: string;
  logFile: string;
  child: ChildProcess;
  /**
   * Until this start has finished its start-up (recovery, VIF check, RPC server up) and logged
   * that it serves: its service record shows it up earlier, while it recovers.
   */
  serving(timeoutMs?: number): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts one more nova-container on the local cloud under its own host name and state dir,
 * with the cloud's config plus `extra` (INI text) on top.
 */
export function startCompute(host: string, extra = ''): ComputeProcess {
  const dir = join(REPO, 'test-artifacts', 'computes', host);
  mkdirSync(dir, { recursive: true });
  const override = join(dir, 'override.conf');
  if (!existsSync(override) || extra !== '') {
    // No /healthz of its own unless the test asks: the cloud's compute has that port.
    writeFileSync(override, `[DEFAULT]\nhost = ${host}\nstate_path = ${join(dir, 'state')}\n[container]\nhealth_listen =\n${extra.startsWith('[') ? extra : `[DEFAULT]\n${extra}`}`);
  }
  const logFile = join(dir, 'nova-container.log');
  // the log is appended to across starts: this start's lines are those after this offset
  const logStart = existsSync(logFile) ? statSync(logFile).size : 0;
  const out = openSync(logFile, 'a');
  const child = spawn(process.execPath, [join(REPO, 'dist/src/cli.js'), '--config-file', COMPUTE_CONF, '--config-file', override],
    { stdio: ['ignore', out, out] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    host, dir, logFile, child,
    async serving(timeoutMs = 90_000) {
      for (const deadline = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 200))) {
        if (readFileSync(logFile).subarray(logStart).toString('utf8').includes(SERVING_MESSAGE)) return;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${host} exited during start-up; see ${logFile}`);
        if (Date.now() > deadline) throw new Error(`${host} did not log that it serves within ${timeoutMs} ms; see ${logFile}`);
      }
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export function removeComputeDir(host: string): void {
  rmSync(join(REPO, 'test-artifacts', 'computes', host), { recursive: true, force: true });
}

/** The root the control plane's packages run from (devstack/lib/release.sh): a chroot for 2025.1, '' for zed. */
export const RELEASE_ROOT = existsSync(join(CLOUD_DIR, 'root', 'usr', 'bin')) ? join(CLOUD_DIR, 'root') : '';

/**
 * One of the control plane's commands (nova-manage, nova-status, ...) as the cloud's release
 * has it; its output, also when it exits with one of `okExits` besides 0.
 */
export async function inRelease(cmd: string, args: string[], { timeout = 120_000, okExits = [] as number[] } = {}): Promise<string> {
  try {
    const { stdout } = RELEASE_ROOT ? await run('chroot', [RELEASE_ROOT, cmd, ...args], { timeout, maxBuffer: 8 * 1024 * 1024 })
      : await run(cmd, args, { timeout, maxBuffer: 8 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string };
    if (typeof e.code === 'number' && okExits.includes(e.code) && typeof e.stdout === 'string') return e.stdout;
    throw err;
  }
}

/** The Nova control plane's config files (the database URLs included). */
export function novaControlConfig(): string[] {
  const etc = join(CLOUD_DIR, 'etc', 'nova');
  return ['--config-file', join(etc, 'nova.conf'), '--config-file', join(etc, 'nova-db.conf')];
}

/** Maps newly registered compute hosts into cell1, as an operator does after adding a host. */
export async function discoverHosts(): Promise<void> {
  await inRelease('/usr/bin/nova-manage', [...novaControlConfig(), 'cell_v2', 'discover_hosts']);
}

/** A setting the cloud's directory keeps (save_settings in devstack/lib/common.sh). */
export function cloudSetting(name: string): string | undefined {
  const file = join(CLOUD_DIR, 'settings');
  return existsSync(file) ? new RegExp(`^${name}=(.*)$`, 'm').exec(readFileSync(file, 'utf8'))?.[1] : undefined;
}

/** Whether something accepts connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

/** Whether the daemon `name` the cloud started (its pid file, devstack/lib/common.sh) is alive. */
function daemonAlive(name: string): boolean {
  try {
    process.kill(Number(readFileSync(join(CLOUD_DIR, 'run', `${name}.pid`), 'utf8').trim()), 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Heat or Horizon (on by default) up for a test: `PART=yes local-cloud.sh up` unless the cloud
 * already runs it (on in its settings, its daemons alive, its port answering), since an `up`
 * checks every service (about 15 s) even when nothing changes. The `up`'s output; null when
 * none was needed.
 */
export async function ensureCloudPart(part: 'HEAT' | 'HORIZON', daemons: string[], port: number): Promise<string | null> {
  if (cloudSetting(part) === 'yes' && daemons.every(daemonAlive) && await listening(port)) return null;
  const { stdout, stderr } = await run(join(REPO, 'devstack', 'local-cloud.sh'), ['up'], {
    env: { ...process.env, LOCAL_CLOUD_DIR: CLOUD_DIR, [part]: 'yes' }, timeout: 900_000, maxBuffer: 64 * 1024 * 1024,
  });
  return stdout + stderr;
}

/**
 * Compute host `n` >= 2 of the cloud (devstack/lib/compute_hosts.sh): its name, network
 * namespace and engine socket.
 */
export interface ExtraHost {
  name: string;
  netns: string;
  engineSocket: string;
  /** Its Open vSwitch's database on an ML2/OVN cloud (unix:<path>), else undefined. */
  ovsdb?: string;
  /** Where its /healthz and /metrics listen, in its namespace ([container] health_listen; empty: off). */
  healthListen: string;
}
export function extraHost(n: number): ExtraHost {
  const conf = join(CLOUD_DIR, 'etc', `host${n}`, 'nova-container.conf');
  const name = iniValue(conf, 'DEFAULT', 'host');
  const engineSocket = iniValue(conf, 'container', 'engine_socket');
  if (!name || !engineSocket) throw new Error(`${conf} names no host or engine socket`);
  return { name, netns: `nc-host${n}`, engineSocket, ovsdb: iniValue(conf, 'os_vif_ovs', 'ovsdb_connection'), healthListen: iniValue(conf, 'container', 'health_listen') ?? '' };
}

/** The cloud with `count` compute hosts: `COMPUTE_HOSTS=count local-cloud.sh up` unless it has them running. */
export async function ensureComputeHosts(count: number): Promise<void> {
  const daemons = Array.from({ length: count - 1 }, (_, i) => `nova-container-${i + 2}`);
  if (Number(cloudSetting('COMPUTE_HOSTS') ?? '1') >= count && daemons.every(daemonAlive)) return;
  await run(join(REPO, 'devstack', 'local-cloud.sh'), ['up'], {
    env: { ...process.env, LOCAL_CLOUD_DIR: CLOUD_DIR, COMPUTE_HOSTS: String(count) }, timeout: 900_000, maxBuffer: 64 * 1024 * 1024,
  });
}

/** devstack/local-cloud.sh ARGS on this cloud (the one the tests address); its output. */
export async function localCloud(args: string | string[], timeout = 600_000): Promise<string> {
  const { stdout, stderr } = await run(join(REPO, 'devstack', 'local-cloud.sh'), typeof args === 'string' ? [args] : args,
    { env: { ...process.env, LOCAL_CLOUD_DIR: CLOUD_DIR }, timeout, maxBuffer: 16 * 1024 * 1024 });
  return stdout + stderr;
}

/** A waitFor condition: process `pid` has exited (gone, or a zombie). */
const gone = (pid: number) => async () => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] === 'Z';

/**
 * Stops daemons of the cloud as `down` does (devstack/lib/common.sh stop_daemon): SIGTERM to the
 * process group its pid file names, SIGKILL to the group if it has not exited after 30 s; `up`
 * starts them again.
 */
export async function stopCloudDaemons(names: string[]): Promise<void> {
  for (const name of names) {
    const pid = Number(readFileSync(join(CLOUD_DIR, 'run', `${name}.pid`), 'utf8').trim());
    try { process.kill(-pid, 'SIGTERM'); } catch { continue; } // not running
    try {
      await waitFor(`${name} (pid ${pid}) to exit`, gone(pid), 30_000, 200);
    } catch {
      try { process.kill(-pid, 'SIGKILL'); } catch { /* exited meanwhile */ }
      await waitFor(`${name} (pid ${pid}) to exit after SIGKILL`, gone(pid), 10_000, 200);
    }
  }
}

/** Kills daemons of the cloud as a crash would: SIGKILL to the process group its pid file names; `up` starts them again. */
export async function killCloudDaemons(names: string[]): Promise<void> {
  for (const name of names) {
    const pid = Number(readFileSync(join(CLOUD_DIR, 'run', `${name}.pid`), 'utf8').trim());
    try { process.kill(-pid, 'SIGKILL'); } catch { continue; } // not running
    await waitFor(`${name} (pid ${pid}) to die`, gone(pid), 10_000, 100);
  }
}

/**
 * The `openstack` CLI of the cloud's release (trixie's in the 2025.1 chroot, which sends
 * microversions bookworm's cannot), as `rc`'s user; its output.
 */
export async function releaseOpenstack(args: string[], rc: RcFile = 'openrc'): Promise<string> {
  const cmd = RELEASE_ROOT ? ['chroot', [RELEASE_ROOT, 'openstack', ...args]] as const : ['/usr/bin/openstack', args] as const;
  const { stdout } = await run(cmd[0], [...cmd[1]], { env: { ...process.env, ...openrcEnv(rc) }, maxBuffer: 16 * 1024 * 1024, timeout: 120_000 });
  return stdout;
}

export interface ComputeServiceRow { ID: string | number; Binary: string; Host: string; Status: string; State: string }

/** The nova-compute service record of `host` in `openstack compute service list`. */
export async function computeServiceRow(host: string): Promise<ComputeServiceRow | undefined> {
  return (await openstack<ComputeServiceRow[]>(['compute', 'service', 'list', '--service', 'nova-compute'])).find((r) => r.Host === host);
}

