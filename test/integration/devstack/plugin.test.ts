/**
 * The devstack plugin (devstack/settings, devstack/plugin.sh) run phase by phase with bash, the
 * way stack.sh, unstack.sh and clean.sh source it, against a devstack-like layout in a temp
 * directory: DEST/, a nova.conf written the way devstack writes it (Keystone without /v3,
 * `interface = public`, user nova, [service_user], database URLs) but pointing at the local
 * cloud (its broker, Keystone and databases on 127.0.0.1, real credentials from its configs),
 * and a stand-in for the devstack functions the plugin calls, written for this test.
 *
 * The service the plugin starts is the real one, under host name `plugin-test`, on the local
 * cloud's existing Docker socket (never restarted or reconfigured: the plugin's dockerd config
 * goes to a temp daemon.json and its systemctl calls are recorded), with the capability
 * bounding set of etc/systemd/nova-container.service. Node.js's installation is exercised
 * against a tarball served on 127.0.0.1. Nothing leaves the machine.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLOUD_DIR, REPO, cloudSetting, iniValue, waitFor } from '../../helpers/cloud.js';
import { computeService, forgetComputeHost, providerInventory, providersNamed } from '../../helpers/rest.js';

const run = promisify(execFile);

const HOST = 'plugin-test';
/** Whether the cloud's services declare quorum queues (devstack/lib/common.sh messaging_options). */
const QUORUM = iniValue(join(CLOUD_DIR, 'etc', 'nova', 'nova.conf'), 'oslo_messaging_rabbit', 'rabbit_quorum_queue') ?? 'false';
const UNIT = join(REPO, 'etc', 'systemd', 'nova-container.service');
const DOCKER_SOCKET = join(CLOUD_DIR, 'docker', 'docker.sock');

interface Ran { code: number; stdout: string; stderr: string }

function requireSetting(name: string): string {
  const v = cloudSetting(name);
  if (v === undefined) throw new Error(`${name} is not in ${CLOUD_DIR}/settings`);
  return v;
}

