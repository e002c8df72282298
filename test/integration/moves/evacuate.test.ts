/**
 * Evacuation between the two compute hosts of the local cloud (COMPUTE_HOSTS=2): a server of
 * project moves runs on the second host; that host's nova-container is killed (SIGKILL) and its
 * service forced down (PUT /os-services, as `openstack compute service set --down` sends it),
 * then the server is evacuated to the first host: on 2025.1 with trixie's `openstack server evacuate --host` at 2.95, where an
 * evacuated server ends stopped (its target_state) and is then started; on Zed with the request
 * (POST /servers/{id}/action evacuate) at 2.29, as bookworm's CLI would send it.
 * It is made there anew from its image (the file it wrote on the old host stays there, as a
 * VM's local disk would), ACTIVE once its port is bound and ACTIVE there, the container with the
 * port's address, the migration done, and Placement holds its allocation on both hosts as Nova
 * leaves it until the old host is back, also as each host's MEMORY_MB in use in Placement's
 * usages of its provider. When the old host starts again it removes its copy and
 * its share of the allocation, and completes the migration.
 * Runs alone.
 */
import { strict as assert } from 'node:assert';
import { sharedImage } from '../lifecycle/fixture.js';
import { Created, bootOnHost, containerNameOf, engine, execIn, getServer, summary, waitForServer, type Server } from '../../helpers/servers.js';
import { COMPUTE_URL, ports, rest, setComputeService } from '../../helpers/rest.js';
import { RELEASE_ROOT, killCloudDaemons, localCloud, openstack, releaseOpenstack, waitFor } from '../../helpers/cloud.js';
import { assertPortOn, containerOn, hostsHolding, memoryInUse, serverMigrations, twoHosts, type TwoHosts } from '../../helpers/two-hosts.js';

const RUN = `ncev-${Date.now().toString(36)}`;
const NETWORK = 'private';
const MARKER = `written-${RUN}`;
/** 2.95 (2023.2) evacuates to a stopped server unless asked otherwise; Zed's API stops at 2.93. */
const EVACUATE_VERSION = RELEASE_ROOT ? '2.95' : '2.29';

