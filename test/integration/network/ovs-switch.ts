/**
 * A private Open vSwitch for tests: ovsdb-server and ovs-vswitchd on their own database, run
 * directory and socket under a temporary directory, inside a network namespace of their own,
 * so their bridges and ports never meet the host's (and, for ML2/OVN tests, OVN's databases,
 * ovn-northd and ovn-controller beside them). "Containers" are processes in namespaces
 * of their own. Everything the plugger runs goes through `exec`, which runs it in the switch's
 * namespace, so the plugger's code is the one the service runs.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostExec, type Exec } from '../../../src/network/host-links.js';

export const sh = (cmd: string, args: string[], env?: NodeJS.ProcessEnv): string =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env, timeout: 30_000 });

const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

/** Fails (never skips) when a program the test needs is missing, naming the Debian package. */
export function requirePrograms(): void {
  const needed: [string, string][] = [
    ['/usr/sbin/ovsdb-server', 'openvswitch-switch'], ['/usr/sbin/ovs-vswitchd', 'openvswitch-switch'], ['/usr/bin/ovs-vsctl', 'openvswitch-common'],
    ['/usr/bin/ovs-ofctl', 'openvswitch-common'], ['/usr/bin/ovsdb-tool', 'openvswitch-common'], [SCHEMA, 'openvswitch-common'], ['/usr/sbin/ethtool', 'ethtool'],
  ];
  const missing = needed.filter(([path]) => !existsSync(path));
  if (missing.length) {
    throw new Error(`missing ${missing.map(([p]) => p).join(', ')}: install the Debian packages openvswitch-switch and ethtool (apt-get install openvswitch-switch ethtool)`);
  }
}

/** The same for OVN's daemons and tools. */
export function requireOvnPrograms(): void {
  const needed: [string, string][] = [
    ['/usr/bin/ovn-northd', 'ovn-central'], ['/usr/share/ovn/ovn-nb.ovsschema', 'ovn-central'], ['/usr/share/ovn/ovn-sb.ovsschema', 'ovn-central'],
    ['/usr/bin/ovn-controller', 'ovn-host'], ['/usr/bin/ovn-nbctl', 'ovn-common'], ['/usr/bin/ovn-sbctl', 'ovn-common'],
  ];
  const missing = needed.filter(([path]) => !existsSync(path));
  if (missing.length) {
    throw new Error(`missing ${missing.map(([p]) => p).join(', ')}: install the Debian packages ovn-central and ovn-host (apt-get install ovn-central ovn-host)`);
  }
}

type Daemon = 'ovs-vswitchd' | 'ovsdb-server' | 'ovn-nb-db' | 'ovn-sb-db' | 'ovn-northd' | 'ovn-controller';

