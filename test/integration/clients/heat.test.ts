/**
 * Heat on the local cloud drives container servers: the example templates of etc/heat/ with
 * the real `openstack stack ...` CLI (python3-heatclient). `before` brings Heat up when the
 * cloud does not run it (`HEAT=yes devstack/local-cloud.sh up`: packages and all the first
 * time). Shown: stack create --wait reaches CREATE_COMPLETE with the server ACTIVE on this
 * compute host and its container running in the cloud's engine; a stack update changing the
 * flavor resizes that same server in place (new limits on the running container) and Heat
 * confirms the resize itself; a group of three servers on a network the stack makes; a server
 * from a snapshot taken with `server image create`; stack delete --wait leaves no server,
 * container, port or stack-made network.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLOUD_DIR, REPO, cloudSetting, computeConfValue, ensureCloudPart, iniValue, openrcEnv } from '../../helpers/cloud.js';
import {
  Created, engine, execIn, getServer, inspectContainer, instanceActions, type Server,
} from '../../helpers/servers.js';
import { sharedImage } from '../lifecycle/fixture.js';
import { cgroupValue } from '../../helpers/cgroup.js';

const run = promisify(execFile);
const RUN = `ncheat-${Date.now().toString(36)}`;
const TEMPLATES = join(REPO, 'etc', 'heat');
/**
 * Heat's own stack timeout (minutes): a build lost to a restart of the compute host fails the
 * stack then instead of waiting for Heat's default 60 min; a build that went to ERROR is retried
 * by Heat (action_retry_limit) within it. The CLI waits a little longer than Heat.
 */
const HEAT_TIMEOUT_MIN = 6;
const STACK_TIMEOUT_MS = (HEAT_TIMEOUT_MIN + 2) * 60_000;

interface StackOutput { output_key: string; output_value: unknown }
interface Stack { id: string; stack_name: string; stack_status: string; stack_status_reason: string; outputs?: StackOutput[] }
interface PortRow { ID: string; 'Device ID': string }
interface NetworkRow { ID: string; Name: string }

/** `openstack ARGS` as the cloud's admin, with a timeout long enough for `--wait`; stdout. */
async function os(args: string[], timeout = 120_000): Promise<string> {
  const { stdout } = await run('/usr/bin/openstack', args, {
    env: { ...process.env, ...openrcEnv() }, maxBuffer: 16 * 1024 * 1024, timeout,
  });
  return stdout;
}

async function osJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await os([...args, '-f', 'json'])) as T;
}

async function showStack(name: string): Promise<Stack> {
  return osJson<Stack>(['stack', 'show', name]);
}

function output<T>(stack: Stack, key: string): T {
  const o = stack.outputs?.find((x) => x.output_key === key);
  assert.ok(o, `stack ${stack.stack_name} has output ${key}: ${JSON.stringify(stack.outputs)}`);
  return o.output_value as T;
}

async function stackNames(): Promise<string[]> {
  return (await osJson<{ 'Stack Name': string }[]>(['stack', 'list'])).map((s) => s['Stack Name']);
}

