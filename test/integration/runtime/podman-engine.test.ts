/**
 * PodmanEngine against a real podman 4.3 service started as the local cloud starts it
 * (test/integration/runtime/podman-service.ts, btrfs store): a workload as the driver makes it
 * here has a namespace of its own, made before it runs, whose plugged device its first process
 * sees, and a prepare right after a stop survives the cleanup of the run that ended; its
 * listing shows each container as inspect does, the pid a VIF check needs included; a sandbox
 * and a workload joining it share network, host name and a user namespace whose root is an
 * unprivileged host id; ten instances made at once do not deadlock the service (podman's own
 * sizing of such namespaces does); the network files the driver writes reach both; changed
 * limits hold across a stop and start (podman's own update is lost at the next start); the
 * root disk grows in place and stays grown; images keep the names they were given, and one in
 * use is not removed; files given at a create are mounted read-only as its root's; removal
 * takes the engine's files along; a container's IPC namespace and /dev/shm are its own, with
 * no mount of them on the host.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { PodmanEngine } from '../../../src/runtime/podman-engine.js';
import { containerSubvolume, storageLayerId } from '../../../src/runtime/btrfs-root-disk.js';
import { sandboxSpec, workloadSpec } from '../../../src/runtime/instance-containers.js';
import { busyboxRootfs, collect } from '../glance-bridge/images.js';
import { startPodmanService, type PodmanService } from './podman-service.js';
import { waitFor } from '../../helpers/cloud.js';
import { cgroupValue } from '../../helpers/cgroup.js';
import { subvolumeQuotaGroup } from '../../helpers/root-disk.js';

const memoryLimit = (pid: number) => Number(cgroupValue(pid, 'memory', 'memory.limit_in_bytes'));
const cpuQuota = (pid: number) => Number(cgroupValue(pid, 'cpu', 'cpu.cfs_quota_us'));

/** The referenced-bytes limit of a subvolume's quota group. */
const qgroupLimit = async (subvolume: string) => Number((await subvolumeQuotaGroup(subvolume)).limit);

const ns = (pid: number, kind: string) => readlinkSync(`/proc/${pid}/ns/${kind}`);

