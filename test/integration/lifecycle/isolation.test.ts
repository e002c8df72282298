/**
 * Tenant isolation through the real CLI and engine: what a server is held to (its flavor's
 * processes, CPU weight and quota, disk I/O, root disk), whose root it runs as on the host (an
 * unprivileged id of the engine's user namespace remapping), and the hardening every container gets
 * (no-new-privileges, the engine's default capabilities and seccomp profile, masked /proc
 * paths). A fork bomb in one server stops at that server's process limit while another
 * server is stopped and started and the compute service stays up; a flavor asking for a
 * limit this host cannot enforce ends in ERROR with a fault naming it, leaving nothing behind.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, statfsSync } from 'node:fs';
import { computeConfValue, waitFor } from '../../helpers/cloud.js';
import { computeService, providerInventory, providersNamed } from '../../helpers/rest.js';
import { ENGINE_DRIVER, engineDataRoot } from '../glance-bridge/images.js';
import {
  Created, SANDBOXED, cli, deleteWithCli, engine, execIn, inspectContainer, logRecords, orphanContainers, sandboxNameOf, waitForStatus,
} from '../../helpers/servers.js';
import { fillRootDiskToTheLimit, rootDiskLimit, rootDiskLimitGb } from '../../helpers/root-disk.js';
import { cgroupValue } from '../../helpers/cgroup.js';
import { DEFAULT_PODMAN_USERNS_REMAP } from '../../../src/runtime/podman-engine.js';
import { RUN, sharedImage } from './fixture.js';

/** Docker's default capability set (CapBnd of a container it starts without --cap-add). */
const DOCKER_DEFAULT_CAPS = '00000000a80425fb';
/** The local cloud's compute host, which runs these servers. */
const HOST = computeConfValue('DEFAULT', 'host') ?? '';

/** A value of the container's cgroup `controller` (v1), found from its first process. */
function statusField(status: string, field: string): string {
  return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '';
}