/** Server ACTIVE with no task, on this compute host; its container running in the cloud's engine. */
async function assertRunning(id: string, flavor: string): Promise<Server> {
  const s = await getServer(id);
  assert.ok(s, `server ${id} exists`);
  assert.equal(s.status, 'ACTIVE');
  assert.equal(s['OS-EXT-STS:task_state'], null);
  assert.equal(s['OS-EXT-SRV-ATTR:host'], computeConfValue('DEFAULT', 'host'));
  assert.equal(s.flavor.original_name, flavor);
  // what the engine's `ps` lists, by exact name (a server's sandbox, where it has one, is nova-<id>-net)
  const running = await engine().listContainers({ filters: { status: ['running'] } });
  assert.equal(running.filter((r) => r.Names.some((n) => n.replace(/^\//, '') === `nova-${id}`)).length, 1, `container nova-${id} runs`);
  const c = await inspectContainer(id);
  assert.ok(c, `container nova-${id} is there`);
  // as the kernel holds it (podman's inspect keeps the limit the container was made with)
  assert.equal(Number(cgroupValue(c.State.Pid, 'memory', 'memory.limit_in_bytes')) / 1048576, s.flavor.ram, 'the container\'s memory limit is the flavor\'s');
  return s;
}

describe('Heat stacks of container servers (etc/heat templates)', function () {
  this.timeout(900_000);
  const created = new Created();
  const stacks = new Set<string>();
  const networks = new Set<string>();
  let image: { id: string; name: string };
  const one = `${RUN}-one`;
  const group = `${RUN}-group`;
  const fromSnap = `${RUN}-fromsnap`;
  let oneServer = '';
  let groupServers: string[] = [];
  let snapServer = '';
  let groupNet = '';

  /**
   * `openstack stack create|update --wait ...`, a create with `--poll 1` (it looks at the
   * stack's events every 5 s by default; an update has no such option); on failure, the error
   * says which resources failed and why.
   */
  async function stackAction(name: string, args: string[]): Promise<Stack> {
    const poll = args[1] === 'create' ? ['--poll', '1'] : [];
    try {
      await os([...args, '--wait', ...poll, '--timeout', String(HEAT_TIMEOUT_MIN), name], STACK_TIMEOUT_MS);
    } catch (err) {
      const failures = await os(['stack', 'failures', 'list', '--long', name]).catch((e: unknown) => String(e));
      throw new Error(`${(err as Error).message.trim()}\nopenstack stack failures list --long ${name}:\n${failures}`);
    }
    return showStack(name);
  }

  /** `openstack stack create --wait`; the stack as `stack show` reports it afterwards. */
  async function createStack(name: string, template: string, params: Record<string, string>): Promise<Stack> {
    const args = ['stack', 'create', '-t', join(TEMPLATES, template)];
    for (const [k, v] of Object.entries(params)) args.push('--parameter', `${k}=${v}`);
    stacks.add(name);
    const st = await stackAction(name, args);
    assert.equal(st.stack_status, 'CREATE_COMPLETE', st.stack_status_reason);
    return st;
  }

  before(async function () {
    this.timeout(900_000);
    const t0 = Date.now();
    const out = await ensureCloudPart('HEAT', ['heat-api', 'heat-engine'], Number(cloudSetting('HEAT_API_PORT') ?? 8004));
    const heatLine = out === null ? 'Heat was running' : out.split('\n').find((l) => l.includes('Heat is up')) ?? '(no "Heat is up" line)';
    console.log(`      Heat up: ${((Date.now() - t0) / 1000).toFixed(1)} s; ${heatLine.trim()}`);
    image = await sharedImage();
  });

  after(async function () {
    this.timeout(600_000);
    const problems: string[] = [];
    const left = [...stacks];
    if (left.length) {
      const present = new Set(await stackNames().catch(() => left));
      const toDelete = left.filter((n) => present.has(n));
      if (toDelete.length) {
        await os(['stack', 'delete', '--wait', '-y', ...toDelete], STACK_TIMEOUT_MS)
          .catch((err: unknown) => problems.push(`stack delete ${toDelete.join(' ')}: ${(err as Error).message}`));
      }
    }
    // whatever a failed stack delete left: servers (and their containers), images, networks
    await created.cleanup();
    for (const net of networks) {
      const ports = await osJson<PortRow[]>(['port', 'list', '--network', net]).catch(() => []);
      for (const p of ports) await os(['port', 'delete', p.ID]).catch(() => undefined);
      await os(['network', 'delete', net]).catch(() => undefined);
    }
    if (problems.length) console.error(`      cleanup: ${problems.join('; ')}`);
  });

  it('stack create --wait (server.yaml): CREATE_COMPLETE, the server ACTIVE here, its container running with a port on private', async () => {
    const st = await createStack(one, 'server.yaml', { image: image.id, environment: '{"HEAT_STACK_MARK": "one"}' });
    oneServer = output<string>(st, 'server_id');
    created.servers.add(oneServer);
    const s = await assertRunning(oneServer, 'm1.tiny');
    assert.equal(s.name, `${one}-server`);
    const addrs = s.addresses.private ?? [];
    assert.equal(addrs.length, 1, `one address on private: ${JSON.stringify(s.addresses)}`);
    assert.match(addrs[0].addr, /^10\.20\.0\.\d+$/);
    const ports = await osJson<PortRow[]>(['port', 'list', '--server', oneServer]);
    assert.equal(ports.length, 1, 'Heat made one port for the server');
    const env = await execIn(oneServer, ['sh', '-c', 'echo "$HEAT_STACK_MARK"']);
    assert.equal(env.output.trim(), 'one', 'the metadata of the template reached the container\'s environment');
  });

  it('stack update --wait with flavor=m1.small: the same server resized in place, Heat confirmed the resize', async () => {
    const before = await inspectContainer(oneServer);
    assert.ok(before);
    const st = await stackAction(one, ['stack', 'update', '--existing', '--parameter', 'flavor=m1.small']);
    assert.equal(st.stack_status, 'UPDATE_COMPLETE', st.stack_status_reason);
    assert.equal(output<string>(st, 'server_id'), oneServer, 'no replacement: same server id');
    await assertRunning(oneServer, 'm1.small'); // its memory limit 512 MB
    const after = await inspectContainer(oneServer);
    assert.equal(after?.Id, before.Id, 'same container');
    assert.equal(after?.State.StartedAt, before.State.StartedAt, 'not restarted');
    const actions = (await instanceActions(oneServer)).map((a) => a.action);
    assert.ok(actions.includes('resize'), `resize among ${actions.join(', ')}`);
    assert.ok(actions.includes('confirmResize'), `Heat confirmed the resize: ${actions.join(', ')}`);
  });

  it('a group of three (group.yaml): CREATE_COMPLETE, three servers ACTIVE with running containers on the stack\'s tenant network', async () => {
    const st = await createStack(group, 'group.yaml', { image: image.id });
    groupServers = output<string[]>(st, 'server_ids');
    groupNet = output<string>(st, 'network_id');
    networks.add(groupNet);
    for (const id of groupServers) created.servers.add(id);
    assert.equal(groupServers.length, 3);
    assert.equal(new Set(groupServers).size, 3);
    const net = await osJson<Record<string, unknown>>(['network', 'show', groupNet]);
    // the cloud's tenant network type: vxlan (Linux bridge, Zed), geneve (OVN, 2025.1)
    assert.equal(net['provider:network_type'], iniValue(join(CLOUD_DIR, 'etc', 'neutron', 'ml2_conf.ini'), 'ml2', 'tenant_network_types'));
    assert.equal(net.name, `${group}-net`);
    const ips = new Set<string>();
    for (const [i, id] of groupServers.entries()) {
      const s = await assertRunning(id, 'm1.tiny');
      assert.equal(s.name, `${group}-server-${i}`);
      const addrs = s.addresses[`${group}-net`] ?? [];
      assert.equal(addrs.length, 1, JSON.stringify(s.addresses));
      assert.match(addrs[0].addr, /^10\.30\.0\.\d+$/);
      ips.add(addrs[0].addr);
    }
    assert.equal(ips.size, 3, 'three different addresses');
  });

  it('a server from a snapshot (server-from-snapshot.yaml): CREATE_COMPLETE, the new container has the snapshotted file', async () => {
    const w = await execIn(oneServer, ['sh', '-c', `echo ${RUN} > /root/heat-snapshot-mark`]);
    assert.equal(w.exitCode, 0, w.output);
    const snap = await created.snapshot(oneServer, `${RUN}-snap`);
    const st = await createStack(fromSnap, 'server-from-snapshot.yaml', { snapshot: snap });
    snapServer = output<string>(st, 'server_id');
    created.servers.add(snapServer);
    await assertRunning(snapServer, 'm1.tiny');
    const r = await execIn(snapServer, ['cat', '/root/heat-snapshot-mark']);
    assert.equal(r.output.trim(), RUN);
  });

  it('stack delete --wait: no server, container, port or stack-made network is left', async () => {
    // every stack the tests above made (also one that failed), every server they reported
    const names0 = [...stacks];
    const servers = [oneServer, ...groupServers, snapServer].filter((x) => x);
    assert.ok(names0.length > 0 && servers.length > 0, 'the tests above made stacks with servers');
    const ports = new Set<string>();
    for (const id of servers) for (const p of await osJson<PortRow[]>(['port', 'list', '--server', id])) ports.add(p.ID);
    assert.equal(ports.size, servers.length, 'one port a server');

    await os(['stack', 'delete', '--wait', '-y', ...names0], STACK_TIMEOUT_MS);
    const names = await stackNames();
    for (const n of names0) {
      assert.ok(!names.includes(n), `stack ${n} is gone`);
      stacks.delete(n);
    }
    for (const id of servers) {
      assert.equal(await getServer(id), null, `server ${id} is gone`);
      assert.equal(await inspectContainer(id), null, `container nova-${id} is gone`);
      created.servers.delete(id);
    }
    const allPorts = new Set((await osJson<PortRow[]>(['port', 'list'])).map((p) => p.ID));
    const leftPorts = [...ports].filter((p) => allPorts.has(p));
    assert.deepEqual(leftPorts, [], 'the servers\' ports are deleted');
    const nets = await osJson<NetworkRow[]>(['network', 'list']);
    assert.deepEqual(nets.filter((n) => n.ID === groupNet || n.Name.startsWith(RUN)), [], 'no network of these stacks is left');
    networks.delete(groupNet);
  });
});
