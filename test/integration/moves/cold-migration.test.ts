/**
 * Cold migration between the two compute hosts of the local cloud (COMPUTE_HOSTS=2), with the
 * real `openstack` CLI as a user of project moves (the admin there): `server migrate --host`
 * (2.56) to the second host, then `server resize confirm`; then back to the first host and
 * `server resize revert`; then `server resize --flavor` to the first host (the second disabled
 * while it schedules) and confirm; then to the second host with a bigger flavor and revert.
 * After each step: where the server's container runs and whether it kept the file it wrote
 * before the move, where its port is bound, its memory limit after a resize, and the Placement
 * allocations as Nova leaves them for nova-compute (the instance's on the destination, the
 * migration's on the source until confirm or revert), also as each host's MEMORY_MB in use
 * in Placement's usages of its provider. The Glance image that carried the file
 * system is gone once the destination made the server from it.
 * Then the failures: a resize the destination cannot make hands the server back to its source,
 * running there as before; a server a destination kept after a failed move, once deleted, has
 * its source's stopped container and the migration's allocation removed.
 * Runs alone.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import Docker from 'dockerode';
import { sharedImage } from '../lifecycle/fixture.js';
import { Created, allocations, bootOnHost, containerNameOf, deleteWithCli, execIn, getServer, instanceAction, instanceActions, summary, waitForServer, type Server } from '../../helpers/servers.js';
import { cgroupValue } from '../../helpers/cgroup.js';
import { novaCellSql, openstack, waitFor, type ExtraHost } from '../../helpers/cloud.js';
import { ports, setComputeService } from '../../helpers/rest.js';
import {
  assertPortOn, containerOn as containerOnHost, engineOf as engineOfHost, hostsHolding, memoryInUse, moveImages, serverMigrations, twoHosts, type Migration, type TwoHosts,
} from '../../helpers/two-hosts.js';

const RUN = `nccm-${Date.now().toString(36)}`;
const NETWORK = 'private';
const MARKER = `moved-${RUN}`;

describe('cold migration between two hosts: migrate, confirm; migrate back, revert; resize to the other host; a move that fails', function () {
  this.timeout(600_000);
  const created = new Created();
  let hosts: TwoHosts;
  let first = '';
  let second: ExtraHost;
  let engine2: Docker;
  let image = '';
  let serverId = '';
  const unenforceable = `${RUN}-unenforceable`;
  const bigger = `${RUN}-768`;
  const flavors = new Set<string>();

  const engineOf = (host: string): Docker => engineOfHost(hosts, host);
  const migrations = () => serverMigrations(serverId);
  const containerOn = (host: string) => containerOnHost(hosts, host, serverId);

  const heldBy = (consumer: string) => hostsHolding(hosts, consumer);
  /** Each host's MEMORY_MB in use before the server was made (it runs alone: nothing else changes it). */
  let baseline: Record<string, number> = {};

  /** What Placement's usages say the server and its migration add on each host (MEMORY_MB): [first, second]. */
  async function assertMemoryUse(onFirst: number, onSecond: number): Promise<void> {
    const now = await memoryInUse(hosts);
    assert.deepEqual([now[first] - baseline[first], now[second.name] - baseline[second.name]], [onFirst, onSecond],
      'MEMORY_MB the server and its migration use on the first and the second host (Placement\'s usages)');
  }

  async function moveTo(host: string): Promise<{ server: Server; migration: Migration }> {
    await openstack(['--os-compute-api-version', '2.56', 'server', 'migrate', '--host', host, serverId], false, 'movesrc');
    const server = await waitForServer(serverId, 'VERIFY_RESIZE', (s) => s?.status === 'VERIFY_RESIZE' || s?.status === 'ERROR' || s?.status === 'ACTIVE', 180_000);
    assert.equal(server?.status, 'VERIFY_RESIZE', summary(server));
    const [migration] = await migrations();
    assert.equal(migration.dest_compute, host);
    return { server: server as Server, migration };
  }

  /** Where the server is, as each part of the cloud sees it (its port wired there by that host's agent within 30 s). */
  async function assertOn(host: string): Promise<void> {
    assert.equal((await getServer(serverId))?.['OS-EXT-SRV-ATTR:host'], host);
    assert.equal(await containerOn(host), 'running');
    assert.equal((await execIn(serverId, ['cat', '/root/marker'], engineOf(host))).output.trim(), MARKER, 'the file it wrote before the move');
    await assertPortOn(hosts, host, serverId);
  }

  /** Whether the machine's namespace (the first host's) has the tap of the server's port. */
  async function tapOnFirstHost(): Promise<boolean> {
    const [p] = await ports({ device_id: serverId });
    try {
      execFileSync('ip', ['link', 'show', 'dev', `tap${p.id.slice(0, 11)}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }

  /** server resize --flavor FLAVOR while `from` takes no new servers, so it goes to the other host: VERIFY_RESIZE. */
  async function resizeWith(flavor: string, from: string): Promise<Migration> {
    const enabled = (yes: boolean) => setComputeService(from, { status: yes ? 'enabled' : 'disabled' });
    await enabled(false);
    try {
      await openstack(['server', 'resize', '--flavor', flavor, serverId], false, 'movesrc');
      const s = await waitForServer(serverId, 'VERIFY_RESIZE', (x) => x?.status === 'VERIFY_RESIZE' || x?.status === 'ERROR' || x?.status === 'ACTIVE', 120_000);
      assert.equal(s?.status, 'VERIFY_RESIZE', summary(s));
    } finally {
      await enabled(true);
    }
    return (await migrations())[0];
  }

  async function memoryLimitMb(host: string): Promise<number> {
    const c = await engineOf(host).getContainer(containerNameOf(serverId)).inspect();
    return Number(cgroupValue(c.State.Pid, 'memory', 'memory.limit_in_bytes')) / 1048576;
  }

  before(async function () {
    this.timeout(900_000);
    hosts = await twoHosts();
    ({ first, second, engine2 } = hosts);
    image = (await sharedImage()).id;
    baseline = await memoryInUse(hosts);
    await openstack(['flavor', 'create', '--ram', '768', '--disk', '2', '--vcpus', '1', bigger], false);
    flavors.add(bigger);
    serverId = await bootOnHost(`${RUN}-vm`, image, first, 'movesrc', NETWORK);
    created.servers.add(serverId);
    const s = await waitForServer(serverId, 'ACTIVE', (x) => x?.status === 'ACTIVE', 180_000);
    assert.equal(s?.['OS-EXT-SRV-ATTR:host'], first);
    const wrote = await execIn(serverId, ['sh', '-c', `echo ${MARKER} > /root/marker`]);
    assert.equal(wrote.exitCode, 0, wrote.output);
  });

  after(async () => {
    await created.cleanup();
    for (const f of flavors) await openstack(['flavor', 'delete', f], false).catch(() => undefined);
    await engine2?.getContainer(containerNameOf(serverId)).remove({ force: true }).catch(() => undefined);
    if (image) await engine2?.getImage(`glance-image:${image}`).remove().catch(() => undefined);
  });

  let firstMove: Migration;

  it('server migrate --host to the second host: VERIFY_RESIZE there, its file with it, its port bound there; the source keeps its stopped container (its tap gone) and the migration\'s allocation', async () => {
    const { migration } = await moveTo(second.name);
    firstMove = migration;
    assert.equal(migration.status, 'finished');
    await assertOn(second.name);
    assert.equal(await containerOn(first), 'stopped');
    assert.equal(await tapOnFirstHost(), false, 'its tap gone from the source while its port is bound to the destination');
    assert.deepEqual(await heldBy(serverId), [second.name]);
    assert.deepEqual(await heldBy(migration.uuid), [first]);
    await assertMemoryUse(128, 128);
    assert.deepEqual(await moveImages(migration.uuid), [], 'the image that carried its file system, deleted once the destination made the server from it');
  });

  it('server resize confirm: ACTIVE on the second host; the source\'s container and the migration\'s allocation gone', async () => {
    assert.ok(firstMove, 'the server moved');
    await openstack(['server', 'resize', 'confirm', serverId], false, 'movesrc');
    const s = await waitForServer(serverId, 'ACTIVE', (x) => x?.status === 'ACTIVE', 60_000);
    assert.equal(s?.status, 'ACTIVE');
    await assertOn(second.name);
    assert.equal((await migrations())[0].status, 'confirmed');
    assert.equal(await containerOn(first), 'gone');
    assert.deepEqual(await heldBy(serverId), [second.name]);
    assert.deepEqual(await heldBy(firstMove.uuid), []);
    await assertMemoryUse(0, 128);
  });

  it('server migrate back to the first host, then server resize revert: ACTIVE on the second host again, its file and port there, the first host\'s container gone', async () => {
    assert.ok(firstMove, 'the server moved');
    const { migration } = await moveTo(first);
    await assertOn(first);
    assert.equal(await containerOn(second.name), 'stopped');
    await openstack(['server', 'resize', 'revert', serverId], false, 'movesrc');
    const s = await waitForServer(serverId, 'ACTIVE', (x) => x?.status === 'ACTIVE', 120_000);
    assert.equal(s?.status, 'ACTIVE', summary(s));
    await assertOn(second.name);
    assert.equal(await containerOn(first), 'gone');
    assert.equal((await migrations())[0].status, 'reverted');
    assert.deepEqual(await heldBy(serverId), [second.name]);
    assert.deepEqual(await heldBy(migration.uuid), []);
    await assertMemoryUse(0, 128);
  });

  it('server resize --flavor m1.small while its host takes no new servers: to the first host with m1.small\'s memory limit there, its file with it; confirm', async () => {
    assert.equal((await getServer(serverId))?.['OS-EXT-SRV-ATTR:host'], second.name, 'the server is on the second host');
    const migration = await resizeWith('m1.small', second.name);
    assert.deepEqual([migration.migration_type, migration.source_compute, migration.dest_compute], ['resize', second.name, first]);
    await assertOn(first);
    assert.equal(await memoryLimitMb(first), 512, 'm1.small\'s memory');
    assert.equal(await containerOn(second.name), 'stopped');
    await openstack(['server', 'resize', 'confirm', serverId], false, 'movesrc');
    const s = await waitForServer(serverId, 'ACTIVE', (x) => x?.status === 'ACTIVE', 60_000);
    assert.equal(s?.status, 'ACTIVE');
    assert.equal(await containerOn(second.name), 'gone');
    assert.deepEqual(await heldBy(serverId), [first]);
    assert.deepEqual(Object.values(await allocations(serverId)).map((a) => a.resources.MEMORY_MB), [512]);
    assert.deepEqual(await heldBy(migration.uuid), []);
    await assertMemoryUse(512, 0);
  });

  it('server resize --flavor to the other host (its own disabled while it schedules), then server resize revert: ACTIVE on the first host again with m1.small\'s memory limit, its file and port, the second host\'s container gone', async () => {
    assert.equal((await getServer(serverId))?.['OS-EXT-SRV-ATTR:host'], first, 'the server is on the first host');
    const migration = await resizeWith(bigger, first);
    assert.equal(migration.status, 'finished');
    assert.deepEqual([migration.migration_type, migration.source_compute, migration.dest_compute], ['resize', first, second.name]);
    await assertOn(second.name);
    assert.equal(await containerOn(first), 'stopped');
    assert.deepEqual(await heldBy(migration.uuid), [first]);
    await assertMemoryUse(512, 768);
    await openstack(['server', 'resize', 'revert', serverId], false, 'movesrc');
    const s = await waitForServer(serverId, 'ACTIVE', (x) => x?.status === 'ACTIVE', 120_000);
    assert.equal(s?.status, 'ACTIVE', summary(s));
    assert.equal(s?.flavor?.original_name, 'm1.small');
    await assertOn(first);
    assert.equal(await memoryLimitMb(first), 512, 'm1.small\'s memory');
    assert.equal(await containerOn(second.name), 'gone');
    assert.equal((await migrations())[0].status, 'reverted');
    assert.deepEqual(await heldBy(serverId), [first]);
    assert.deepEqual(Object.values(await allocations(serverId)).map((a) => a.resources.MEMORY_MB), [512]);
    assert.deepEqual(await heldBy(migration.uuid), []);
    await assertMemoryUse(512, 0);
  });

  it('a move that fails on its destination (a flavor that host cannot enforce): handed back, ACTIVE and running on its source with its file, port, flavor and allocation; the migration in error, the failure in its events', async () => {
    assert.equal((await getServer(serverId))?.['OS-EXT-SRV-ATTR:host'], first, 'the server is on the first host');
    // container:pids_limit=0 is refused where the container is made: on the destination, in finish_resize
    await openstack(['flavor', 'create', '--ram', '512', '--disk', '2', '--vcpus', '1', '--property', 'container:pids_limit=0', unenforceable], false);
    flavors.add(unenforceable);
    const enabled = (yes: boolean) => setComputeService(first, { status: yes ? 'enabled' : 'disabled' });
    await enabled(false);
    let requestId = '';
    try {
      await openstack(['server', 'resize', '--flavor', unenforceable, serverId], false, 'movesrc');
      requestId = (await instanceActions(serverId)).find((a) => a.action === 'resize')?.request_id ?? '';
      await waitFor('the migration to end in error', async () => (await migrations())[0]?.status === 'error', 120_000, 500);
      const s = await waitForServer(serverId, 'ACTIVE again', (x) => (x?.status === 'ACTIVE' && !x['OS-EXT-STS:task_state']) || x?.status === 'ERROR', 120_000, 150, false);
      assert.equal(s?.status, 'ACTIVE', summary(s));
      assert.equal(s?.flavor?.original_name, 'm1.small');
    } finally {
      await enabled(true);
    }
    const [migration] = await migrations();
    assert.deepEqual([migration.status, migration.source_compute, migration.dest_compute], ['error', first, second.name]);
    await assertOn(first);
    assert.equal(await memoryLimitMb(first), 512, 'm1.small\'s memory');
    assert.equal(await containerOn(second.name), 'gone', 'what the destination made, removed');
    assert.deepEqual(await heldBy(serverId), [first]);
    assert.deepEqual(Object.values(await allocations(serverId)).map((a) => a.resources.MEMORY_MB), [512]);
    assert.deepEqual(await heldBy(migration.uuid), []);
    await assertMemoryUse(512, 0);
    assert.deepEqual(await moveImages(migration.uuid), []);
    // the source's event is finished just after its last save
    const events = await waitFor('the source\'s event finished', async () => {
      const e = (await instanceAction(serverId, requestId)).events ?? [];
      return e.some((x) => x.event === 'compute_finish_revert_resize' && x.result) ? e : null;
    }, 10_000, 250);
    assert.equal(events.find((e) => e.event === 'compute_finish_resize')?.result, 'Error', JSON.stringify(events));
    assert.equal(events.find((e) => e.event === 'compute_finish_revert_resize')?.result, 'Success', JSON.stringify(events));
  });

  it('a server deleted on a destination that kept it after a failed move (the migration in error, as when the hand-back cannot be cast): its source removes its stopped container and the migration\'s allocation, the migration failed', async () => {
    const migration = await resizeWith(bigger, first);
    assert.equal(await containerOn(first), 'stopped');
    // No API fails the hand-back: the database gets the state a failed one leaves (the migration
    // in error, the server in ERROR on the destination).
    await novaCellSql(`UPDATE migrations SET status='error' WHERE uuid='${migration.uuid}'`);
    await openstack(['server', 'set', '--state', 'error', serverId], false);
    await deleteWithCli(serverId, 'movesrc');
    created.servers.delete(serverId);
    assert.equal(await containerOn(second.name), 'gone');
    const t0 = Date.now();
    await waitFor('the source to remove its stopped container', async () => (await containerOn(first)) === 'gone', 90_000, 1000);
    console.log(`      measured: the source's container removed ${Date.now() - t0} ms after the delete (instance_delete_interval 10 s on the local cloud)`);
    await waitFor('the migration set to failed', async () => (await novaCellSql(`SELECT status FROM migrations WHERE uuid='${migration.uuid}'`)).trim() === 'failed', 10_000, 500);
    assert.deepEqual(await heldBy(migration.uuid), [], 'the old flavor the migration held on the source');
    await assertMemoryUse(0, 0);
  });
});