describe('the podman engine (podman 4.3 system service, btrfs store)', function () {
  this.timeout(300_000);
  const uuid = randomUUID();
  let service: PodmanService;
  let engine: PodmanEngine;
  let stateDir = '';

  /**
   * The container's log once a line matches `line`. Beside a cloud coming up (test/run-all.sh) a
   * start can take many times its usual time; a timeout shows the log and state seen last.
   */
  async function logUntil(id: string, line: RegExp): Promise<string> {
    let last = '';
    try {
      return await waitFor('the first words', async () => {
        last = await engine.containerLogs(id);
        return line.test(last) ? last : null;
      }, 60_000, 200);
    } catch (err) {
      const state = await engine.inspectContainer(id).catch((e: Error) => e.message);
      throw new Error(`${(err as Error).message}; the container: ${JSON.stringify(state)}; its log so far:\n${last}`);
    }
  }

  before(async function () {
    this.timeout(600_000);
    service = await startPodmanService();
    stateDir = join(service.dir, 'state');
    engine = new PodmanEngine(service.endpoint, stateDir, '100000:65536', 60_000);
    const rootfs = await busyboxRootfs();
    await engine.importImage(Readable.from([rootfs]), 'nc-test/busybox', 't1', ['/bin/sleep']);
    await engine.importImage(Readable.from([rootfs]), 'nc-test/pause', 't1', ['/bin/sleep', '100000']);
    await engine.importImage(Readable.from([rootfs]), 'nc-test/shell', 't1', ['/bin/busybox', 'sh', '-c']);
  });

  after(async () => {
    await service?.stop();
  });

  let sandbox = '';
  let workload = '';
  const pidOf = async (id: string) => (await engine.inspectContainer(id))?.pid ?? 0;

  it('keeps the image names it was given (podman qualifies them) and reports its btrfs store', async () => {
    const info = await engine.info();
    assert.equal(info.storageDriver, 'btrfs');
    assert.equal(info.dataRoot, service.graphRoot);
    assert.deepEqual((await engine.inspectImage('nc-test/busybox:t1'))?.tags, ['nc-test/busybox:t1']);
    assert.deepEqual(await engine.listImageTags('nc-test/busybox'), ['nc-test/busybox:t1']);
  });

  it('a workload made as the driver makes it shares its sandbox\'s network, host name and user namespace, and reads the network files written to the sandbox', async () => {
    sandbox = await engine.createContainer(sandboxSpec(uuid, 'vm-podman', 'h1', 'nc-test/pause:t1'));
    // the driver starts the sandbox while it makes the workload, which joins it by name
    [, workload] = await Promise.all([engine.startContainer(sandbox), engine.createContainer(
      workloadSpec({ uuid, hostname: 'vm-podman', limits: { vcpus: 1, memoryMb: 64, pids: 64, rootGb: 1 }, metadata: {}, files: [], command: ['300'] },
        'h1', 'nc-test/busybox:t1', 'g1', { joinNetworkOf: `nova-${uuid}-net` }),
    )]);
    await engine.startContainer(workload);
    const [s, w] = [await pidOf(sandbox), await pidOf(workload)];
    assert.ok(s > 0 && w > 0, 'both run');
    for (const kind of ['net', 'uts', 'user']) assert.equal(ns(w, kind), ns(s, kind), `the workload is in the sandbox's ${kind} namespace`);
    assert.notEqual(ns(w, 'user'), ns(process.pid, 'user'), 'not the host\'s user namespace');
    assert.equal(readFileSync(`/proc/${w}/uid_map`, 'utf8').trim().split(/\s+/).join(' '), '0 100000 65536', 'root is host uid 100000, as with dockerd\'s userns-remap');
    assert.equal(statSync(`/proc/${w}/root/bin/busybox`).uid, 100000, 'the image\'s files are its root\'s');
    assert.equal(execFileSync('nsenter', ['-t', String(w), '-u', 'hostname'], { encoding: 'utf8' }).trim(), 'vm-podman');

    await engine.setNetworkFile(sandbox, 'hosts', '10.0.0.5\tvm-podman\n');
    await engine.setNetworkFile(sandbox, 'resolv.conf', 'nameserver 10.0.0.2\n');
    for (const pid of [s, w]) {
      assert.equal(readFileSync(`/proc/${pid}/root/etc/hosts`, 'utf8'), '10.0.0.5\tvm-podman\n');
      assert.equal(readFileSync(`/proc/${pid}/root/etc/resolv.conf`, 'utf8'), 'nameserver 10.0.0.2\n');
    }
  });

  it('a workload with a namespace of its own, as the driver makes it here: a device plugged into it once prepared is there for its first process, whose root binds port 80', async () => {
    const id = randomUUID();
    const script = 'busybox hostname; busybox ip -o link; busybox nc -l -p 80 & busybox sleep 1; busybox netstat -ltn; echo listed; exec busybox sleep 300';
    const own = await engine.createContainer(workloadSpec({ uuid: id, hostname: 'vm-own', limits: { vcpus: 1, memoryMb: 32, pids: 16 }, metadata: {}, files: [], command: [script] },
      'h1', 'nc-test/shell:t1', 'g1', { hostname: 'vm-own' }));
    const host = `vh${id.slice(0, 8)}`;
    try {
      const pid = await engine.prepareContainer(own, true);
      assert.equal((await engine.inspectContainer(own))?.pid, pid, 'the pid of its prepared process');
      assert.equal((await engine.inspectContainer(own))?.state, 'created', 'prepared, not running');
      execFileSync('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', `vc${id.slice(0, 8)}`]);
      execFileSync('ip', ['link', 'set', `vc${id.slice(0, 8)}`, 'netns', `/proc/${pid}/ns/net`]);
      execFileSync('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', 'link', 'set', `vc${id.slice(0, 8)}`, 'name', 'eth0']);
      await engine.startContainer(own);
      assert.equal(await pidOf(own), pid, 'the prepared process runs');
      // to the end of the listing (a MAC in `ip -o link` may hold ':80 ' too)
      const log = await logUntil(own, /^listed$/m);
      assert.match(log, /^vm-own$/m, 'the instance\'s host name');
      assert.match(log, /^\d+: eth0[@:]/m, `the plugged device, seen by the first process:\n${log}`);
      assert.match(log, /^tcp\s.*:80\s.*LISTEN/m, `root binds a port below 1024: the namespace is its user namespace's:\n${log}`);
      assert.notEqual(ns(pid, 'user'), ns(process.pid, 'user'));
    } finally {
      await engine.removeContainer(own);
    }
    assert.equal(existsSync(`/sys/class/net/${host}`), false, 'the host end went with the namespace');
  });

  it('lists by label as inspect shows each container: its state, the pid of a prepared and of a running one, none of a stopped one, its image\'s id', async () => {
    const label = { 'nc-test.listing': randomUUID() };
    const made = async (name: string) => engine.createContainer({ name: `nc-list-${name}-${uuid}`, image: 'nc-test/busybox:t1', labels: label, command: ['300'], limits: {} });
    const [created, prepared, running, stopped] = [await made('created'), await made('prepared'), await made('running'), await made('stopped')];
    await engine.createContainer({ name: `nc-list-other-${uuid}`, image: 'nc-test/busybox:t1', labels: {}, command: ['300'], limits: {} });
    try {
      await engine.prepareContainer(prepared, true);
      await engine.startContainer(running);
      await engine.startContainer(stopped);
      await engine.stopContainer(stopped, 0);
      const listed = new Map((await engine.listContainers(label)).map((c) => [c.id, c]));
      assert.deepEqual([...listed.keys()].sort(), [created, prepared, running, stopped].sort(), 'the labelled ones only');
      const image = (await engine.inspectImage('nc-test/busybox:t1'))?.id;
      for (const id of listed.keys()) {
        const inspected = await engine.inspectContainer(id);
        const c = listed.get(id);
        assert.deepEqual([c?.name, c?.state, c?.pid, c?.image], [inspected?.name, inspected?.state, inspected?.pid, image], `listed as inspected: ${inspected?.name}`);
      }
      assert.ok((listed.get(prepared)?.pid ?? 0) > 0 && (listed.get(running)?.pid ?? 0) > 0, 'a prepared and a running one have a process');
      assert.equal(listed.get(stopped)?.pid, 0, 'a stopped one has none');
    } finally {
      for (const name of ['created', 'prepared', 'running', 'stopped', 'other']) await engine.removeContainer(`nc-list-${name}-${uuid}`);
    }
  });

  it('files given at the create are there from the first start, its root\'s with their modes, read-only, also under the unit\'s umask; removal takes them along', async () => {
    const id = randomUUID();
    const files = [{ path: '/openstack/latest/meta_data.json', content: '{"uuid": "x"}\n', mode: 0o644 }, { path: '/openstack/latest/user_data', content: 'secret', mode: 0o600 }];
    // one stream: the log's stdout and stderr lines are not ordered between each other
    const script = 'exec 2>&1; busybox stat -c "%n %u %a" /openstack/latest/meta_data.json /openstack/latest/user_data; busybox stat -c "%n %a" /openstack/latest;'
      + ' busybox head -n 1 /etc/hosts; busybox cat /openstack/latest/user_data; echo;'
      + ' busybox touch /openstack/latest/x; echo changed >> /openstack/latest/meta_data.json; echo done; exec busybox sleep 300';
    const umask = process.umask(0o077); // etc/systemd/nova-container.service's
    const c = await engine.createContainer(workloadSpec({ uuid: id, hostname: 'vm-files', limits: { vcpus: 1, memoryMb: 32, pids: 16 }, metadata: {}, files, command: [script] },
      'h1', 'nc-test/shell:t1', 'g1', { hostname: 'vm-files' })).finally(() => process.umask(umask));
    const kept = join(stateDir, 'files', `nova-${id}`);
    try {
      await engine.prepareContainer(c);
      await engine.startContainer(c);
      const log = await logUntil(c, /^done$/m);
      assert.match(log, /^\/openstack\/latest\/meta_data\.json 0 644$/m, `the container's root owns them, with their modes:\n${log}`);
      assert.match(log, /^\/openstack\/latest\/user_data 0 600$/m);
      assert.match(log, /^\/openstack\/latest 755$/m, 'a directory anyone in it may list');
      assert.match(log, /^127\.0\.0\.1\s+localhost vm-files$/m, 'the network files are readable too');
      assert.match(log, /^secret$/m, 'root reads a file only root may read');
      assert.equal((log.match(/Read-only file system/g) ?? []).length, 2, `neither a new file nor a change:\n${log}`);
      assert.equal(readFileSync(join(kept, 'openstack/latest/meta_data.json'), 'utf8'), '{"uuid": "x"}\n');
    } finally {
      await engine.removeContainer(c);
    }
    assert.equal(existsSync(kept), false, 'the engine\'s copy went with the container');
  });

  it('a prepare right after a stop keeps its namespace to the start: the cleanup of the run that ended is waited for; a prepared one is taken as it is', async () => {
    const id = await engine.createContainer({ name: `nc-restart-${uuid}`, image: 'nc-test/busybox:t1', labels: {}, hostname: 'vm-again', command: ['300'], limits: {} });
    try {
      for (let round = 0; round < 3; round++) {
        const pid = await engine.prepareContainer(id);
        const net = ns(pid, 'net');
        const t0 = Date.now();
        assert.equal(await engine.prepareContainer(id), pid, `round ${round}: one prepared already is as good`);
        assert.ok(Date.now() - t0 < 1000, `round ${round}: and is not waited for (its conmon is its own): ${Date.now() - t0} ms`);
        // podman 4.3's cleanup of a run deletes a container prepared before it: it comes within a second of the stop
        await new Promise((r) => setTimeout(r, 1500));
        assert.ok(existsSync(`/proc/${pid}`), `round ${round}: the prepared process is still there`);
        await engine.startContainer(id);
        const running = await pidOf(id);
        assert.equal(running, pid, `round ${round}: the start runs the prepared process`);
        assert.equal(ns(running, 'net'), net, `round ${round}: in the prepared namespace`);
        await engine.stopContainer(id, 0);
      }
    } finally {
      await engine.removeContainer(id);
    }
  });

  it('removes a container the moment it started, however its removal and podman\'s cleanup of the run it ends interleave', async () => {
    // the race is rare (1 round in about 90 on the local cloud's podman); the unit test
    // (test/unit/runtime/podman-engine.test.ts) has both of its outcomes
    for (let round = 0; round < 12; round++) {
      const name = `nc-quick-${round}-${uuid}`;
      const id = await engine.createContainer({ name, image: 'nc-test/pause:t1', labels: {}, limits: {}, console: round % 4 < 2 });
      await engine.prepareContainer(id);
      await engine.startContainer(id);
      if (round % 2) await engine.stopContainer(id, 0); // as a delete does (its run ended, its cleanup starts)
      await engine.removeContainer(id);
      assert.equal(await engine.inspectContainer(name), null, `round ${round}: gone`);
    }
  });

  it('changed limits hold across a stop and start; the root disk grows in place and stays grown', async () => {
    assert.equal(memoryLimit(await pidOf(workload)), 64 * 2 ** 20);
    const subvolume = await containerSubvolume(service.graphRoot, workload, storageLayerId);
    assert.equal(await qgroupLimit(subvolume), 2 ** 30, 'made with 1 GB');

    await engine.updateLimits(workload, { memoryMb: 128, rootGb: 2 });
    assert.equal(memoryLimit(await pidOf(workload)), 128 * 2 ** 20, 'changed at once');
    assert.equal(await qgroupLimit(subvolume), 2 * 2 ** 30, 'grown at once');

    await engine.stopContainer(workload, 0);
    await engine.startContainer(workload);
    assert.equal(memoryLimit(await pidOf(workload)), 128 * 2 ** 20, 'still 128 MB after a stop and start');
    assert.equal(await qgroupLimit(subvolume), 2 * 2 ** 30, 'still 2 GB after a stop and start');

    // a flavor with a CPU bandwidth of its own, then one with vCPUs alone (a resize back)
    await engine.updateLimits(workload, { vcpus: 1, cpuBandwidth: { periodUs: 100_000, quotaUs: 30_000 } });
    assert.equal(cpuQuota(await pidOf(workload)), 30_000);
    await engine.updateLimits(workload, { vcpus: 2 });
    await engine.stopContainer(workload, 0);
    await engine.startContainer(workload);
    assert.equal(cpuQuota(await pidOf(workload)), 200_000, 'the vCPUs\' quota, not the earlier flavor\'s bandwidth');
    assert.equal(memoryLimit(await pidOf(workload)), 128 * 2 ** 20, 'what the later changes left alone stays');
  });

  it('a container with changed limits that ends as soon as it starts has still started', async () => {
    const id = await engine.createContainer({ name: `nc-brief-${uuid}`, image: 'nc-test/busybox:t1', labels: {}, command: ['0'], limits: { memoryMb: 32 } });
    await engine.updateLimits(id, { memoryMb: 48 });
    await engine.startContainer(id);
    await engine.removeContainer(id);
  });

  it('refuses a name in use before touching the network files of the container holding it', async () => {
    const hosts = readFileSync(join(stateDir, 'network', `nova-${uuid}-net`, 'hosts'), 'utf8');
    await assert.rejects(engine.createContainer(sandboxSpec(uuid, 'other', 'h1', 'nc-test/pause:t1')), /already in use/);
    assert.equal(readFileSync(join(stateDir, 'network', `nova-${uuid}-net`, 'hosts'), 'utf8'), hosts);
  });

  it('commits a workload as a sha256 image id that saves and loads again', async () => {
    const id = await engine.commitContainer(workload, 'nc-test/snap', 's1', { 'nc.test': 'yes' });
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const info = await engine.inspectImage('nc-test/snap:s1');
    assert.equal(info?.id, id);
    assert.equal(info?.labels['nc.test'], 'yes');
    const archive = await engine.saveImage('nc-test/snap:s1');
    await engine.removeImage('nc-test/snap:s1');
    assert.equal(await engine.inspectImage('nc-test/snap:s1'), null);
    await engine.loadImage(archive);
    assert.equal((await engine.inspectImage('nc-test/snap:s1'))?.id, id);
  });

  it('an import, a load and a cut load leave no upload in podman\'s temp dir', async () => {
    const uploads = () => readdirSync(service.tmpDir).filter((f) => /\.tar/.test(f));
    assert.deepEqual(uploads(), [], 'after the imports and the load before');
    const archive = await collect(await engine.saveImage('nc-test/snap:s1'));
    await engine.removeImage('nc-test/snap:s1');
    await assert.rejects(engine.loadImage(Readable.from([archive.subarray(0, archive.length >> 1)])), /load image/);
    assert.equal(await engine.inspectImage('nc-test/snap:s1'), null, 'half an archive loads nothing');
    assert.deepEqual(uploads(), [], 'after a cut load');
  });

  it('a load that streams slower than the client\'s timeout still loads: the timeout runs between reads, not over the upload', async () => {
    const archive = await collect(await engine.saveImage('nc-test/busybox:t1'));
    const slow = new PodmanEngine(service.endpoint, stateDir, '100000:65536', 3000);
    const parts = 10;
    const size = Math.ceil(archive.length / parts);
    async function* trickle(): AsyncGenerator<Buffer> {
      for (let i = 0; i < parts; i++) {
        yield archive.subarray(i * size, (i + 1) * size);
        await new Promise((r) => setTimeout(r, 600));
      }
    }
    const t0 = Date.now();
    assert.deepEqual(await slow.loadImage(Readable.from(trickle())), ['nc-test/busybox:t1']);
    assert.ok(Date.now() - t0 > 5000, `the upload took ${Date.now() - t0} ms, longer than the 3 s timeout`);
  });

  it('makes ten instances at once, each in its own user namespace over the same host ids', async function () {
    this.timeout(180_000);
    const t0 = Date.now();
    // as the driver makes them here: created, prepared, started
    const made = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
      const id = randomUUID();
      const wl = await engine.createContainer(workloadSpec({ uuid: id, hostname: `vm${i}`, limits: { vcpus: 1, memoryMb: 32, pids: 16, rootGb: 1 }, metadata: {}, files: [], command: ['300'] },
        'h1', 'nc-test/busybox:t1', 'g1', { hostname: `vm${i}` }));
      await engine.prepareContainer(wl);
      await engine.startContainer(wl);
      return wl;
    }));
    console.log(`      10 workloads made, prepared and started at once: ${Date.now() - t0} ms`);
    const userNamespaces = new Set<string>();
    for (const wl of made) {
      const pid = await pidOf(wl);
      userNamespaces.add(ns(pid, 'user'));
      assert.equal(readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split(/\s+/).join(' '), '0 100000 65536');
    }
    assert.equal(userNamespaces.size, 10, 'a user namespace each');
    for (const wl of made) await engine.removeContainer(wl);
  });

  it('adds no mount to the host for a container: its IPC namespace and its /dev/shm are its own, inside it', async () => {
    // podman's own IPC modes mount each /dev/shm on the host, copied into every later conmon's mount namespace
    const shmMountsOnHost = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
      .filter((l) => l.includes(service.dir) && l.includes('/userdata/shm')).length;
    const made = await Promise.all(Array.from({ length: 3 }, async (_, i) => {
      const wl = await engine.createContainer(workloadSpec({ uuid: randomUUID(), hostname: `shm${i}`, limits: { vcpus: 1, memoryMb: 32, pids: 16 }, metadata: {}, files: [], command: ['300'] },
        'h1', 'nc-test/busybox:t1', 'g1', { hostname: `shm${i}` }));
      await engine.prepareContainer(wl);
      await engine.startContainer(wl);
      return wl;
    }));
    try {
      assert.equal(shmMountsOnHost(), 0, 'no /dev/shm of the containers in the host\'s namespace');
      const ipc = new Set<string>([ns(process.pid, 'ipc')]);
      for (const wl of made) {
        const pid = await pidOf(wl);
        ipc.add(ns(pid, 'ipc'));
        assert.match(readFileSync(`/proc/${pid}/mountinfo`, 'utf8'), /^\S+ \S+ \S+ \/ \/dev\/shm rw,nosuid,nodev,noexec\S* - tmpfs .*size=65536k/m);
        // the container's root writes there, as into a VM's /dev/shm
        assert.equal(execFileSync('nsenter', ['-t', String(pid), '-U', '-m', '/bin/sh', '-c', 'echo shared > /dev/shm/x && cat /dev/shm/x'], { encoding: 'utf8' }), 'shared\n');
      }
      assert.equal(ipc.size, 4, 'an IPC namespace each, not the host\'s');
    } finally {
      for (const wl of made) await engine.removeContainer(wl);
    }
  });

  it('an image a container uses is kept with an error, the container left (podman\'s forced removal takes it along); another name of it goes alone', async () => {
    const rootfs = await busyboxRootfs();
    await engine.importImage(Readable.from([rootfs]), 'nc-test/inuse', 't1', ['/bin/sleep']);
    const id = await engine.createContainer({ name: `nc-inuse-${uuid}`, image: 'nc-test/inuse:t1', labels: {}, command: ['300'], limits: {} });
    await engine.startContainer(id);
    await engine.tagImage('nc-test/inuse:t1', 'nc-test/inuse', 't2');
    await engine.removeImage('nc-test/inuse:t2');
    assert.deepEqual(await engine.listImageTags('nc-test/inuse'), ['nc-test/inuse:t1'], 'a name among others is only taken away');
    await assert.rejects(engine.removeImage('nc-test/inuse:t1'), /remove image nc-test\/inuse:t1/);
    assert.equal((await engine.inspectContainer(id))?.state, 'running');
    await engine.removeContainer(id);
    await engine.removeImage('nc-test/inuse:t1');
    assert.equal(await engine.inspectImage('nc-test/inuse:t1'), null, 'removed once no container uses it');
  });

  it('at start, drops the files it kept for containers removed behind its back, and only those', async () => {
    const other = randomUUID();
    const sb = await engine.createContainer(sandboxSpec(other, 'vm-gone', 'h1', 'nc-test/pause:t1'));
    await engine.updateLimits(sb, { memoryMb: 64 });
    const given = await engine.createContainer({ name: `nova-${other}`, image: 'nc-test/busybox:t1', labels: {}, limits: {}, files: [{ path: '/openstack/latest/user_data', content: 'x' }] });
    const files = [join(stateDir, 'network', `nova-${other}-net`), join(stateDir, 'limits', `${sb}.json`), join(stateDir, 'files', `nova-${other}`)];
    assert.ok(files.every((f) => existsSync(f)), 'the engine kept files for them');
    service.podman(['rm', '-f', sb, given]);
    const fresh = new PodmanEngine(service.endpoint, stateDir, '100000:65536', 60_000);
    assert.deepEqual((await fresh.forgetRemovedContainers()).sort(), [`nova-${other}-net`, `nova-${other}`, sb].sort());
    assert.deepEqual(files.filter((f) => existsSync(f)), [], 'its files are gone');
    assert.ok(existsSync(join(stateDir, 'limits', `${workload}.json`)) && existsSync(join(stateDir, 'network', `nova-${uuid}-net`)),
      'those of containers still there stay');
    assert.deepEqual(await fresh.forgetRemovedContainers(), [], 'nothing more to drop');
  });

  it('removes the workload, then the sandbox, with the files the engine kept for them', async () => {
    const limits = join(stateDir, 'limits', `${workload}.json`);
    const network = join(stateDir, 'network', `nova-${uuid}-net`);
    assert.ok(existsSync(limits) && existsSync(network));
    await engine.removeContainer(workload);
    await engine.removeContainer(sandbox);
    assert.equal(await engine.inspectContainer(workload), null);
    assert.equal(await engine.inspectContainer(sandbox), null);
    assert.equal(existsSync(limits) || existsSync(network), false, 'nothing of theirs is left under the state directory');
  });
});