/** Every section of an INI file with its keys (the last value of a key wins). */
function iniSections(file: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    const h = /^\[(.+)\]$/.exec(line);
    if (h) { current = out.get(h[1]) ?? new Map(); out.set(h[1], current); continue; }
    const kv = /^([^#;=\s][^=]*?)\s*=\s*(.*)$/.exec(line);
    if (kv && current) current.set(kv[1], kv[2]);
  }
  return out;
}

/** CapabilityBoundingSet= of the unit, as setpriv's --bounding-set list (net_admin,...). */
function unitCapabilities(): string[] {
  const m = /^CapabilityBoundingSet=(.*)$/m.exec(readFileSync(UNIT, 'utf8'));
  assert.ok(m, `no CapabilityBoundingSet in ${UNIT}`);
  return m[1].trim().split(/\s+/).map((c) => c.replace(/^CAP_/, '').toLowerCase());
}

/** One call to the local cloud's Docker Engine API (its unix socket). */
function engine(method: string, path: string, body?: Buffer, contentType = 'application/json'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = body ? { 'Content-Type': contentType, 'Content-Length': body.length } : {};
    const req = request({ socketPath: DOCKER_SOCKET, path, method, headers }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

async function freePort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Stand-ins for devstack's functions (see the file's header). */
const SHIM = join(REPO, 'test', 'integration', 'devstack', 'devstack-shim.sh');

describe('devstack plugin: phases against a devstack-like layout and the local cloud', function () {
  this.timeout(600_000);
  const t0 = Date.now();
  let tmp = '';
  let dest = '';
  let checkout = '';
  let novaConf = '';
  let ncConf = '';
  let calls = '';
  let healthPort = 0;
  const timings: string[] = [];

  const transportUrl = iniValue(join(CLOUD_DIR, 'etc', 'nova', 'nova.conf'), 'DEFAULT', 'transport_url');
  const keystone = `http://127.0.0.1:${requireSetting('KEYSTONE_PORT')}`;
  const servicePassword = requireSetting('SERVICE_PASSWORD');

  /** Sources the shim, the localrc, the plugin's settings and plugin.sh ARGS in one bash. */
  async function plugin(args: string[], env: Record<string, string> = {}): Promise<Ran> {
    const script = 'set -o errexit; source "$SHIM"; source "$LOCALRC"; source "$PLUGIN/settings"; '
      + 'source "$PLUGIN/plugin.sh" "$@"; [[ -z ${SHOW_VARS:-} ]] || declare -p ENABLED_SERVICES NOVA_CONTAINER_DIR NOVA_CONTAINER_CONF NOVA_CONTAINER_NODE';
    const started = Date.now();
    try {
      const r = await run('bash', ['-c', script, 'stack.sh', ...args], {
        env: { ...process.env, SHIM, LOCALRC: join(tmp, 'localrc'), PLUGIN: join(checkout, 'devstack'), ...env },
        timeout: 300_000, maxBuffer: 32 * 1024 * 1024,
      });
      timings.push(`${args.join(' ')}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  function ok(r: Ran, what: string): void {
    assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  }

  function recorded(): string[] {
    return existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').filter(Boolean) : [];
  }



  function servicePid(): number | undefined {
    const file = join(dest, 'status', 'n-ctr.pid');
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, 'utf8').trim());
    try { process.kill(pid, 0); return pid; } catch { return undefined; }
  }

  before(async () => {
    assert.ok(transportUrl, 'the local cloud has a transport_url');
    await forgetComputeHost(HOST);
    tmp = mkdtempSync(join(tmpdir(), 'nc-devstack-'));
    dest = join(tmp, 'stack');
    checkout = join(dest, 'nova-container');
    novaConf = join(tmp, 'etc', 'nova', 'nova.conf');
    ncConf = join(tmp, 'etc', 'nova', 'nova-container.conf');
    calls = join(tmp, 'calls.log');
    healthPort = await freePort();
    mkdirSync(join(dest, 'data'), { recursive: true });
    mkdirSync(join(tmp, 'etc', 'nova'), { recursive: true });
    // DEST/nova-container as devstack clones it: the working tree's sources, no dist/; the
    // installed node_modules is linked in (npm ci would need the registry)
    for (const entry of ['src', 'test', 'bench', 'devstack', 'etc', 'package.json', 'package-lock.json', 'tsconfig.json']) {
      cpSync(join(REPO, entry), join(checkout, entry), { recursive: true });
    }
    symlinkSync(join(REPO, 'node_modules'), join(checkout, 'node_modules'));

    // nova.conf as devstack writes it (create_nova_conf, configure_keystoneauth,
    // init_nova_service_user_conf, configure_keystone_authtoken_middleware), with the local
    // cloud's broker, Keystone and databases
    const db = join(CLOUD_DIR, 'etc', 'nova', 'nova-db.conf');
    const auth = (user: string): string => `auth_type = password\ninterface = public\nauth_url = ${keystone}\nusername = ${user}\n`
      + `password = ${servicePassword}\nuser_domain_name = Default\nproject_name = service\nproject_domain_name = Default\n`;
    writeFileSync(novaConf, `[DEFAULT]
debug = False
transport_url = ${transportUrl}
my_ip = 127.0.0.1
report_interval = 5
state_path = ${join(dest, 'data', 'nova')}

[database]
connection = ${iniValue(db, 'database', 'connection')}

[api_database]
connection = ${iniValue(db, 'api_database', 'connection')}

[keystone_authtoken]
${auth('nova')}
[placement]
${auth('nova')}region_name = RegionOne

[neutron]
${auth('nova')}region_name = RegionOne

[service_user]
send_service_user_token = True
${auth('nova')}auth_strategy = keystone

[glance]
api_servers = http://127.0.0.1:9292

[oslo_messaging_rabbit]
# the cloud's queue type (quorum on 2025.1): the plugin must hand it on, or the broker refuses us
rabbit_quorum_queue = ${QUORUM}
heartbeat_timeout_threshold = 30
`);
    // devstack's own variables (stackrc, lib/*) and the plugin's settings as local.conf would set them
    writeFileSync(join(tmp, 'localrc'), `
DEST=${dest}
DATA_DIR=${join(dest, 'data')}
SERVICE_DIR=${join(dest, 'status')}
SERVICE_LOG_DIR=${join(dest, 'logs')}
SHIM_CALLS=${calls}
STACK_USER=root
NOVA_CONF_DIR=${join(tmp, 'etc', 'nova')}
NOVA_CONF=${novaConf}
NOVA_BIN_DIR=/usr/bin
CELLSV2_SETUP=\${CELLSV2_SETUP:-singleconductor}
KEYSTONE_SERVICE_URI=${keystone}
SERVICE_PASSWORD=${servicePassword}
SERVICE_PROJECT_NAME=service
SERVICE_DOMAIN_NAME=Default
REGION_NAME=RegionOne
HOST_IP=127.0.0.1
Q_AGENT=linuxbridge
VIF_PLUGGING_IS_FATAL=True
VIF_PLUGGING_TIMEOUT=300
ENABLE_DEBUG_LOG_LEVEL=False
ENABLED_SERVICES=key,n-api,n-cpu,n-cond,n-sch,placement-api,placement-client,g-api,q-svc,q-agt,q-dhcp\${EXTRA_SERVICES:-}
NOVA_CONTAINER_HOST=${HOST}
NOVA_CONTAINER_DOCKER_SOCKET=${DOCKER_SOCKET}
NOVA_CONTAINER_DOCKERD_CONFIG=${join(tmp, 'etc', 'docker', 'daemon.json')}
NOVA_CONTAINER_HEALTH_LISTEN=127.0.0.1:${healthPort}
NOVA_CONTAINER_REGISTER_TIMEOUT=90
RUN_PROCESS_CAPS=${unitCapabilities().map((c) => `+${c}`).join(',')}
RUN_PROCESS_OWNER=${process.pid}
`);
  });

  after(async () => {
    const pid = servicePid();
    if (pid) process.kill(pid, 'SIGKILL');
    try {
      await forgetComputeHost(HOST);
    } finally {
      if (tmp) rmSync(tmp, { recursive: true, force: true });
      process.stdout.write(`      timings: ${timings.join('; ')}; all ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }
  });

  it('settings: n-ctr enabled in place of n-cpu, NOVA_CONTAINER_DIR is the checkout', async () => {
    const r = await plugin(['source'], { SHOW_VARS: '1' });
    ok(r, 'settings');
    const services = /ENABLED_SERVICES="([^"]*)"/.exec(r.stdout)?.[1].split(',') ?? [];
    assert.ok(services.includes('n-ctr'), services.join(','));
    assert.ok(!services.includes('n-cpu'), services.join(','));
    assert.ok(services.includes('n-cond') && services.includes('q-agt'), 'the rest stays enabled');
    assert.match(r.stdout, new RegExp(`NOVA_CONTAINER_DIR="${checkout}"`));
    assert.match(r.stdout, new RegExp(`NOVA_CONTAINER_CONF="${join(tmp, 'etc', 'nova', 'nova-container.conf')}"`));
    assert.ok(recorded().includes('define_plugin nova-container'));
  });

  it('stack pre-install: an existing Node.js 20 and the tools are used as they are', async () => {
    const r = await plugin(['stack', 'pre-install']);
    ok(r, 'pre-install');
    assert.match(r.stdout, /Node\.js v2\d\.\d+\.\d+ found/);
    assert.deepEqual(recorded().filter((l) => l.startsWith('install_package')), [], 'dockerd, ip and nsenter are installed');
  });

  describe('stack pre-install without Node.js 20: the release tarball, checked and unpacked', () => {
    let server: Server;
    let base = '';
    const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
    const name = `node-v20.99.1-linux-${arch}`;
    let tarball: Buffer;
    let sums = '';

    before(async () => {
      const stage = join(tmp, 'node-dist');
      mkdirSync(join(stage, name, 'bin'), { recursive: true });
      writeFileSync(join(stage, name, 'bin', 'node'), '#!/bin/sh\necho v20.99.1\n');
      chmodSync(join(stage, name, 'bin', 'node'), 0o755);
      await run('tar', ['-cJf', join(stage, `${name}.tar.xz`), '-C', stage, name]);
      tarball = readFileSync(join(stage, `${name}.tar.xz`));
      const sha = createHash('sha256').update(tarball).digest('hex');
      // other files as in a real SHASUMS256.txt, the one wanted among them
      sums = `${'0'.repeat(64)}  node-v20.99.1-darwin-arm64.tar.gz\n${'1'.repeat(64)}  ${name}.tar.gz\n${sha}  ${name}.tar.xz\n`;
      server = createServer((req, res) => {
        if (req.url === '/dist/SHASUMS256.txt') { res.end(sums); return; }
        if (req.url === `/dist/${name}.tar.xz`) { res.end(tarball); return; }
        res.statusCode = 404;
        res.end();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dist`;
    });

    after(async () => { await new Promise<void>((r) => server.close(() => r())); });

    it('installs node under NOVA_CONTAINER_NODE_PREFIX and links it into its bin/', async () => {
      const prefix = join(tmp, 'node-prefix');
      const r = await plugin(['stack', 'pre-install'], {
        NOVA_CONTAINER_NODE: join(tmp, 'no-such-node'), NOVA_CONTAINER_NODE_PREFIX: prefix, NOVA_CONTAINER_NODE_DIST_URL: base, SHOW_VARS: '1',
      });
      ok(r, 'pre-install with node missing');
      assert.match(r.stdout, new RegExp(`Node\\.js v20\\.99\\.1 installed in ${join(prefix, 'lib', 'nodejs', name)}`));
      assert.match(r.stdout, new RegExp(`NOVA_CONTAINER_NODE="${join(prefix, 'bin', 'node')}"`));
      const { stdout } = await run(join(prefix, 'bin', 'node'), ['--version']);
      assert.equal(stdout.trim(), 'v20.99.1');
    });

    it('refuses a tarball whose checksum does not match', async () => {
      sums = sums.replace(/^[0-9a-f]{64}(?=  node-v20\.99\.1-linux-\w+\.tar\.xz$)/m, 'f'.repeat(64));
      const prefix = join(tmp, 'node-prefix-bad');
      const r = await plugin(['stack', 'pre-install'], {
        NOVA_CONTAINER_NODE: join(tmp, 'no-such-node'), NOVA_CONTAINER_NODE_PREFIX: prefix, NOVA_CONTAINER_NODE_DIST_URL: base,
      });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /does not match its SHA-256/);
      assert.ok(!existsSync(join(prefix, 'bin', 'node')));
    });
  });

  it('stack install: builds the checkout (tsc into dist/), and a second run has nothing to do', async () => {
    assert.ok(!existsSync(join(checkout, 'dist')));
    const r = await plugin(['stack', 'install']);
    ok(r, 'install');
    assert.match(r.stderr, /compiling nova-container \(tsc\)/);
    const { stdout } = await run(process.execPath, [join(checkout, 'dist', 'src', 'cli.js'), '--version']);
    assert.match(stdout, /^nova-container \d+\.\d+\.\d+/);
    const again = await plugin(['stack', 'install']);
    ok(again, 'install again');
    assert.doesNotMatch(again.stderr, /compiling/);
  });

  it('stack post-config: dockerd gets live-restore; nova-container.conf from nova.conf, no database URL', async () => {
    const r = await plugin(['stack', 'post-config']);
    ok(r, 'post-config');
    const daemonJson = JSON.parse(readFileSync(join(tmp, 'etc', 'docker', 'daemon.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(daemonJson, { 'live-restore': true });
    const systemctl = recorded().filter((l) => l.startsWith('systemctl'));
    assert.deepEqual(systemctl, ['systemctl enable docker.service', 'systemctl restart docker.service']);

    assert.equal(statSync(ncConf).mode & 0o777, 0o600);
    const conf = iniSections(ncConf);
    assert.deepEqual([...conf.keys()], ['DEFAULT', 'placement', 'glance', 'neutron', 'filter_scheduler', 'container', 'oslo_messaging_rabbit'].filter((s) => conf.has(s)));
    assert.ok(!readFileSync(ncConf, 'utf8').includes('connection'), 'no database URL');
    assert.deepEqual(Object.fromEntries(conf.get('oslo_messaging_rabbit') ?? []),
      { rabbit_quorum_queue: QUORUM, heartbeat_timeout_threshold: '30' }, 'the cell\'s whole [oslo_messaging_rabbit]');
    const d = conf.get('DEFAULT')!;
    assert.equal(d.get('transport_url'), transportUrl);
    assert.equal(d.get('host'), HOST);
    assert.equal(d.get('my_ip'), '127.0.0.1');
    assert.equal(d.get('report_interval'), '5');
    assert.equal(d.get('state_path'), join(dest, 'data', 'nova-container'));
    assert.equal(d.get('vif_plugging_is_fatal'), 'True');
    assert.equal(d.get('vif_plugging_timeout'), '300');
    for (const s of ['placement', 'glance', 'neutron']) {
      const a = conf.get(s)!;
      assert.equal(a.get('auth_url'), keystone, `[${s}] auth_url as devstack writes it (no /v3)`);
      assert.equal(a.get('username'), 'nova');
      assert.equal(a.get('password'), servicePassword);
      assert.equal(a.get('project_name'), 'service');
      assert.equal(a.get('valid_interfaces'), 'public', `[${s}] devstack's interface = public`);
      assert.equal(a.get('region_name'), 'RegionOne');
    }
    assert.equal(conf.get('filter_scheduler')!.get('track_instance_changes'), 'true');
    assert.equal(conf.get('container')!.get('engine_socket'), `unix://${DOCKER_SOCKET}`);
    assert.equal(conf.get('container')!.get('health_listen'), `127.0.0.1:${healthPort}`);
    assert.equal(conf.get('container')!.get('enforce_root_disk'), 'True', 'NOVA_CONTAINER_ENFORCE_ROOT_DISK\'s default');

    // a second post-config leaves an unchanged daemon.json alone: no restart of docker
    const before = recorded().length;
    ok(await plugin(['stack', 'post-config']), 'post-config again');
    assert.deepEqual(recorded().slice(before).filter((l) => l.startsWith('systemctl')),
      ['systemctl enable docker.service', 'systemctl start docker.service']);
  });

  it('stack post-config with n-sproxy: the serial console on, through the proxy\'s port; what nova.conf sets itself wins', async () => {
    const top = readFileSync(novaConf, 'utf8');
    try {
      writeFileSync(novaConf, `${top}\n[serial_console]\nserialproxy_port = 16083\n`);
      ok(await plugin(['stack', 'post-config'], { EXTRA_SERVICES: ',n-sproxy' }), 'post-config (n-sproxy)');
      assert.deepEqual(Object.fromEntries(iniSections(ncConf).get('serial_console') ?? []),
        { enabled: 'true', base_url: 'ws://127.0.0.1:16083/', proxyclient_address: '127.0.0.1' });
      writeFileSync(novaConf, `${top}\n[serial_console]\nserialproxy_port = 16083\nbase_url = ws://console.example:6083/\nport_range = 12000:12100\n`);
      ok(await plugin(['stack', 'post-config'], { EXTRA_SERVICES: ',n-sproxy' }), 'post-config (n-sproxy, nova.conf\'s own)');
      assert.deepEqual(Object.fromEntries(iniSections(ncConf).get('serial_console') ?? []),
        { enabled: 'true', port_range: '12000:12100', base_url: 'ws://console.example:6083/', proxyclient_address: '127.0.0.1' });
    } finally {
      writeFileSync(novaConf, top);
      ok(await plugin(['stack', 'post-config']), 'post-config (without n-sproxy)');
    }
    assert.equal(iniSections(ncConf).has('serial_console'), false, 'no serial console without n-sproxy');
  });

  it('stack post-config with CELLSV2_SETUP=superconductor: the cell\'s broker, no scheduler RPC', async () => {
    const cellConf = join(tmp, 'etc', 'nova', 'nova_cell1.conf');
    writeFileSync(cellConf, `[DEFAULT]\ntransport_url = ${transportUrl}\n`);
    const top = readFileSync(novaConf, 'utf8');
    writeFileSync(novaConf, top.replace(/^transport_url = .*$/m, 'transport_url = rabbit://top:level@127.0.0.1:5672/'));
    try {
      ok(await plugin(['stack', 'post-config'], { CELLSV2_SETUP: 'superconductor' }), 'post-config (superconductor)');
      assert.equal(iniValue(ncConf, 'DEFAULT', 'transport_url'), transportUrl, 'nova_cell1.conf\'s broker, not the top one');
      assert.equal(iniValue(ncConf, 'filter_scheduler', 'track_instance_changes'), 'false');
    } finally {
      writeFileSync(novaConf, top);
      rmSync(cellConf);
      ok(await plugin(['stack', 'post-config']), 'post-config (back to singleconductor)');
    }
  });

  it('stack extra: the real service starts as root with the unit\'s capabilities, registers and is mapped to cell1', async () => {
    // What local.conf's [[post-config|$NOVA_CONTAINER_CONF]] does (stack.sh merges it with
    // iniset after post-config): no capacity to offer, so that the scheduler never gives this
    // short-lived host a server of another test running on the cloud at the same time
    await run('bash', ['-c', 'source "$SHIM"; iniset "$1" container reserved_host_memory_mb 2147483647; iniset "$1" container reserved_host_cpus 65535',
      'merge', ncConf], { env: { ...process.env, SHIM } });
    const r = await plugin(['stack', 'extra']);
    ok(r, 'extra');
    assert.ok(recorded().includes('run_process n-ctr user=root group='), recorded().join('\n'));
    assert.ok(recorded().some((l) => l.startsWith(`sudo curl -s --max-time 2 --unix-socket ${DOCKER_SOCKET} http://localhost/_ping`)),
      'the engine\'s socket is root\'s: reached with sudo');
    assert.match(r.stdout, new RegExp(`compute host ${HOST} is mapped to a cell`));
    const pid = servicePid();
    assert.ok(pid, 'the service runs');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '), /dist\/src\/cli\.js --config-file /);
    // CAP_CHOWN 0, CAP_NET_ADMIN 12, CAP_SYS_PTRACE 19, CAP_SYS_ADMIN 21
    assert.equal(/^CapBnd:\s*(\w+)$/m.exec(status)?.[1], (2 ** 0 + 2 ** 12 + 2 ** 19 + 2 ** 21).toString(16).padStart(16, '0'));
    assert.equal(/^NoNewPrivs:\s*(\d)$/m.exec(status)?.[1], '1');

    const row = await waitFor('the host up in the API', async () => {
      const s = await computeService(HOST);
      return s?.state === 'up' ? s : undefined;
    }, 60_000, 1000);
    assert.equal(row.status, 'enabled');
    const [rp] = await providersNamed(HOST);
    const inventory = await providerInventory(rp.uuid);
    for (const rc of ['VCPU', 'MEMORY_MB']) {
      const inv = inventory[rc];
      assert.ok(inv && inv.reserved === inv.total, `${rc} all reserved: ${JSON.stringify(inv)}`);
    }
    const health = await waitFor('/healthz 200', async () => {
      const res = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
      return res.status === 200 ? (await res.json()) as { checks: Record<string, { ok: boolean }> } : undefined;
    }, 30_000);
    assert.equal(health.checks.engine?.ok, true, 'the engine answers through the shared socket');
    const { stdout } = await run('/usr/bin/nova-manage', ['--config-file', novaConf, 'cell_v2', 'list_hosts'], { timeout: 120_000 });
    assert.match(stdout, new RegExp(`\\|\\s*${HOST}\\s*\\|`));
  });

  it('unstack: stops the service', async () => {
    const pid = servicePid();
    assert.ok(pid);
    ok(await plugin(['unstack']), 'unstack');
    assert.ok(recorded().includes('stop_process n-ctr'));
    assert.equal(servicePid(), undefined);
    assert.throws(() => process.kill(pid, 0), 'the process exited');
    const log = readFileSync(join(dest, 'logs', 'n-ctr.log'), 'utf8');
    assert.match(log, /"msg":"stopping"/);
  });

  it('clean: removes the containers of its host, its config and state', async () => {
    assert.ok(existsSync(join(dest, 'data', 'nova-container', 'compute_id')), 'the service kept its node uuid');
    // a container labelled as one of this host's instances (created, never started), from an
    // image of the test's own, so that no other test's image is held
    const tag = `t${Date.now().toString(36)}`;
    const image = `nc-plugin-test-clean:${tag}`;
    const rootfs = join(tmp, 'rootfs');
    mkdirSync(rootfs, { recursive: true });
    writeFileSync(join(rootfs, 'hello'), 'hello\n');
    await run('tar', ['-cf', join(tmp, 'rootfs.tar'), '-C', rootfs, 'hello']);
    const imported = await engine('POST', `/images/create?fromSrc=-&repo=nc-plugin-test-clean&tag=${tag}`, readFileSync(join(tmp, 'rootfs.tar')), 'application/x-tar');
    assert.equal(imported.status, 200, imported.body);
    try {
      const created = await engine('POST', `/containers/create?name=nc-plugin-test-clean-${tag}`,
        Buffer.from(JSON.stringify({ Image: image, Cmd: ['/hello'], Labels: { 'org.openstack.nova.host': HOST } })));
      assert.equal(created.status, 201, created.body);
      const r = await plugin(['clean']);
      ok(r, 'clean');
      assert.match(r.stdout, new RegExp(`removing container \\w+ of compute host ${HOST}`));
      assert.equal((await engine('GET', `/containers/nc-plugin-test-clean-${tag}/json`)).status, 404, 'the container is gone');
      assert.ok(!existsSync(ncConf));
      assert.ok(!existsSync(join(dest, 'data', 'nova-container')));
    } finally {
      await engine('DELETE', `/containers/nc-plugin-test-clean-${tag}?force=1`);
      await engine('DELETE', `/images/${encodeURIComponent(image)}?force=1`);
    }
  });
});

describe('etc/systemd/nova-container.service', () => {
  it('systemd-analyze verify accepts it, with the directives the README promises', async function () {
    this.timeout(60_000);
    const text = readFileSync(UNIT, 'utf8');
    for (const line of ['Type=simple', 'Environment=MALLOC_ARENA_MAX=2', 'Restart=on-failure', 'KillMode=mixed', 'LimitNOFILE=65536', 'StandardOutput=journal', 'NoNewPrivileges=yes',
      'CapabilityBoundingSet=CAP_NET_ADMIN CAP_SYS_ADMIN CAP_SYS_PTRACE CAP_CHOWN']) {
      assert.ok(text.split('\n').includes(line), `${line} in ${UNIT}`);
    }
    assert.match(text, /^ExecStart=\S+ --max-semi-space-size=2 --optimize-for-size \S+\/dist\/src\/cli\.js --config-file \/etc\/nova\/nova\.conf --config-file \/etc\/nova\/nova-container\.conf$/m);
    assert.match(text, /^After=.*docker\.service/m);
    // the unit as installed, with ExecStart's node where it is on this machine
    const copy = join(mkdtempSync(join(tmpdir(), 'nc-unit-')), 'nova-container.service');
    writeFileSync(copy, text.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`));
    try {
      const r = await run('systemd-analyze', ['verify', copy]).then(() => ({ out: '' }), (e: { stderr?: string }) => ({ out: e.stderr ?? 'failed' }));
      const own = r.out.split('\n').filter((l) => l.includes('nova-container.service'));
      assert.deepEqual(own, [], r.out);
    } finally {
      rmSync(join(copy, '..'), { recursive: true, force: true });
    }
  });
});
