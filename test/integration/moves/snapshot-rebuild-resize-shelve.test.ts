/**
 * The server actions that replace or move a container, driven with the real `openstack` CLI
 * against the local cloud: snapshot -> active Glance image -> a server booted from it
 * sees the changed file; rebuild gives a fresh container from the new image with the same
 * uuid; resize changes the running container's limits (confirm keeps them, revert restores
 * them) with Placement following; shelve removes the container and keeps its file system in
 * Glance, unshelve brings it back and deletes the shelved image.
 */
import { strict as assert } from 'node:assert';
import { sharedImage, MARKER } from '../lifecycle/fixture.js';
import {
  Created, allocations, cli, execIn, glanceImage, inspectContainer, waitForStatus, waitForServer,
} from '../../helpers/servers.js';
import { rootDiskLimitGb } from '../../helpers/root-disk.js';
import { cgroupValue } from '../../helpers/cgroup.js';

const RUN = `ncmv-${Date.now().toString(36)}`;

/** The workload's limits as its cgroup holds them (podman's inspect keeps the created ones). */
async function flavorLimits(serverId: string): Promise<{ cpus: number; memoryMb: number; startedAt: string }> {
  const c = await inspectContainer(serverId);
  assert.ok(c, `container of ${serverId} exists`);
  const pid = c.State.Pid;
  const cpus = Number(cgroupValue(pid, 'cpu', 'cpu.cfs_quota_us')) / Number(cgroupValue(pid, 'cpu', 'cpu.cfs_period_us'));
  return { cpus, memoryMb: Number(cgroupValue(pid, 'memory', 'memory.limit_in_bytes')) / 1048576, startedAt: c.State.StartedAt };
}

describe('snapshot, rebuild, resize and shelve of container servers', function () {
  this.timeout(600_000);
  const created = new Created();
  let image: { id: string; name: string };
  let server: string;

  before(async () => {
    image = await sharedImage();
    server = await created.boot(`${RUN}-src`, { image: image.id });
    await waitForStatus(server, 'ACTIVE');
    const w = await execIn(server, ['sh', '-c', 'echo written-before-snapshot > /root/changed']);
    assert.equal(w.exitCode, 0, w.output);
  });

  after(async () => created.cleanup());

  it('server image create gives an active docker image; a server booted from it sees the changed file', async () => {
    // active, and the server's task over (Created.snapshot waits for both)
    const snapId = await created.snapshot(server, `${RUN}-snap`);
    const props = JSON.parse(await cli(['image', 'show', snapId, '-f', 'json'])) as Record<string, unknown>;
    assert.equal(props.container_format, 'docker');
    assert.equal(props.disk_format, 'raw');
    assert.equal((props.properties as Record<string, string>).nova_container_parent_image, image.id);

    const child = await created.boot(`${RUN}-child`, { image: snapId });
    await waitForStatus(child, 'ACTIVE');
    const r = await execIn(child, ['cat', '/root/changed']);
    assert.equal(r.output.trim(), 'written-before-snapshot');
  });

  it('rebuild: same uuid, fresh container from the image, the old file system gone', async () => {
    const before = await flavorLimits(server);
    await cli(['server', 'rebuild', '--image', image.id, server]);
    const s = await waitForStatus(server, 'ACTIVE', 120_000);
    assert.equal(s.id, server);
    const after = await flavorLimits(server);
    assert.notEqual(after.startedAt, before.startedAt, 'a new container started');
    const r = await execIn(server, ['cat', '/root/changed']);
    assert.notEqual(r.exitCode, 0, 'the rebuilt container does not have the old file');
    assert.match(await cli(['console', 'log', 'show', server]), new RegExp(MARKER));
  });

  it('resize + confirm: the running container gets the new flavor\'s limits in place, kept after a stop and start; one allocation remains', async () => {
    const before = await flavorLimits(server);
    await cli(['server', 'resize', '--flavor', 'm1.small', server]);
    await waitForStatus(server, 'VERIFY_RESIZE', 120_000);
    const resized = await flavorLimits(server);
    assert.equal(resized.memoryMb, 512);
    assert.equal(resized.startedAt, before.startedAt, 'resized without a restart');
    assert.equal(await rootDiskLimitGb(server), 2, 'm1.small\'s root disk');
    await cli(['server', 'resize', 'confirm', server]);
    await waitForServer(server, 'ACTIVE after confirm', (s) => s?.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null, 60_000);
    const alloc = Object.values(await allocations(server));
    assert.equal(alloc.length, 1);
    assert.deepEqual(alloc[0].resources, { VCPU: 1, MEMORY_MB: 512, DISK_GB: 2 });
    // the engine sets a container's root disk limit again at each start, from what it recorded
    await cli(['server', 'stop', server]);
    await waitForStatus(server, 'SHUTOFF');
    await cli(['server', 'start', server]);
    await waitForStatus(server, 'ACTIVE');
    assert.equal(await rootDiskLimitGb(server), 2, 'm1.small\'s root disk after a stop and start');
  });

  it('resize + revert: the old flavor\'s limits and allocation come back', async () => {
    await cli(['server', 'resize', '--flavor', 'm1.medium', server]);
    await waitForStatus(server, 'VERIFY_RESIZE', 120_000);
    assert.deepEqual((({ cpus, memoryMb }) => ({ cpus, memoryMb }))(await flavorLimits(server)), { cpus: 2, memoryMb: 1024 });
    assert.equal(await rootDiskLimitGb(server), 5, 'm1.medium\'s root disk');
    await cli(['server', 'resize', 'revert', server]);
    await waitForServer(server, 'ACTIVE after revert', (s) => s?.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null, 60_000);
    assert.deepEqual((({ cpus, memoryMb }) => ({ cpus, memoryMb }))(await flavorLimits(server)), { cpus: 1, memoryMb: 512 });
    assert.equal(await rootDiskLimitGb(server), 2, 'm1.small\'s again');
    const alloc = Object.values(await allocations(server));
    assert.equal(alloc.length, 1);
    assert.deepEqual(alloc[0].resources, { VCPU: 1, MEMORY_MB: 512, DISK_GB: 2 });
  });

  it('shelve offloads (container gone, allocation given back); unshelve restores the file system and deletes the shelved image', async () => {
    await execIn(server, ['sh', '-c', 'echo kept-across-shelve > /root/shelved']);
    await cli(['server', 'shelve', server]);
    await waitForServer(server, 'SHELVED_OFFLOADED', (s) => s?.status === 'SHELVED_OFFLOADED' && s['OS-EXT-STS:task_state'] === null, 120_000);
    assert.equal(await inspectContainer(server), null, 'no container while offloaded');
    assert.deepEqual(await allocations(server), {}, 'no allocation while offloaded');
    const shelvedName = `${RUN}-src-shelved`;
    const shelved = (await cli(['image', 'list', '--name', shelvedName, '-f', 'value', '-c', 'ID'])).trim();
    assert.ok(shelved, 'the shelved snapshot is in Glance');
    created.engineRefs.add(`glance-image:${shelved}`);

    await cli(['server', 'unshelve', server]);
    await waitForStatus(server, 'ACTIVE', 120_000);
    const r = await execIn(server, ['cat', '/root/shelved']);
    assert.equal(r.output.trim(), 'kept-across-shelve');
    assert.equal(await glanceImage(shelved), null, 'the shelved image is deleted after unshelve');
    assert.equal(Object.keys(await allocations(server)).length, 1);
  });
});