export class PrivateSwitch {
  readonly netns = `ovst-${randomBytes(4).toString('hex')}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'ovs-plug-test-'));
  readonly db = `unix:${join(this.dir, 'db.sock')}`;
  /** OVS_RUNDIR must be set for every ovs-vswitchd start, or it looks in /var/run/openvswitch. */
  private readonly env = { ...process.env, OVS_RUNDIR: this.dir, OVS_DBDIR: this.dir, OVS_LOGDIR: this.dir, OVN_RUNDIR: this.dir };
  readonly nbDb = `unix:${join(this.dir, 'ovnnb.sock')}`;
  readonly sbDb = `unix:${join(this.dir, 'ovnsb.sock')}`;
  /** Runs a program in the switch's namespace (the plugger's Exec in these tests). */
  readonly exec: Exec = (file, args, timeoutMs) => hostExec('ip', ['netns', 'exec', this.netns, file, ...args], timeoutMs);

  /** A namespace and database of its own, both daemons started. */
  start(): void {
    sh('ip', ['netns', 'add', this.netns]);
    sh('ip', ['-n', this.netns, 'link', 'set', 'lo', 'up']);
    this.createDatabase();
    this.startDatabase();
    this.startSwitch();
  }

  createDatabase(): void {
    rmSync(join(this.dir, 'conf.db'), { force: true });
    sh('ovsdb-tool', ['create', join(this.dir, 'conf.db'), SCHEMA]);
  }

  startDatabase(): void {
    this.inNs('ovsdb-server', [join(this.dir, 'conf.db'), `--remote=p${this.db}`, `--pidfile=${join(this.dir, 'ovsdb-server.pid')}`,
      `--unixctl=${join(this.dir, 'ovsdb-server.ctl')}`, '--detach', `--log-file=${join(this.dir, 'ovsdb-server.log')}`]);
    this.vsctl(['--no-wait', 'init']);
  }

  startSwitch(): void {
    this.inNs('ovs-vswitchd', [this.db, `--pidfile=${join(this.dir, 'ovs-vswitchd.pid')}`, '--detach', `--log-file=${join(this.dir, 'ovs-vswitchd.log')}`]);
  }

  /**
   * OVN on this switch, as a compute host of an ML2/OVN cloud has it: NB and SB databases,
   * ovn-northd, and ovn-controller whose chassis (`chassis`) makes br-int itself, netdev.
   */
  startOvn(chassis: string): void {
    for (const [name, schema, socket] of [['ovn-nb-db', 'ovn-nb', this.nbDb], ['ovn-sb-db', 'ovn-sb', this.sbDb]]) {
      sh('ovsdb-tool', ['create', join(this.dir, `${name}.db`), `/usr/share/ovn/${schema}.ovsschema`]);
      this.inNs('ovsdb-server', [join(this.dir, `${name}.db`), `--remote=p${socket}`, `--pidfile=${join(this.dir, `${name}.pid`)}`,
        `--unixctl=${join(this.dir, `${name}.ctl`)}`, '--detach', `--log-file=${join(this.dir, `${name}.log`)}`]);
    }
    this.inNs('ovn-northd', [`--ovnnb-db=${this.nbDb}`, `--ovnsb-db=${this.sbDb}`, `--pidfile=${join(this.dir, 'ovn-northd.pid')}`,
      `--unixctl=${join(this.dir, 'ovn-northd.ctl')}`, '--detach', `--log-file=${join(this.dir, 'ovn-northd.log')}`]);
    this.vsctl(['set', 'Open_vSwitch', '.', `external_ids:system-id=${chassis}`, `external_ids:ovn-remote=${this.sbDb}`,
      'external_ids:ovn-encap-type=geneve', 'external_ids:ovn-encap-ip=127.0.0.1', 'external_ids:ovn-bridge=br-int',
      'external_ids:ovn-bridge-datapath-type=netdev']);
    // (its control socket goes to OVN_RUNDIR: bookworm's ovn-controller has no --unixctl)
    this.inNs('ovn-controller', [this.db, `--pidfile=${join(this.dir, 'ovn-controller.pid')}`, '--detach', `--log-file=${join(this.dir, 'ovn-controller.log')}`]);
  }

  nbctl(args: string[]): string {
    return sh('ovn-nbctl', ['--timeout=20', `--db=${this.nbDb}`, ...args], this.env).trim();
  }

  /** SIGKILL, as a crash: nothing is cleaned up. */
  kill(daemon: Daemon): void {
    const pidFile = join(this.dir, `${daemon}.pid`);
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    for (let i = 0; i < 100 && alive(pid); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    rmSync(pidFile, { force: true });
  }

  /** A netdev bridge whose one flow is NORMAL (a plain learning switch). */
  addNetdevBridge(name: string): void {
    this.vsctl(['add-br', name, '--', 'set', 'Bridge', name, 'datapath_type=netdev']);
    this.ofctl(['del-flows', name]);
    this.ofctl(['add-flow', name, 'actions=NORMAL']);
  }

  vsctl(args: string[]): string {
    return sh('ovs-vsctl', ['--timeout=20', `--db=${this.db}`, ...args], this.env).trim();
  }

  ofctl(args: string[]): string {
    return sh('ovs-ofctl', args, this.env);
  }

  /** Columns of one Interface as `--format=json` gives them, or null when there is none. */
  iface(name: string, columns: string[]): unknown[] | null {
    const out = JSON.parse(this.vsctl(['--format=json', `--columns=${columns.join(',')}`, 'find', 'Interface', `name=${name}`])) as { data: unknown[][] };
    return out.data[0] ?? null;
  }

  ip(args: string[]): string {
    return sh('ip', ['-n', this.netns, ...args]);
  }

  linkExists(name: string): boolean {
    try { this.ip(['link', 'show', 'dev', name]); return true; } catch { return false; }
  }

  stop(): void {
    for (const d of ['ovn-controller', 'ovn-northd', 'ovn-nb-db', 'ovn-sb-db', 'ovs-vswitchd', 'ovsdb-server'] as const) this.kill(d);
    try { sh('ip', ['netns', 'del', this.netns]); } catch { /* not made */ }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private inNs(cmd: string, args: string[]): void {
    sh('ip', ['netns', 'exec', this.netns, cmd, ...args], this.env);
  }
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** A stand-in container: a process in a network namespace of its own (the plug target's pid). */
export class NetnsContainer {
  readonly netns = `ovsc-${randomBytes(4).toString('hex')}`;
  private proc: ChildProcess | null = null;

  start(): number {
    sh('ip', ['netns', 'add', this.netns]);
    this.proc = spawn('ip', ['netns', 'exec', this.netns, 'sleep', 'infinity'], { stdio: 'ignore' });
    return this.pid;
  }

  get pid(): number {
    if (!this.proc?.pid) throw new Error(`container ${this.netns} does not run`);
    return this.proc.pid; // ip netns exec execs the command: same pid
  }

  /** A restart: the namespace, and every interface in it, is gone, and a new empty one made. */
  restart(): number {
    this.stop();
    return this.start();
  }

  run(cmd: string, args: string[]): string {
    return sh('ip', ['netns', 'exec', this.netns, cmd, ...args]);
  }

  ping(address: string): boolean {
    try { this.run('ping', ['-c', '1', '-W', '2', address]); return true; } catch { return false; }
  }

  stop(): void {
    if (this.proc?.pid) {
      try { process.kill(this.proc.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    this.proc = null;
    try { sh('ip', ['netns', 'del', this.netns]); } catch { /* not made */ }
  }
}

/**
 * Sends `bytes` over TCP from `from` to `to`'s `address` and gives how many arrived, or an
 * Error when no connection was made within the timeout (the checksum pitfall: no handshake).
 */
export async function tcpTransfer(from: NetnsContainer, to: NetnsContainer, address: string, bytes: number, timeoutMs = 8000, port = 5201): Promise<number | Error> {
  const server = spawn('ip', ['netns', 'exec', to.netns, process.execPath, '-e', `
    const s = require('net').createServer((c) => { let n = 0; c.on('data', (d) => { n += d.length; }); c.on('end', () => { console.log(n); process.exit(0); }); });
    s.listen(${port}, '${address}', () => console.log('listening'));
    setTimeout(() => process.exit(2), ${timeoutMs + 2000});`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const done = new Promise<void>((resolve) => server.on('exit', () => resolve()));
  await new Promise<void>((resolve) => server.stdout?.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('listening')) resolve(); }));
  try {
    sh('ip', ['netns', 'exec', from.netns, process.execPath, '-e', `
      const c = require('net').connect(${port}, '${address}', () => { c.end(Buffer.alloc(${bytes}, 7)); });
      c.on('close', () => process.exit(0)); c.on('error', (e) => { console.error(e.message); process.exit(1); });
      setTimeout(() => { console.error('no connection'); process.exit(3); }, ${timeoutMs});`]);
  } catch (err) {
    server.kill('SIGKILL');
    await done;
    return new Error(`TCP ${address}: ${String((err as { stderr?: string }).stderr ?? err).trim()}`);
  }
  await done;
  return Number(out.replace('listening', '').trim());
}