describe('evacuate: the server made again on the other host while its own is down; the old host cleans up when it is back', function () {
  this.timeout(600_000);
  const created = new Created();
  let hosts: TwoHosts;
  let serverId = '';
  /** Each host's MEMORY_MB in use before the server was made (it runs alone: nothing else changes it). */
  let baseline: Record<string, number> = {};

  /** MEMORY_MB the server uses on [the first, the second] host, as Placement's usages of their providers say. */
  async function memoryUse(): Promise<number[]> {
    const now = await memoryInUse(hosts);
    return [now[hosts.first] - baseline[hosts.first], now[hosts.second.name] - baseline[hosts.second.name]];
  }

  /**
   * `openstack server evacuate --host` of the release's CLI on 2025.1; on Zed the request it
   * sends (bookworm's openstackclient 6.0 fails there: 'TupleWithMeta' object has no attribute
   * 'to_dict').
   */
  async function evacuateTo(host: string): Promise<void> {
    if (RELEASE_ROOT) {
      await releaseOpenstack(['--os-compute-api-version', EVACUATE_VERSION, 'server', 'evacuate', '--host', host, serverId]);
      return;
    }
    const r = await rest({
      method: 'POST', url: `${COMPUTE_URL}/servers/${serverId}/action`, headers: { 'OpenStack-API-Version': `compute ${EVACUATE_VERSION}` },
      data: { evacuate: { host } },
    });
    assert.equal(r.status, 200, JSON.stringify(r.data));
  }

  const evacuation = async () => (await serverMigrations(serverId, 'evacuation'))[0];
  const heldBy = () => hostsHolding(hosts, serverId);

  const forceDown = (down: boolean) => setComputeService(hosts.second.name, { forced_down: down });

  before(async function () {
    this.timeout(900_000);
    hosts = await twoHosts();
    const image = (await sharedImage()).id;
    baseline = await memoryInUse(hosts);
    serverId = await bootOnHost(`${RUN}-vm`, image, hosts.second.name, 'movesrc', NETWORK);
    created.servers.add(serverId);
    const s = await waitForServer(serverId, 'ACTIVE', (x) => x?.status === 'ACTIVE', 180_000);
    assert.equal(s?.['OS-EXT-SRV-ATTR:host'], hosts.second.name);
    const wrote = await execIn(serverId, ['sh', '-c', `echo ${MARKER} > /root/marker`], hosts.engine2);
    assert.equal(wrote.exitCode, 0, wrote.output);
  });

  after(async function () {
    this.timeout(300_000);
    if (hosts) await forceDown(false).catch(() => undefined);
    await localCloud(['up']).catch(() => undefined);
    await created.cleanup();
    await hosts?.engine2.getContainer(containerNameOf(serverId)).remove({ force: true }).catch(() => undefined);
  });

  it(`its host killed and forced down, the server evacuated (${EVACUATE_VERSION}): ACTIVE on the first host from its image once its port is bound and ACTIVE there, the migration done, the allocation on both hosts`, async () => {
    await killCloudDaemons(['nova-container-2']);
    await forceDown(true);
    await evacuateTo(hosts.first);
    const onFirst = (status: string) => (x: Server | null) =>
      (x?.status === status && x['OS-EXT-SRV-ATTR:host'] === hosts.first && !x['OS-EXT-STS:task_state']) || x?.status === 'ERROR';
    if (EVACUATE_VERSION === '2.95') {
      const stopped = await waitForServer(serverId, 'SHUTOFF on the first host (2.95)', onFirst('SHUTOFF'), 180_000);
      assert.equal(stopped?.status, 'SHUTOFF', summary(stopped));
      assert.equal(await containerOn(hosts, hosts.first, serverId), 'stopped');
      await openstack(['server', 'start', serverId], false, 'movesrc');
    }
    const s = await waitForServer(serverId, 'ACTIVE on the first host', onFirst('ACTIVE'), 180_000);
    assert.equal(s?.status, 'ACTIVE', summary(s));
    assert.equal(await containerOn(hosts, hosts.first, serverId), 'running');
    const marker = await execIn(serverId, ['cat', '/root/marker']);
    assert.notEqual(marker.exitCode, 0, 'made from its image: the file it wrote on the old host is not here');
    // the binding's change set the port DOWN; the spawn waited for its network-vif-plugged, which
    // nova-api sent to this host through the instance's migration context
    const [port] = await ports({ device_id: serverId });
    assert.deepEqual([port?.['binding:host_id'], port?.status], [hosts.first, 'ACTIVE'], 'its port bound there and ACTIVE when the server is');
    await assertPortOn(hosts, hosts.first, serverId);
    const done = await waitFor('the evacuation to be done', async () => ((await evacuation())?.status === 'done' ? evacuation() : null), 30_000, 500);
    assert.equal(done?.dest_compute, hosts.first);
    assert.deepEqual(await heldBy(), [hosts.first, hosts.second.name].sort(), 'Nova leaves the old host\'s share until that host is back');
    assert.deepEqual(await memoryUse(), [128, 128], 'MEMORY_MB it uses on the first and the second host');
  });

  it('the old host back: its copy removed, its share of the allocation given back, the migration completed', async () => {
    assert.equal((await getServer(serverId))?.['OS-EXT-SRV-ATTR:host'], hosts.first, 'the server was evacuated');
    await localCloud(['up']);
    await forceDown(false);
    await waitFor('the old host\'s copy to be gone', async () =>
      (await hosts.engine2.getContainer(containerNameOf(serverId)).inspect().catch(() => null)) === null, 60_000, 500);
    await waitFor('the evacuation to be completed', async () => (await evacuation())?.status === 'completed', 30_000, 500);
    assert.deepEqual(await heldBy(), [hosts.first]);
    assert.deepEqual(await memoryUse(), [128, 0], 'MEMORY_MB it uses on the first and the second host');
    assert.equal((await getServer(serverId))?.status, 'ACTIVE');
    assert.equal((await engine().getContainer(containerNameOf(serverId)).inspect()).State.Running, true);
  });
});
