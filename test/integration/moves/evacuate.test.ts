/**
 * Evacuation between the two compute hosts of the local cloud (COMPUTE_HOSTS=2): a server of
 * project moves runs on the second host; that host's nova-container is stopped and its
 * service forced down (`openstack compute service set --down`), then the server is evacuated
 * to the first host (POST /servers/{id}/action evacuate, 2.29, as the CLI's `server evacuate`
 * sends it). It is made there anew from its image (the file it wrote on the old host stays
 * there, as a VM's local disk would), ACTIVE once its port is bound and ACTIVE there, the
 * migration done, and Placement holds its allocation on both hosts as Nova leaves it until the
 * old host is back. When the old host starts again it removes its copy and its share of the
 * allocation, and completes the migration.
 * Runs alone.
 */
import { strict as assert } from 'node:assert';
import { sharedImage } from '../lifecycle/fixture.js';
import { Created, bootOnHost, containerNameOf, engine, execIn, getServer, summary, waitForServer } from '../../helpers/servers.js';
import { localCloud, openstack, stopCloudDaemons, waitFor } from '../../helpers/cloud.js';
import { COMPUTE_URL, ports, rest } from '../../helpers/rest.js';
import { hostsHolding, serverMigrations, twoHosts, type TwoHosts } from '../../helpers/two-hosts.js';

const RUN = `ncev-${Date.now().toString(36)}`;
const NETWORK = 'private';
const MARKER = `written-${RUN}`;

describe('evacuate: the server made again on the other host while its own is down; the old host cleans up when it is back', function () {
  this.timeout(600_000);
  const created = new Created();
  let hosts: TwoHosts;
  let serverId = '';

  const evacuation = async () => (await serverMigrations(serverId, 'evacuation'))[0];
  const heldBy = () => hostsHolding(hosts, serverId);

  const forceDown = (down: boolean) => openstack(['--os-compute-api-version', '2.11', 'compute', 'service', 'set', down ? '--down' : '--up', hosts.second.name, 'nova-compute'], false);

  before(async function () {
    this.timeout(900_000);
    hosts = await twoHosts();
    const image = (await sharedImage()).id;
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

  it('its host stopped and forced down, the server evacuated: ACTIVE on the first host from its image once its port is bound and ACTIVE there, the migration done, the allocation on both hosts', async () => {
    await stopCloudDaemons(['nova-container-2']);
    await forceDown(true);
    const r = await rest({
      method: 'POST', url: `${COMPUTE_URL}/servers/${serverId}/action`, headers: { 'OpenStack-API-Version': 'compute 2.29' },
      data: { evacuate: { host: hosts.first } },
    });
    assert.equal(r.status, 200, JSON.stringify(r.data));
    const s = await waitForServer(serverId, 'ACTIVE on the first host', (x) => (x?.status === 'ACTIVE' && x['OS-EXT-SRV-ATTR:host'] === hosts.first) || x?.status === 'ERROR', 180_000);
    assert.equal(s?.status, 'ACTIVE', summary(s));
    const c = await engine().getContainer(containerNameOf(serverId)).inspect();
    assert.equal(c.State.Running, true);
    const marker = await execIn(serverId, ['cat', '/root/marker']);
    assert.notEqual(marker.exitCode, 0, 'made from its image: the file it wrote on the old host is not here');
    // the binding's change set the port DOWN; the spawn waited for its network-vif-plugged, which
    // nova-api sent to this host through the instance's migration context
    const [port] = await ports({ device_id: serverId });
    assert.deepEqual([port?.['binding:host_id'], port?.status], [hosts.first, 'ACTIVE'], 'its port bound there and ACTIVE when the server is');
    const done = await waitFor('the evacuation to be done', async () => ((await evacuation())?.status === 'done' ? evacuation() : null), 30_000, 500);
    assert.equal(done?.dest_compute, hosts.first);
    assert.deepEqual(await heldBy(), [hosts.first, hosts.second.name].sort(), 'Nova leaves the old host\'s share until that host is back');
  });

  it('the old host back: its copy removed, its share of the allocation given back, the migration completed', async () => {
    assert.equal((await getServer(serverId))?.['OS-EXT-SRV-ATTR:host'], hosts.first, 'the server was evacuated');
    await localCloud(['up']);
    await forceDown(false);
    await waitFor('the old host\'s copy to be gone', async () =>
      (await hosts.engine2.getContainer(containerNameOf(serverId)).inspect().catch(() => null)) === null, 60_000, 500);
    await waitFor('the evacuation to be completed', async () => (await evacuation())?.status === 'completed', 30_000, 500);
    assert.deepEqual(await heldBy(), [hosts.first]);
    assert.equal((await getServer(serverId))?.status, 'ACTIVE');
    assert.equal((await engine().getContainer(containerNameOf(serverId)).inspect()).State.Running, true);
  });
});
