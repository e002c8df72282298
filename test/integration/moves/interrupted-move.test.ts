/**
 * A compute host killed (SIGKILL) in the middle of a cold migration between the two hosts of the
 * local cloud (COMPUTE_HOSTS=2), then started again, with the real `openstack` CLI as a user of
 * project moves:
 *   - the source killed while it captures the server (task_state resize_migrating, the Glance
 *     image of the move made, the server's container stopped);
 *   - the destination killed while it makes the server (task_state resize_finish).
 * Each time the server ends ACTIVE on its source, running, with the file it wrote before and its
 * port bound there; the migration in error; the Placement allocations as before the move (the
 * server's on its source, none for the migration), also as each host's MEMORY_MB in use in
 * Placement's usages of its provider; no container of it on the other host, and
 * no image of the move left in Glance.
 * The server writes 64 MB before it moves, so that its capture and its arrival take long enough
 * to be caught. Runs alone.
 */
import { strict as assert } from 'node:assert';
import { sharedImage } from '../lifecycle/fixture.js';
import {
  Created, allocations, bootOnHost, containerNameOf, execIn, getServer, summary, waitForServer,
} from '../../helpers/servers.js';
import { killCloudDaemons, localCloud, novaCellSql, openstack, waitFor, type ExtraHost } from '../../helpers/cloud.js';
import {
  assertPortOn, containerOn, engineOf, hostsHolding, memoryInUse, moveImages, serverMigrations, twoHosts, type Migration, type TwoHosts,
} from '../../helpers/two-hosts.js';

const RUN = `ncim-${Date.now().toString(36)}`;
const MARKER = `interrupted-${RUN}`;

describe('a host killed mid-move and started again: the server stays on its source, running', function () {
  this.timeout(600_000);
  const created = new Created();
  let hosts: TwoHosts;
  let first = '';
  let second: ExtraHost;
  let serverId = '';
  let baseline: Record<string, number> = {};

  const taskState = async () => (await novaCellSql(`SELECT IFNULL(task_state, 'none') FROM instances WHERE uuid='${serverId}'`)).trim();

  /** server migrate --host `to`, without waiting; the migration, once nova-api made it. */
  async function migrateTo(to: string): Promise<Migration> {
    await openstack(['--os-compute-api-version', '2.56', 'server', 'migrate', '--host', to, serverId], false, 'movesrc');
    return waitFor('the migration', async () => (await serverMigrations(serverId)).find((m) => m.dest_compute === to && !['error', 'confirmed', 'reverted'].includes(m.status)), 30_000, 100);
  }

  /** Polls `cond` every 50 ms until it holds (two minutes at most). */
  async function catchStep(what: string, cond: () => Promise<boolean>): Promise<void> {
    await waitFor(what, async () => cond(), 120_000, 50);
  }

  /** Kills the cloud's daemon `name` (SIGKILL), runs `check`, and starts it again whatever `check` found. */
  async function killedAndStarted(name: string, check: () => Promise<void>): Promise<void> {
    await killCloudDaemons([name]);
    try {
      await check();
    } finally {
      await localCloud(['up']);
    }
  }

  /** ACTIVE with no task on `host`, everything of it there and nothing of it on `other`. */
  async function assertBackOn(host: string, other: string, migration: Migration): Promise<void> {
    const s = await waitForServer(serverId, 'ACTIVE with no task', (x) => (x?.status === 'ACTIVE' && !x['OS-EXT-STS:task_state']) || x?.status === 'ERROR', 180_000, 500, false);
    assert.equal(s?.status, 'ACTIVE', summary(s));
    assert.equal((await getServer(serverId))?.['OS-EXT-SRV-ATTR:host'], host);
    assert.equal(await containerOn(hosts, host, serverId), 'running');
    assert.equal((await execIn(serverId, ['cat', '/root/marker'], engineOf(hosts, host))).output.trim(), MARKER, 'the file it wrote before the move');
    await assertPortOn(hosts, host, serverId);
    assert.equal(await containerOn(hosts, other, serverId), 'gone', `nothing of it on ${other}`);
    assert.equal((await serverMigrations(serverId)).find((m) => m.uuid === migration.uuid)?.status, 'error');
    assert.deepEqual(await hostsHolding(hosts, serverId), [host]);
    assert.deepEqual(Object.values(await allocations(serverId)).map((a) => a.resources.MEMORY_MB), [128], 'its own flavor\'s');
    assert.deepEqual(await hostsHolding(hosts, migration.uuid), [], 'nothing held by the migration');
    const now = await memoryInUse(hosts);
    assert.deepEqual([now[first] - baseline[first], now[second.name] - baseline[second.name]], host === first ? [128, 0] : [0, 128],
      'MEMORY_MB the server uses on the first and the second host (Placement\'s usages)');
    assert.deepEqual(await moveImages(migration.uuid), [], 'the image of the move deleted');
  }

  before(async function () {
    this.timeout(900_000);
    hosts = await twoHosts();
    ({ first, second } = hosts);
    const image = (await sharedImage()).id;
    baseline = await memoryInUse(hosts);
    serverId = await bootOnHost(`${RUN}-vm`, image, second.name, 'movesrc', 'private');
    created.servers.add(serverId);
    const s = await waitForServer(serverId, 'ACTIVE', (x) => x?.status === 'ACTIVE' || x?.status === 'ERROR', 180_000);
    assert.equal(s?.['OS-EXT-SRV-ATTR:host'], second.name, summary(s));
    const wrote = await execIn(serverId, ['sh', '-c', `echo ${MARKER} > /root/marker && head -c 67108864 /dev/urandom > /root/bulk`], engineOf(hosts, second.name));
    assert.equal(wrote.exitCode, 0, wrote.output);
  });

  after(async () => {
    // a failed test may leave a host stopped: the cloud is shared
    await localCloud(['up']).catch(() => undefined);
    await created.cleanup();
    for (const h of [first, second?.name].filter(Boolean)) {
      await engineOf(hosts, h).getContainer(containerNameOf(serverId)).remove({ force: true }).catch(() => undefined);
    }
  });

  it('the source killed while it captures the server (resize_migrating, its container stopped, the image of the move made), then started: ACTIVE on it, running, with its file, port and allocation; the migration in error', async () => {
    const migration = await migrateTo(first);
    await catchStep('the capture under way', async () => (await moveImages(migration.uuid)).length > 0
      && (await containerOn(hosts, second.name, serverId)) === 'stopped' && (await taskState()) === 'resize_migrating');
    await killedAndStarted('nova-container-2', async () => assert.equal(await taskState(), 'resize_migrating', 'killed mid-capture'));
    await assertBackOn(second.name, first, migration);
  });

  it('the destination killed while it makes the server (resize_finish), then started: handed back, ACTIVE on its source, running, with its file, port and allocation; the migration in error', async () => {
    assert.equal((await getServer(serverId))?.['OS-EXT-SRV-ATTR:host'], second.name, 'the server is on the second host');
    const migration = await migrateTo(first);
    await catchStep('the arrival under way', async () => (await taskState()) === 'resize_finish');
    await killedAndStarted('nova-container', async () => assert.equal(await taskState(), 'resize_finish', 'killed mid-arrival'));
    await assertBackOn(second.name, first, migration);
  });
});