describe('lifecycle: a server is held to its flavor and cannot widen its privileges', function () {
  this.timeout(600_000);
  const c = new Created();
  const flavors: string[] = [];
  let plain: string; // m1.tiny
  let bomb: string; // 64 processes at most
  let throttled: string; // 1 MB/s writes, CPU weight and quota

  async function flavor(name: string, properties: Record<string, string>): Promise<string> {
    const args = ['flavor', 'create', '--ram', '128', '--disk', '1', '--vcpus', '1'];
    for (const [k, v] of Object.entries(properties)) args.push('--property', `${k}=${v}`);
    await cli([...args, name, '-f', 'value', '-c', 'id']);
    flavors.push(name);
    return name;
  }

  before(async function () {
    this.timeout(300_000);
    const image = (await sharedImage()).id;
    const [bombFlavor, ioFlavor] = [
      await flavor(`${RUN}-pids64`, { 'container:pids_limit': '64' }),
      await flavor(`${RUN}-io`, { 'quota:disk_write_bytes_sec': '1048576', 'quota:cpu_shares': '512', 'quota:cpu_quota': '50000' }),
    ];
    plain = await c.boot(`${RUN}-iso-plain`, { image });
    bomb = await c.boot(`${RUN}-iso-bomb`, { image, flavor: bombFlavor });
    throttled = await c.boot(`${RUN}-iso-io`, { image, flavor: ioFlavor });
    for (const id of [plain, bomb, throttled]) await waitForStatus(id, 'ACTIVE', 180_000);
  });

  after(async function () {
    this.timeout(300_000);
    await c.cleanup();
    for (const f of flavors) await cli(['flavor', 'delete', f]).catch(() => undefined);
  });

  it('every container: no-new-privileges, the engine\'s default capabilities and seccomp profile, masked /proc paths, not privileged', async () => {
    for (const id of [plain, bomb, throttled]) {
      for (const name of [`nova-${id}`, ...(SANDBOXED ? [sandboxNameOf(id)] : [])]) {
        const h = (await engine().getContainer(name).inspect()).HostConfig;
        assert.equal(h.Privileged, false, name);
        assert.deepEqual(h.SecurityOpt, ['no-new-privileges'], `${name}: no-new-privileges, and no seccomp or AppArmor override`);
        assert.ok(!h.CapAdd || h.CapAdd.length === 0, `${name} adds no capability`);
        // podman's inspect reports no masked paths; the look from inside below holds for both engines
        if (ENGINE_DRIVER === 'docker') assert.ok((h.MaskedPaths ?? []).includes('/proc/keys'), `${name}: the engine's masked paths`);
      }
    }
    const status = (await execIn(plain, ['/bin/cat', '/proc/1/status'])).output;
    assert.equal(statusField(status, 'NoNewPrivs'), '1');
    assert.equal(statusField(status, 'Seccomp'), '2', 'seccomp filter mode');
    assert.equal(statusField(status, 'CapBnd'), DOCKER_DEFAULT_CAPS);
    // the engine masks a file by mounting /dev/null over it (those of its list this kernel has)
    assert.equal((await execIn(plain, ['/bin/sh', '-c', '[ -c /proc/keys ] && [ -c /proc/timer_list ]'])).exitCode, 0, '/proc/keys and /proc/timer_list are masked');
  });

  it('the flavor\'s limits: processes per vCPU by default, container:pids_limit, CPU weight and quota, write throttle on the engine\'s disk', async () => {
    const p = (await inspectContainer(plain))!.HostConfig;
    assert.equal(p.PidsLimit, 1024, 'm1.tiny: 1 vCPU x [container] pids_per_vcpu');
    assert.equal(p.CpuQuota, 100_000);
    assert.equal(p.CpuPeriod, 100_000);
    assert.equal((await inspectContainer(bomb))!.HostConfig.PidsLimit, 64);
    const t = (await inspectContainer(throttled))!.HostConfig;
    assert.equal(t.CpuShares, 512);
    assert.equal(t.CpuQuota, 50_000);
    assert.equal(t.BlkioDeviceWriteBps?.length, 1);
    assert.equal(t.BlkioDeviceWriteBps?.[0].Rate, 1048576);
    const pid = (await inspectContainer(throttled))!.State.Pid;
    assert.match(cgroupValue(pid, 'blkio', 'blkio.throttle.write_bps_device'), /^\d+:\d+ 1048576$/);
  });

  it('quota:disk_write_bytes_sec=1048576: 8 MB written with O_DIRECT takes about 8 s, many times the same write without the limit', async () => {
    const write = async (id: string) => {
      const t0 = Date.now();
      const r = await execIn(id, ['/bin/sh', '-c', 'dd if=/dev/zero of=/root/dd bs=1M count=8 oflag=direct && rm /root/dd']);
      assert.equal(r.exitCode, 0, r.output);
      return (Date.now() - t0) / 1000;
    };
    const free = await write(plain);
    const limited = await write(throttled);
    console.log(`      8 MB O_DIRECT: ${limited.toFixed(2)} s at 1 MB/s, ${free.toFixed(2)} s without the limit (${(limited / free).toFixed(1)}x)`);
    assert.ok(limited / free >= 4, `the throttled write took ${limited.toFixed(2)} s, the free one ${free.toFixed(2)} s`);
  });

  it('a fork bomb stops at its server\'s process limit; another server stops and starts meanwhile, the compute service stays up', async () => {
    // the exec's shell forks once, before the bomb runs: had it forked the bomb's pipeline
    // itself, its second half could meet the limit the first half's children reached (exit 2)
    const r = await execIn(bomb, ['/bin/sh', '-c', '(b() { b | b & }; b) & exit 0']);
    assert.equal(r.exitCode, 0, r.output);
    const pid = (await inspectContainer(bomb))!.State.Pid;
    await waitFor('the bomb to reach its limit', async () => Number(/max (\d+)/.exec(cgroupValue(pid, 'pids', 'pids.events'))?.[1]) > 0, 60_000, 200);
    assert.equal(cgroupValue(pid, 'pids', 'pids.max'), '64');
    assert.ok(Number(cgroupValue(pid, 'pids', 'pids.current')) <= 64);

    await cli(['server', 'stop', plain]);
    await waitForStatus(plain, 'SHUTOFF', 120_000);
    await cli(['server', 'start', plain]);
    await waitForStatus(plain, 'ACTIVE', 120_000);
    assert.equal((await execIn(plain, ['/bin/echo', 'alive'])).output, 'alive\n');
    assert.equal((await computeService(HOST))?.state, 'up');
    assert.ok(Number(cgroupValue(pid, 'pids', 'pids.current')) <= 64, 'still held');

    // the bomb's server still answers Nova: stopped, then deleted like any other
    await cli(['server', 'stop', bomb]);
    await waitForStatus(bomb, 'SHUTOFF', 120_000);
  });

  it('the server\'s root runs as an unprivileged host user (user namespace remapping), root inside', async () => {
    // dockerd's userns-remap takes dockremap's subordinate ids; podman the range nova-container gives it
    const [, first, count] = ENGINE_DRIVER === 'podman'
      ? /^(\d+):(\d+)$/.exec(computeConfValue('container', 'podman_userns_remap') ?? DEFAULT_PODMAN_USERNS_REMAP) ?? []
      : /^dockremap:(\d+):(\d+)$/m.exec(readFileSync('/etc/subuid', 'utf8')) ?? [];
    assert.ok(first, 'the engine remaps ids to a range of host ids');
    for (const id of [plain, throttled]) {
      const pid = (await inspectContainer(id))!.State.Pid;
      const uids = statusField(readFileSync(`/proc/${pid}/status`, 'utf8'), 'Uid').split(/\s+/).map(Number);
      assert.ok(uids.every((u) => u >= Number(first) && u < Number(first) + Number(count)), `host uids of ${id}'s first process: ${uids.join(' ')}`);
      assert.equal((await execIn(id, ['/bin/sh', '-c', 'id -u'])).output.trim(), '0');
    }
    // every container's root is that one host uid, whose kernel key quota takes a session
    // keyring per container (devstack/lib/common.sh raise_key_quota)
    assert.ok(Number(readFileSync('/proc/sys/kernel/keys/maxkeys', 'utf8')) >= 20_000, 'kernel.keys.maxkeys holds a keyring per container');
  });

  it('writing past root_gb fails inside the server only; it still snapshots running and stopped, starts and deletes', async () => {
    const f = await flavor(`${RUN}-disk1`, {});
    const id = await c.boot(`${RUN}-iso-fill`, { image: (await sharedImage()).id, flavor: f });
    await waitForStatus(id, 'ACTIVE', 180_000);
    assert.equal(await rootDiskLimitGb(id), 1);
    const hostFree = () => statfsSync('/').bavail * statfsSync('/').bsize;
    const before = hostFree();
    const fill = await execIn(id, ['/bin/sh', '-c', 'dd if=/dev/zero of=/root/fill bs=1M count=1300; r=$?; sync; exit $r']);
    assert.notEqual(fill.exitCode, 0, 'the write stopped');
    // btrfs quota groups answer EDQUOT
    assert.match(fill.output, /Disk quota exceeded/, fill.output);
    const written = Number((await execIn(id, ['/bin/sh', '-c', 'wc -c < /root/fill'])).output.trim());
    assert.ok(written < 2 ** 30, `${written} bytes written`);
    assert.ok(before - hostFree() < 1.5 * 2 ** 30, `the host lost ${before - hostFree()} bytes of free space`);
    const other = await execIn(plain, ['/bin/sh', '-c', 'dd if=/dev/zero of=/root/other bs=1M count=8 && rm /root/other']);
    assert.equal(other.exitCode, 0, `another server still writes: ${other.output}`);

    // Each mount of a full disk below (the snapshots, the start) is refused by the engine's
    // btrfs driver until the compute makes room for it (src/runtime/btrfs-root-disk.ts). The fill
    // leaves the disk that full on some runs only: fillRootDiskToTheLimit makes it so, at
    // whatever the disk holds. The file goes first: in each snapshot it would be a layer of a
    // GB for Glance, and a minute of the test.
    assert.equal((await execIn(id, ['/bin/sh', '-c', 'rm /root/fill && sync'])).exitCode, 0);
    const containerId = (await inspectContainer(id))!.Id;
    const roomMade = () => logRecords('the container\'s root disk is full: its mount is tried again with room for its limit', { container: containerId }).length;
    // active (Created.snapshot waits for it), or the compute deleted the image it could not fill: say why
    const snapshot = async (name: string) => {
      try {
        await c.snapshot(id, name);
      } catch (err) {
        const why = logRecords('instance action failed', { instance: id }).map((r) => r.err);
        throw new Error(`${String(err)}\nthe compute's failures for ${id}: ${JSON.stringify(why)}`);
      }
    };
    let size = await fillRootDiskToTheLimit(id);
    await snapshot(`${RUN}-fill-snap-running`);
    assert.equal(roomMade(), 1);
    assert.equal(await rootDiskLimit(id), String(size), 'the running server is held to its size again');

    await cli(['server', 'stop', id]);
    await waitForStatus(id, 'SHUTOFF', 120_000);
    size = await fillRootDiskToTheLimit(id);
    await snapshot(`${RUN}-fill-snap`);
    assert.equal(roomMade(), 2);
    assert.equal(await rootDiskLimit(id), String(size));
    // it starts with its full disk, held to its size again
    size = await fillRootDiskToTheLimit(id);
    await cli(['server', 'start', id]);
    await waitForStatus(id, 'ACTIVE', 120_000);
    assert.equal(roomMade(), 3);
    assert.equal(await rootDiskLimit(id), String(size));
    await deleteWithCli(id);
    assert.equal(await inspectContainer(id), null);
  });

  it('Placement\'s DISK_GB is the engine\'s disk (the file system of its data root), which the root disks come out of', async () => {
    const [rp] = await providersNamed(HOST);
    const inv = await providerInventory(rp.uuid);
    const fs = statfsSync(engineDataRoot());
    assert.equal(inv.DISK_GB?.total, Math.floor((fs.blocks * fs.bsize) / 2 ** 30));
  });

  it('a flavor asking for what this host cannot enforce: ERROR, a fault naming it, nothing left behind', async () => {
    const f = await flavor(`${RUN}-vif`, { 'quota:vif_inbound_average': '1000' });
    const id = await c.boot(`${RUN}-iso-vif`, { image: (await sharedImage()).id, flavor: f });
    const s = await waitForStatus(id, 'ERROR', 120_000);
    assert.match(s.fault?.message ?? '', /quota:vif_inbound_average \(network bandwidth limits are not enforced by this host\)/);
    assert.equal(await inspectContainer(id), null);
    assert.ok(!(await orphanContainers()).some((n) => n.includes(id)));
  });
});
