/**
 * A second compute host of the local cloud (COMPUTE_HOSTS=2, devstack/lib/compute_hosts.sh):
 * its own nova-container, engine and part of Neutron (Zed: a Linux bridge agent; 2025.1: an
 * Open vSwitch and ovn-controller, an OVN chassis), in network namespace nc-host2. A server of
 * project moves asked on it (`--host`, microversion 2.74) runs there: its container on that
 * host's engine only, its port bound to that host and ACTIVE, its tap in that namespace (on the
 * network's bridge there, or on that host's switch and claimed by its chassis), the port's
 * address inside the container. Its /healthz and /metrics answer on the namespace's own
 * loopback, for its own servers, and `local-cloud.sh status` shows both hosts' health. A delta
 * snapshot of a server of the first host boots there, where neither the snapshot nor its base
 * is cached. A server of another project asked on it is refused by the scheduler (the
 * aggregate's filter_tenant_id): the other tests' servers stay on the cloud's own host. A delete takes the container and the tap away. Runs alone (it
 * may bring the second host up).
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { sharedImage } from '../lifecycle/fixture.js';
import { Created, bootOnHost, cli, containerNameOf, deleteWithCli, engine, execIn, getServer, summary, waitForServer } from '../../helpers/servers.js';
import { CLOUD_DIR, REPO, openstack, waitFor, type ExtraHost } from '../../helpers/cloud.js';
import { twoHosts } from '../../helpers/two-hosts.js';
import { computeService, ports } from '../../helpers/rest.js';
import { ovnChassisOf, ovsPortsOf } from '../../helpers/ovn.js';

const RUN = `nc2h-${Date.now().toString(36)}`;
const NETWORK = 'private';

/** Whether network namespace `netns` has a link named `name`, and the bridge it is on. */
function linkIn(netns: string | null, name: string): { master?: string } | null {
  const args = [...(netns ? ['-n', netns] : []), '-j', 'link', 'show', 'dev', name];
  try {
    const [link] = JSON.parse(execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { master?: string }[];
    return link ?? null;
  } catch {
    return null;
  }
}

describe('a second compute host (COMPUTE_HOSTS=2): its own namespace, engine and part of Neutron', function () {
  this.timeout(300_000);
  const created = new Created();
  let host: ExtraHost;
  let first = '';
  let engine2: Docker;
  let image = '';
  let serverId = '';
  let snapshot = '';

  before(async function () {
    this.timeout(900_000);
    ({ first, second: host, engine2 } = await twoHosts());
    image = (await sharedImage()).id;
  });

  after(async () => {
    await created.cleanup();
    for (const id of [snapshot, image].filter(Boolean)) await engine2?.getImage(`glance-image:${id}`).remove().catch(() => undefined);
  });

  it('registers as a compute host of its own, up, with a Neutron agent of its own (Linux bridge, or OVN\'s controller)', async () => {
    assert.equal((await computeService(host.name))?.state, 'up');
    const agents = await openstack<{ 'Agent Type': string; Host: string; Alive: boolean }[]>(['network', 'agent', 'list', '--host', host.name]);
    assert.deepEqual(agents.map((a) => [a['Agent Type'], a.Alive]), [[host.ovsdb ? 'OVN Controller agent' : 'Linux bridge agent', true]]);
  });

  it('a server of project moves asked on it runs there: container on its engine only, port bound there and ACTIVE, tap in its namespace, address in the container', async () => {
    serverId = await bootOnHost(`${RUN}-moves`, image, host.name, 'movesrc', NETWORK);
    created.servers.add(serverId);
    const s = await waitForServer(serverId, 'ACTIVE', (x) => x?.status === 'ACTIVE' || x?.status === 'ERROR', 180_000);
    assert.equal(s?.status, 'ACTIVE', summary(s));
    assert.equal(s?.['OS-EXT-SRV-ATTR:host'], host.name);

    const container = await engine2.getContainer(containerNameOf(serverId)).inspect();
    assert.equal(container.State.Running, true, 'its container runs on the second host\'s engine');
    assert.equal(await engine().getContainer(containerNameOf(serverId)).inspect().catch(() => null), null, 'and not on the first host\'s');

    const [port] = await ports({ device_id: serverId });
    assert.ok(port, 'the server has a port');
    assert.equal(port['binding:host_id'], host.name);
    assert.equal(port.status, 'ACTIVE');
    const tap = `tap${port.id.slice(0, 11)}`;
    if (host.ovsdb) {
      assert.ok(linkIn(host.netns, tap), `${tap} in ${host.netns}`);
      assert.equal(await ovsPortsOf(port.id, host.ovsdb), tap, `${tap} on the second host's switch`);
      assert.equal(await ovsPortsOf(port.id), '', 'and not on the first host\'s');
      assert.equal(await ovnChassisOf(port.id), host.name, 'claimed by the second host\'s chassis');
    } else {
      const net = (await openstack<{ id: string }>(['network', 'show', NETWORK])).id;
      assert.equal(linkIn(host.netns, tap)?.master, `brq${net.slice(0, 11)}`, `${tap} on the network's bridge in ${host.netns}`);
    }
    assert.equal(linkIn(null, tap), null, `no ${tap} in the first host's namespace`);
    const address = port.fixed_ips[0].ip_address;
    assert.match((await execIn(serverId, ['cat', '/proc/net/fib_trie'], engine2)).output, new RegExp(`\\b${address.replace(/\./g, '\\.')}\\b`),
      `the container has its port's address ${address}`);
  });

  it('serves /healthz and /metrics on its namespace\'s own loopback, counting the servers running there; `local-cloud.sh status` asks both hosts', async () => {
    assert.ok(serverId, 'a server runs on the second host');
    assert.ok(host.healthListen, 'the second host has a health_listen address (a cloud brought up before it had none: local-cloud.sh up)');
    const address = host.healthListen.includes(':') ? host.healthListen : `127.0.0.1:${host.healthListen}`;
    const inNamespace = (path: string) => execFileSync('ip', ['netns', 'exec', host.netns, 'curl', '-s', '--max-time', '5', `http://${address}${path}`],
      { encoding: 'utf8' });
    // a heartbeat late under load turns /healthz unhealthy for a moment: the checks are waited for
    type Health = { status: string; checks: Record<string, { ok: boolean }> };
    let health: Health | undefined;
    await waitFor('the second host\'s /healthz to answer ok', async () => {
      health = JSON.parse(inNamespace('/healthz')) as Health;
      return health.status === 'ok';
    }, 30_000, 500).catch((err: Error) => assert.fail(`${err.message}: ${JSON.stringify(health)}`));
    assert.deepEqual(Object.entries(health!.checks).filter(([, c]) => !c.ok), [], 'broker, engine, heartbeat and conductor all pass');

    const active = (await openstack<{ Status: string }[]>(['server', 'list', '--all-projects', '--host', host.name])).filter((x) => x.Status === 'ACTIVE');
    assert.ok(active.length >= 1);
    // its count of running instances is cached for a few seconds
    let running = NaN;
    await waitFor('/metrics to count the second host\'s servers', async () => {
      running = Number(/^nova_container_instances_running (\d+)$/m.exec(inNamespace('/metrics'))?.[1]);
      return running === active.length;
    }, 30_000, 500).catch(() => assert.equal(running, active.length, 'the second host\'s own servers, not the first host\'s'));

    let status = '';
    await waitFor('local-cloud.sh status to show both hosts healthy', async () => {
      const r = spawnSync(join(REPO, 'devstack', 'local-cloud.sh'), ['status'], { encoding: 'utf8', env: { ...process.env, LOCAL_CLOUD_DIR: CLOUD_DIR }, timeout: 60_000 });
      status = r.stdout + r.stderr;
      return [first, host.name].every((name) => new RegExp(`^compute host ${name}: up enabled, mapped to cell1, /healthz ok$`, 'm').test(status));
    }, 30_000, 1000).catch(() => assert.fail(`both hosts up, mapped and healthy in:\n${status}`));
  });

  it('a server of another project asked on it is refused by the scheduler: No valid host', async () => {
    const id = await bootOnHost(`${RUN}-admin`, image, host.name, 'openrc', NETWORK);
    created.servers.add(id);
    const s = await waitForServer(id, 'ERROR', (x) => x?.status === 'ERROR' || x?.status === 'ACTIVE', 120_000);
    assert.equal(s?.status, 'ERROR', summary(s));
    assert.match(s?.fault?.message ?? '', /No valid host/);
    assert.equal(await engine2.getContainer(containerNameOf(id)).inspect().catch(() => null), null);
  });

  it('a delete takes its container off the second host\'s engine and its tap out of the namespace', async () => {
    assert.ok(serverId, 'a server ran on the second host');
    const [port] = await ports({ device_id: serverId });
    const tap = `tap${port.id.slice(0, 11)}`;
    await deleteWithCli(serverId, 'movesrc', 90_000);
    created.servers.delete(serverId);
    assert.equal(await getServer(serverId), null);
    assert.equal(await engine2.getContainer(containerNameOf(serverId)).inspect().catch(() => null), null);
    assert.equal(linkIn(host.netns, tap), null);
    if (host.ovsdb) assert.equal(await ovsPortsOf(port.id, host.ovsdb), '', 'its port off the second host\'s switch');
  });
  it('a delta snapshot of a server of the first host boots here, where neither it nor its base is: both fetched from Glance, the change there', async () => {
    const src = await bootOnHost(`${RUN}-src`, image, first, 'movesrc', NETWORK);
    created.servers.add(src);
    assert.equal((await waitForServer(src, 'ACTIVE', (x) => x?.status === 'ACTIVE' || x?.status === 'ERROR', 180_000))?.status, 'ACTIVE');
    const marker = `${RUN}-written-on-${first}`;
    assert.equal((await execIn(src, ['sh', '-c', `echo ${marker} > /root/marker`])).exitCode, 0);
    snapshot = await created.snapshot(src, `${RUN}-snap`, 'movesrc');
    const shown = JSON.parse(await cli(['image', 'show', snapshot, '-f', 'json'])) as { properties: Record<string, string> };
    assert.equal(shown.properties.nova_container_base_image, image, 'a delta above the server\'s image');
    // neither image cached on the second host (nothing there uses them: the server above is deleted)
    for (const id of [snapshot, image]) {
      await engine2.getImage(`glance-image:${id}`).remove().catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 404) throw err;
      });
      assert.equal(await engine2.getImage(`glance-image:${id}`).inspect().catch(() => null), null, `glance-image:${id} not on the second host`);
    }

    const id = await bootOnHost(`${RUN}-from-snap`, snapshot, host.name, 'movesrc', NETWORK);
    created.servers.add(id);
    const s = await waitForServer(id, 'ACTIVE', (x) => x?.status === 'ACTIVE' || x?.status === 'ERROR', 180_000);
    assert.equal(s?.status, 'ACTIVE', summary(s));
    assert.equal(s?.['OS-EXT-SRV-ATTR:host'], host.name);
    assert.equal((await execIn(id, ['cat', '/root/marker'], engine2)).output.trim(), marker, 'the change made on the first host');
    for (const ref of [image, snapshot]) {
      assert.ok(await engine2.getImage(`glance-image:${ref}`).inspect().catch(() => null), `glance-image:${ref} fetched into the second host's engine`);
    }
  });
});
