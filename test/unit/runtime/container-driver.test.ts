/**
 * The container driver's rules with an in-memory engine and plugger (the real engine and
 * kernel are in test/integration/network/sandbox.test.ts): the order of a spawn (nothing of
 * the workload runs before every VIF is plugged and reported), what a destroy tolerates, the
 * unpause-before-stop rule, and VIF checks in eth order against the sandbox.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../../../src/common/log.js';
import { captureLogs } from '../../helpers/log-capture.js';
import { ContainerDriver } from '../../../src/runtime/container-driver.js';
import { SerialConsoles } from '../../../src/runtime/serial-consoles.js';
import { InstanceMissing, PowerState, capabilityTraits, type InstanceSpec, type VirtApi } from '../../../src/nova-driver/instance-driver.js';
import { VifPluggers } from '../../../src/network/pluggers.js';
import type { EnsureOutcome, PlugTarget, PluggedDevice, VifPlugger } from '../../../src/network/vif-plug.js';
import type { VifModel } from '../../../src/network/network-info.js';
import { ImageMissing, type ContainerEngine, type ContainerSpec, type ContainerStatus, type ContainerSummary } from '../../../src/runtime/types.js';

const UUID = '11111111-2222-3333-4444-555555555555';

interface FakeContainer { id: string; spec: ContainerSpec; state: ContainerStatus['state']; pid: number }

/**
 * Containers by name, every call in order; `refuse` makes removeContainer fail for a name. What
 * one engine or the other refuses, it refuses: Docker's start of a container joining one that
 * does not run, podman's create of one joining a container that does not exist, and podman's
 * removal of a container others joined.
 */
class FakeEngine {
  calls: string[] = [];
  containers = new Map<string, FakeContainer>();
  refuse = new Set<string>();
  /** false: as Docker, a container others joined can be removed before them */
  dependentsFirst = true;
  /** What forgetRemovedContainers reports dropping, or the error it fails with. */
  forgotten: string[] | Error = [];
  /** Images a create is refused for want of (removed behind the driver's back). */
  missingImages = new Set<string>();
  protected nextPid = 100;
  protected byId(id: string): FakeContainer | undefined {
    return [...this.containers.values()].find((c) => c.id === id || c.spec.name === id);
  }
  async info() { return { version: '4.3.1', dataRoot: '/var/lib/engine', storageDriver: 'btrfs' }; }
  async forgetRemovedContainers() {
    this.calls.push('forgetRemovedContainers');
    if (this.forgotten instanceof Error) throw this.forgotten;
    return this.forgotten;
  }
  /** What putBackRootDiskRooms reports, or the error it fails with. */
  roomsPutBack: string[] | Error = [];
  async putBackRootDiskRooms() {
    this.calls.push('putBackRootDiskRooms');
    if (this.roomsPutBack instanceof Error) throw this.roomsPutBack;
    return this.roomsPutBack;
  }
  /** How many times the sandbox image was looked for. */
  sandboxImageInspects = 0;
  async inspectImage(ref: string) {
    if (ref.startsWith('nova-container/sandbox:')) this.sandboxImageInspects++;
    return ref.startsWith('nova-container/sandbox:') && this.calls.includes('importImage') && !this.missingImages.has(ref) ? { id: ref } : null;
  }
  async importImage(_archive: unknown, repo: string, tag: string) {
    this.calls.push('importImage');
    this.missingImages.delete(`${repo}:${tag}`);
  }
  async createContainer(spec: ContainerSpec) {
    // as podman: the namespaces a container joins must exist when it is made
    if (spec.joinNetworkOf && !this.byId(spec.joinNetworkOf)) throw new Error(`no container with name or ID "${spec.joinNetworkOf}" found`);
    if (this.missingImages.has(spec.image)) throw new ImageMissing(spec.image, `no such image: ${spec.image}`);
    this.calls.push(`create ${spec.name}`);
    this.containers.set(spec.name, { id: `id-${spec.name}`, spec, state: 'created', pid: 0 });
    return `id-${spec.name}`;
  }
  async startContainer(id: string) {
    const c = this.byId(id)!;
    // as Docker: a container joining another's network starts only while that one runs
    const joined = c.spec.joinNetworkOf ? this.byId(c.spec.joinNetworkOf) : undefined;
    if (c.spec.joinNetworkOf && joined?.state !== 'running') throw new Error(`cannot join network of a non running container: ${c.spec.joinNetworkOf}`);
    this.calls.push(`start ${c.spec.name}`);
    c.state = 'running';
    c.pid ||= this.nextPid++; // a prepared one runs the process it was prepared with
  }
  async stopContainer(id: string, grace: number) {
    const c = this.byId(id)!;
    this.calls.push(`stop ${c.spec.name} ${grace}`);
    if (c.state === 'paused') throw new Error('cannot stop a paused container');
    c.state = 'exited';
    c.pid = 0;
  }
  /** Image tags (`repo:tag`), as commits made them. */
  tags: string[] = [];
  async commitContainer(id: string, repo: string, tag: string) { this.calls.push(`commit ${this.byId(id)!.spec.name}`); this.tags.push(`${repo}:${tag}`); return `img-${tag}`; }
  async listImageTags(repo: string) { return this.tags.filter((t) => t.startsWith(`${repo}:`)); }
  async removeImage(ref: string) { this.calls.push(`removeImage ${ref}`); this.tags = this.tags.filter((t) => t !== ref); }
  async unpauseContainer(id: string) { const c = this.byId(id)!; this.calls.push(`unpause ${c.spec.name}`); c.state = 'running'; }
  async pauseContainer(id: string) { const c = this.byId(id)!; this.calls.push(`pause ${c.spec.name}`); c.state = 'paused'; }
  async setNetworkFile(id: string, file: string) { this.calls.push(`${file} ${this.byId(id)!.spec.name}`); }
  async removeContainer(id: string) {
    const c = this.byId(id);
    if (c && this.refuse.has(c.spec.name)) throw new Error('device or resource busy');
    // as podman: a container others joined goes after them
    const dependent = c && this.dependentsFirst && [...this.containers.values()].find((o) => o.spec.joinNetworkOf && this.byId(o.spec.joinNetworkOf) === c);
    if (dependent) throw new Error(`container ${c.id} has dependent containers which must be removed before it: ${dependent.id}`);
    if (c) { this.calls.push(`remove ${c.spec.name}`); this.containers.delete(c.spec.name); }
  }
  /** Whether a listing gives pids (podman's own does, Docker's not). */
  protected listingGivesPids = false;
  inspects = 0;
  async listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    this.calls.push('list');
    return [...this.containers.values()].filter((c) => Object.entries(labels).every(([k, v]) => c.spec.labels[k] === v))
      .map((c) => ({ id: c.id, name: c.spec.name, image: c.spec.image, labels: c.spec.labels, state: c.state, exitCode: 0, ...(this.listingGivesPids ? { pid: c.pid } : {}) }));
  }
  async inspectContainer(idOrName: string): Promise<ContainerStatus | null> {
    this.inspects++;
    const c = this.byId(idOrName);
    if (!c) return null;
    return {
      id: c.id, name: c.spec.name, image: c.spec.image, labels: c.spec.labels, state: c.state, pid: c.pid, exitCode: 0, startedAt: null, finishedAt: null,
      nanoCpus: 0, memoryBytes: 0, pidsLimit: 0, hostname: c.spec.hostname ?? '', env: [], command: [], console: c.spec.console ?? false,
    };
  }
}

/** As podman: a container's namespaces and first process are made without running it. */
class PreparingFakeEngine extends FakeEngine {
  protected override listingGivesPids = true;
  async prepareContainer(id: string) {
    const c = this.byId(id)!;
    this.calls.push(`prepare ${c.spec.name}`);
    c.pid ||= this.nextPid++;
    return c.pid;
  }
}

/** `listings` counts the host-wide listings of its devices; `refuse` makes remove fail for a device. */
class FakePlugger implements VifPlugger {
  readonly vifTypes = ['bridge'];
  constructor(private readonly calls: string[], readonly outcomes = new Map<string, EnsureOutcome>()) {}
  devices: PluggedDevice[] = [];
  listings = 0;
  refuse = new Set<string>();
  async plug(vif: VifModel, t: PlugTarget) { this.calls.push(`plug ${vif.id} ${t.ifname} into ${t.netns}`); }
  async ensure(vif: VifModel, t: PlugTarget) { this.calls.push(`ensure ${vif.id} ${t.ifname} into ${t.netns}`); return this.outcomes.get(vif.id) ?? 'ok'; }
  async plugged() { this.listings++; return this.devices; }
  async remove(devname: string) {
    if (this.refuse.has(devname)) throw new Error('operation not permitted');
    this.calls.push(`remove-device ${devname}`);
  }
}

const vif = (id: string, type = 'bridge', active = false): VifModel => ({
  id, type, active, devname: `tap${id}`, address: 'fa:16:3e:00:00:01',
  network: { id: 'n', bridge: 'brqn', label: 'private', meta: {}, subnets: [] },
} as unknown as VifModel);

const spec: InstanceSpec = { uuid: UUID, hostname: 'vm1', limits: { vcpus: 1, memoryMb: 64, pids: 64 }, metadata: {}, files: [{ path: '/openstack/latest/meta_data.json', content: '{}' }] };

/** One file standing in for the sandbox's init, shared by every driver of this file and removed after it. */
const initDir = mkdtempSync(join(tmpdir(), 'nc-sbx-'));
const init = join(initDir, 'catatonit');
writeFileSync(init, 'a static pause binary');
after(() => rmSync(initDir, { recursive: true, force: true }));

function driver(virtApi?: VirtApi, engineName = 'docker', log: Logger = silentLogger(), engine = new FakeEngine(), consoles: SerialConsoles | null = null) {
  const plugger = new FakePlugger(engine.calls);
  const api: VirtApi = virtApi ?? {
    async waitForVifPlugged(_uuid, ports, plug) { await plug(); engine.calls.push(`waited ${ports.join(',')}`); },
  };
  const d = new ContainerDriver({
    host: 'h1', engineName, engine: engine as unknown as ContainerEngine, pluggers: new VifPluggers([plugger]),
    virtApi: api, sandboxInit: init, consoles, log,
  });
  return { d, engine, plugger };
}

const images = { ensure: async () => 'glance-image:g1', upload: async () => undefined };

describe('container driver', () => {
  it('init: first drops the engine files of containers removed while the service was down and puts back root disk sizes a mount left with room, then makes the sandbox image', async () => {
    const logs = captureLogs();
    const { d, engine } = driver(undefined, 'podman', logs.log);
    engine.forgotten = ['nova-x-net'];
    engine.roomsPutBack = ['a'.repeat(64)];
    await d.init();
    assert.deepEqual(engine.calls, ['forgetRemovedContainers', 'putBackRootDiskRooms', 'importImage']);
    assert.deepEqual(logs.find('dropped the engine files of containers removed while the service was down').map((r) => r.forgotten), [['nova-x-net']]);
    assert.deepEqual(logs.find('root disks given room by a mount the service did not finish have their size again').map((r) => r.subvolumes), [['a'.repeat(64)]]);
  });

  it('snapshot: the commit tag names the instance and the image while it uploads, and goes after; one a stop cut short is found again, in either form', async () => {
    const { d, engine } = driver();
    const uuid = '3f0e8a52-6c0b-4c43-9d55-8f7c1e9e2b10';
    const image = 'a1b2c3d4-0000-4000-8000-00000000abcd';
    await d.spawn({ instance: { ...spec, uuid }, image: { id: 'g1' }, images, networkInfo: Promise.resolve([]), waitForVifs: false });
    let during: string[] = [];
    await d.snapshot(uuid, image, 'g1', { ...images, upload: async () => { during = [...engine.tags]; } }, async () => undefined);
    assert.deepEqual(during, [`nova-snapshot:${uuid}.${image}`]);
    assert.deepEqual(engine.tags, []);

    const other = 'c0ffee00-1111-4222-8333-444455556666';
    engine.tags = [`nova-snapshot:${uuid}.${image}`, `nova-snapshot:${other}.${image}`, `nova-snapshot:${image}`, 'glance-image:g1'];
    const cut = await d.interruptedCaptures();
    assert.deepEqual(cut, [{ instanceUuid: uuid, imageId: image }, { instanceUuid: other, imageId: image }, { instanceUuid: null, imageId: image }]);
    await d.dropCapture(cut[0]);
    await d.dropCapture(cut[2]);
    assert.deepEqual(engine.tags, [`nova-snapshot:${other}.${image}`, 'glance-image:g1']);
  });

  it('init: files it cannot drop and sizes it cannot put back are logged and the start goes on', async () => {
    const logs = captureLogs();
    const { d, engine } = driver(undefined, 'podman', logs.log);
    engine.forgotten = new Error('EACCES: permission denied');
    engine.roomsPutBack = new Error('root disk sizes not put back: x: btrfs qgroup limit failed');
    await d.init();
    assert.deepEqual(engine.calls, ['forgetRemovedContainers', 'putBackRootDiskRooms', 'importImage']);
    assert.match(String(logs.find('could not drop the engine files of containers removed while the service was down')[0]?.err), /EACCES/);
    assert.match(String(logs.find('root disks given room by a mount the service did not finish keep it')[0]?.err), /btrfs qgroup limit failed/);
  });

  it('hostInfo: the engine is the hypervisor type, Nova\'s HVType docker the kind of instance, whichever the engine', async () => {
    for (const name of ['docker', 'podman']) {
      const info = await driver(undefined, name).d.hostInfo();
      assert.deepEqual([info.hypervisorType, info.hvType, info.hypervisorVersion, info.dataRoot], [name, 'docker', '4.3.1', '/var/lib/engine']);
    }
  });

  it('spawn: sandbox started and every VIF plugged into it and reported before the workload starts', async () => {
    const { d, engine } = driver();
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([vif('p1'), vif('p2', 'bridge', true)]), waitForVifs: true });
    const sandbox = `nova-${UUID}-net`;
    const workload = `nova-${UUID}`;
    const c = engine.calls;
    const at = (call: string) => { const i = c.indexOf(call); assert.ok(i >= 0, `${call} in ${c.join(' | ')}`); return i; };
    assert.ok(at(`start ${sandbox}`) < at('plug p1 eth0 into /proc/100/ns/net'));
    assert.ok(at('plug p1 eth0 into /proc/100/ns/net') < at('plug p2 eth1 into /proc/100/ns/net'), 'eth0, eth1 in order, into the sandbox\'s namespace');
    assert.ok(at('plug p2 eth1 into /proc/100/ns/net') < at(`hosts ${sandbox}`));
    assert.ok(at('waited p1') < at(`start ${workload}`), 'the workload starts only after Neutron reported the port not yet active');
    assert.deepEqual(engine.containers.get(workload)?.spec.files, spec.files, 'the workload is made with the instance\'s files');
    assert.equal(engine.containers.get(workload)?.spec.joinNetworkOf, sandbox, 'the workload names its sandbox');
    assert.equal(engine.containers.get(sandbox)?.spec.hostname, 'vm1');
  });

  it('serial console: a workload made with a TTY has one until its destroy; one made without, or a host without consoles, has none', async () => {
    const engine = new FakeEngine();
    const stateFile = join(initDir, 'serial-consoles.json');
    const consoles = new SerialConsoles(engine as unknown as ContainerEngine, { address: '127.0.0.1', portRange: [41000, 41010], stateFile }, silentLogger());
    const off = driver(undefined, 'docker', silentLogger(), engine).d;
    await off.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([]), waitForVifs: false });
    await assert.rejects(off.serialConsole(UUID), { name: 'ConsoleUnavailable', message: /\[serial_console\] enabled = false/ });
    const on = driver(undefined, 'docker', silentLogger(), engine, consoles).d;
    await assert.rejects(on.serialConsole(UUID), { name: 'ConsoleUnavailable', message: /made without a console/ });
    await on.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([]), waitForVifs: false });
    assert.equal(engine.containers.get(`nova-${UUID}`)?.spec.console, true, 'made with a TTY and an open stdin');
    const address = await on.serialConsole(UUID);
    assert.equal(address.host, '127.0.0.1');
    assert.deepEqual(JSON.parse(readFileSync(stateFile, 'utf8')), { [UUID]: address.port });
    await on.destroy(UUID, []);
    assert.deepEqual(JSON.parse(readFileSync(stateFile, 'utf8')), {}, 'the destroy gave the port back');
    await assert.rejects(on.serialConsole(UUID), { name: 'InstanceMissing' });
    await on.close();
  });

  it('spawn: the remains of an interrupted earlier attempt go first, workload then sandbox', async () => {
    const { d, engine } = driver();
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([]), waitForVifs: false });
    engine.calls.length = 0;
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([]), waitForVifs: false });
    assert.deepEqual(engine.calls.slice(0, 3), [`remove nova-${UUID}`, `remove nova-${UUID}-net`, `create nova-${UUID}-net`]);
    assert.equal(engine.containers.get(`nova-${UUID}`)?.state, 'running');
  });

  it('spawn: a failed wait for the network leaves the workload never started', async () => {
    const { d, engine } = driver({ async waitForVifPlugged(_u, _p, plug) { await plug(); throw new Error('Neutron did not report network-vif-plugged-p1'); } });
    await assert.rejects(d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([vif('p1')]), waitForVifs: true }), /network-vif-plugged/);
    assert.equal(engine.calls.includes(`start nova-${UUID}`), false);
  });

  it('spawn: a network allocation that fails aborts the spawn, which never starts the workload', async () => {
    const { d, engine } = driver();
    await assert.rejects(d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.reject(new Error('no ports')), waitForVifs: true }), /no ports/);
    assert.equal(engine.calls.includes(`start nova-${UUID}`), false);
  });

  it('spawn: an image failure rejects only once the sandbox being made is made, so a destroy then finds it', async () => {
    const { d, engine } = driver();
    const create = engine.createContainer.bind(engine);
    engine.createContainer = async (s: ContainerSpec) => { await new Promise((r) => setTimeout(r, 30)); return create(s); };
    const failing = { ensure: async () => { throw new Error('bad image'); }, upload: async () => undefined };
    await assert.rejects(d.spawn({ instance: spec, image: { id: 'g1' }, images: failing, networkInfo: Promise.resolve([]), waitForVifs: false }), /bad image/);
    assert.ok(engine.calls.includes(`start nova-${UUID}-net`), 'the sandbox was finished before the spawn failed');
    await d.destroy(UUID, []);
    assert.equal(engine.containers.size, 0);
  });

  it('spawn: an image the engine lost since it was made present is made present again, once; another create failure is not retried; rebuild asks the engine first', async () => {
    for (const engineName of ['docker', 'podman']) {
      const engine = engineName === 'podman' ? new PreparingFakeEngine() : new FakeEngine();
      const { d } = driver(undefined, engineName, silentLogger(), engine);
      const asked: boolean[] = [];
      const recovering = {
        ...images,
        ensure: async (_image: unknown, recheck?: boolean) => {
          asked.push(recheck ?? false);
          if (recheck) engine.missingImages.delete('glance-image:g1');
          return 'glance-image:g1';
        },
      };
      engine.missingImages.add('glance-image:g1');
      await d.spawn({ instance: spec, image: { id: 'g1' }, images: recovering, networkInfo: Promise.resolve([]), waitForVifs: false });
      assert.deepEqual(asked, [false, true], engineName);
      assert.equal(engine.containers.get(`nova-${UUID}`)?.state, 'running', engineName);
      asked.length = 0;
      engine.missingImages.add('glance-image:g1');
      await d.rebuild(spec, { id: 'g1' }, recovering, false, async () => [], 0);
      assert.deepEqual(asked, [true], `${engineName} rebuild: the image looked for before the old workload goes`);
      assert.equal(engine.containers.get(`nova-${UUID}`)?.state, 'running', `${engineName} rebuild`);
      await d.destroy(UUID, []);
      asked.length = 0;
      engine.missingImages.add('glance-image:g1');
      const still = { ...recovering, ensure: async (_image: unknown, recheck?: boolean) => { asked.push(recheck ?? false); return 'glance-image:g1'; } };
      await assert.rejects(d.spawn({ instance: spec, image: { id: 'g1' }, images: still, networkInfo: Promise.resolve([]), waitForVifs: false }), ImageMissing);
      assert.deepEqual(asked, [false, true], `${engineName}: one recheck, then the engine's refusal`);
      await d.destroy(UUID, []);
      asked.length = 0;
      engine.missingImages.clear();
      const create = engine.createContainer.bind(engine);
      engine.createContainer = async (s: ContainerSpec) => {
        if (s.name === `nova-${UUID}`) throw new Error('the name is in use');
        return create(s);
      };
      await assert.rejects(d.spawn({ instance: spec, image: { id: 'g1' }, images: recovering, networkInfo: Promise.resolve([]), waitForVifs: false }), /the name is in use/);
      assert.deepEqual(asked, [false], `${engineName}: no recheck for another failure`);
      await d.destroy(UUID, []);
      assert.equal(engine.containers.size, 0, engineName);
    }
  });

  it('spawn: a sandbox image the engine lost behind the driver\'s back is made again, once for spawns that found it gone together', async () => {
    const logs = captureLogs();
    const { d, engine } = driver(undefined, 'docker', logs.log);
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([]), waitForVifs: false });
    const sandboxImage = engine.containers.get(`nova-${UUID}-net`)!.spec.image;
    await d.destroy(UUID, []);
    engine.missingImages.add(sandboxImage);
    const other = 'c0ffee00-1111-4222-8333-444455556666';
    await Promise.all([UUID, other].map((uuid) => d.spawn({ instance: { ...spec, uuid }, image: { id: 'g1' }, images, networkInfo: Promise.resolve([]), waitForVifs: false })));
    assert.equal(engine.calls.filter((c) => c === 'importImage').length, 2, 'made at the first spawn, and again');
    assert.equal(engine.sandboxImageInspects, 2, 'looked for at the first spawn, and once more');
    assert.equal(engine.containers.get(`nova-${UUID}`)?.state, 'running');
    assert.equal(engine.containers.get(`nova-${other}`)?.state, 'running');
    assert.equal(logs.find('the engine refused the sandbox\'s create for want of its image: making it again').length, 2);
  });

  it('destroy: removes workload, sandbox and the given VIFs\' devices; what is missing is skipped', async () => {
    const { d, engine } = driver();
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([vif('p1')]), waitForVifs: false });
    const report = await d.destroy(UUID, [vif('p1'), vif('unbound-port', 'unbound')]);
    assert.deepEqual(report.removed, [`nova-${UUID}`, `nova-${UUID}-net`]);
    assert.ok(engine.calls.includes('remove-device tapp1'));
    assert.ok(engine.calls.includes('remove-device tapunbound-port'), 'a VIF of a type no plugger handles is still removed by its device name');
    assert.deepEqual(await d.destroy(UUID, []), { removed: [] }, 'a second destroy finds nothing and succeeds');
  });

  it('destroy: lists no host devices; one of the instance not in the given VIFs is left to the VIF check', async () => {
    const { d, engine, plugger } = driver();
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([vif('p1')]), waitForVifs: false });
    plugger.devices = [{ devname: 'tapp1', instanceUuid: UUID }, { devname: 'tapx', instanceUuid: UUID }];
    await d.destroy(UUID, [vif('p1')]);
    assert.equal(plugger.listings, 0, 'a destroy costs the same whatever else the host runs');
    assert.equal(engine.calls.includes('remove-device tapx'), false);
  });

  it('destroy: a device that cannot be removed is named, after the other VIFs\' are removed', async () => {
    const { d, engine, plugger } = driver();
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([vif('p1'), vif('p2')]), waitForVifs: false });
    plugger.refuse.add('tapp1');
    await assert.rejects(d.destroy(UUID, [vif('p1'), vif('p2')]), /could not remove device tapp1 \(operation not permitted\)/);
    assert.ok(engine.calls.includes('remove-device tapp2'));
    assert.equal(engine.containers.size, 0, 'the containers were still removed');
  });

  it('destroy: throws naming what exists but could not be removed, after trying everything else', async () => {
    const { d, engine } = driver();
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([]), waitForVifs: false });
    engine.refuse.add(`nova-${UUID}`);
    engine.dependentsFirst = false;
    await assert.rejects(d.destroy(UUID, []), new RegExp(`could not remove container nova-${UUID} \\(device or resource busy\\)`));
    assert.equal(engine.containers.has(`nova-${UUID}-net`), false, 'the sandbox was still removed');
  });

  it('powerOff thaws a frozen workload before stopping it; the sandbox keeps running', async () => {
    const { d, engine } = driver();
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([]), waitForVifs: false });
    await d.pause(UUID);
    await d.powerOff(UUID, 7);
    assert.deepEqual(engine.calls.slice(-2), [`unpause nova-${UUID}`, `stop nova-${UUID} 7`]);
    assert.equal(engine.containers.get(`nova-${UUID}-net`)?.state, 'running');
    await assert.rejects(d.powerOff('no-such', 1), InstanceMissing);
  });

  it('powerOn starts a stopped sandbox and plugs it again before the workload; a running one is left alone', async () => {
    const { d, engine } = driver();
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([vif('p1')]), waitForVifs: false });
    await d.powerOff(UUID, 0);
    let asked = 0;
    const vifs = async () => { asked++; return [vif('p1')]; };
    await d.powerOn(UUID, vifs);
    assert.equal(asked, 0, 'a running sandbox needs no VIFs');
    await d.powerOff(UUID, 0);
    await engine.stopContainer(`nova-${UUID}-net`, 0);
    await d.powerOn(UUID, vifs);
    const c = engine.calls;
    assert.equal(asked, 1);
    const replug = c.findLastIndex((x) => x.startsWith('plug p1 eth0'));
    assert.ok(replug > c.indexOf('plug p1 eth0 into /proc/100/ns/net'), 'plugged again');
    assert.ok(c.lastIndexOf(`start nova-${UUID}-net`) < replug && replug < c.lastIndexOf(`start nova-${UUID}`), c.join(' | '));
  });

  it('powerOn makes a sandbox that is gone again and plugs it before the workload starts', async () => {
    const { d, engine } = driver();
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([vif('p1')]), waitForVifs: false });
    await d.powerOff(UUID, 0);
    engine.containers.delete(`nova-${UUID}-net`); // gone from outside (docker rm -f)
    engine.calls.length = 0;
    await d.powerOn(UUID, async () => [vif('p1')]);
    const c = engine.calls;
    assert.ok(c.indexOf(`create nova-${UUID}-net`) < c.findIndex((x) => x.startsWith('plug p1 eth0')), c.join(' | '));
    assert.ok(c.findIndex((x) => x.startsWith('plug p1 eth0')) < c.indexOf(`start nova-${UUID}`), c.join(' | '));
  });

  it('rebuild stops the old workload gracefully, keeps a running sandbox and plugs nothing, and makes a gone one again, plugged when the workload starts', async () => {
    const { d, engine } = driver();
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([vif('p1')]), waitForVifs: false });
    engine.calls.length = 0;
    const noVifs = async () => { throw new Error('a running sandbox needs no VIFs'); };
    await d.rebuild({ ...spec, hostname: 'vm1' }, { id: 'g2' }, images, false, noVifs, 30);
    assert.deepEqual(engine.calls, [`stop nova-${UUID} 30`, `remove nova-${UUID}`, `create nova-${UUID}`, `start nova-${UUID}`]);
    engine.containers.delete(`nova-${UUID}-net`); // gone from outside (docker rm -f)
    engine.calls.length = 0;
    await d.rebuild(spec, { id: 'g2' }, images, true, async () => [vif('p1')], 30);
    assert.ok(engine.calls.indexOf(`create nova-${UUID}-net`) < engine.calls.indexOf(`create nova-${UUID}`), engine.calls.join(' | '));
    assert.equal(engine.containers.get(`nova-${UUID}-net`)?.spec.hostname, 'vm1');
    assert.equal(engine.calls.some((x) => x.startsWith('start ') || x.startsWith('plug ')), false, 'a stopped instance is rebuilt stopped, its network made when it starts');
    await d.powerOn(UUID, async () => [vif('p1')]);
    const c = engine.calls;
    const plugged = c.findIndex((x) => x.startsWith('plug p1 eth0'));
    assert.ok(c.indexOf(`start nova-${UUID}-net`) < plugged && plugged < c.indexOf(`start nova-${UUID}`), c.join(' | '));
  });

  it('plugVifs checks each VIF as eth0, eth1, ... in the sandbox; null when the sandbox does not run; an unknown vif_type is reported, the rest still checked', async () => {
    const { d, engine } = driver();
    assert.equal(await d.plugVifs(UUID, [vif('p1')]), null);
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([]), waitForVifs: false });
    const checks = await d.plugVifs(UUID, [vif('p1'), vif('p2')]);
    assert.deepEqual(checks, [{ port: 'p1', outcome: 'ok' }, { port: 'p2', outcome: 'ok' }]);
    assert.deepEqual(engine.calls.filter((x) => x.startsWith('ensure')), ['ensure p1 eth0 into /proc/100/ns/net', 'ensure p2 eth1 into /proc/100/ns/net']);
    engine.calls.length = 0;
    assert.deepEqual(await d.plugVifs(UUID, [vif('p3', 'unbound'), vif('p4')]), [{ port: 'p3', outcome: 'unpluggable' }, { port: 'p4', outcome: 'ok' }]);
    assert.deepEqual(engine.calls.filter((x) => x.startsWith('ensure')), ['ensure p4 eth1 into /proc/100/ns/net'], 'the pluggable one keeps its place');
  });

  it('a VIF check round where sandboxes hold the networks (Docker, whose listing gives no pids) asks each instance\'s sandbox, with no listing', async () => {
    const { d, engine } = driver();
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([]), waitForVifs: false });
    engine.calls.length = 0;
    engine.inspects = 0;
    const round = await d.vifCheckRound();
    assert.deepEqual(await round.plugVifs(UUID, [vif('p1')]), [{ port: 'p1', outcome: 'ok' }]);
    assert.deepEqual(engine.calls, ['ensure p1 eth0 into /proc/100/ns/net']);
    assert.ok(engine.inspects > 0, 'its sandbox inspected');
  });

  it('lists this host\'s instances by uuid, a sandbox alone as NOSTATE', async () => {
    const { d, engine } = driver();
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([]), waitForVifs: false });
    const other = '99999999-2222-3333-4444-555555555555';
    await engine.createContainer({ name: `nova-${other}`, image: 'i', labels: { 'org.openstack.nova.instance-uuid': other, 'org.openstack.nova.host': 'h2' }, limits: {} });
    const listed: Record<string, string>[] = [];
    (engine as unknown as { listContainers: (l: Record<string, string>) => Promise<ContainerStatus[]> }).listContainers = async (labels) => {
      listed.push(labels);
      const all = await Promise.all([...engine.containers.keys()].map(async (n) => (await engine.inspectContainer(n))!));
      return all.filter((c) => Object.entries(labels).every(([k, v]) => c.labels[k] === v));
    };
    assert.deepEqual(await d.listInstances(), [{ uuid: UUID, state: PowerState.RUNNING }]);
    assert.deepEqual(listed, [{ 'org.openstack.nova.host': 'h1' }], 'one listing, of this host\'s containers');
    engine.containers.delete(`nova-${UUID}`);
    assert.deepEqual(await d.listInstances(), [{ uuid: UUID, state: PowerState.NOSTATE }]);
  });

  it('a running workload left in a namespace its restarted sandbox no longer holds is restarted into the new one; one in it is left alone', async () => {
    const { d, engine } = driver();
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([vif('p1')]), waitForVifs: false });
    // real processes stand in: this one for the sandbox, one in a network namespace of its own for the workload
    const elsewhere = spawn('unshare', ['--net', 'sleep', '30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 200));
      engine.containers.get(`nova-${UUID}-net`)!.pid = process.pid;
      engine.containers.get(`nova-${UUID}`)!.pid = process.pid;
      engine.calls.length = 0;
      await d.plugVifs(UUID, [vif('p1')]);
      assert.deepEqual(engine.calls.filter((x) => !x.startsWith('ensure')), [], 'in its sandbox\'s namespace: left alone');
      engine.containers.get(`nova-${UUID}`)!.pid = elsewhere.pid!;
      await d.plugVifs(UUID, [vif('p1')]);
      assert.deepEqual(engine.calls.filter((x) => !x.startsWith('ensure')), [`stop nova-${UUID} 0`, `start nova-${UUID}`]);
    } finally {
      elsewhere.kill();
    }
  });
});

describe('container driver, on an engine that prepares containers: the workload\'s own network namespace', () => {
  const own = () => driver(undefined, 'podman', silentLogger(), new PreparingFakeEngine());
  const net = (pid: number) => `/proc/${pid}/ns/net`;

  it('spawn: one container, made with the instance\'s host name and files, prepared, plugged and reported, then started; no sandbox', async () => {
    const { d, engine: e } = own();
    const engine = e as PreparingFakeEngine;
    // each takes a while, and says when it begins
    const prepare = engine.prepareContainer.bind(engine);
    engine.prepareContainer = async (id: string) => { engine.calls.push('prepare begins'); await new Promise((r) => setTimeout(r, 20)); return prepare(id); };
    const removals: string[] = [];
    const remove = engine.removeContainer.bind(engine);
    engine.removeContainer = async (name: string) => { removals.push(name); await remove(name); };
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([vif('p1')]), waitForVifs: true });
    assert.deepEqual(engine.calls, [`create nova-${UUID}`, 'prepare begins', `prepare nova-${UUID}`,
      `plug p1 eth0 into ${net(100)}`, `hosts nova-${UUID}`, 'waited p1', `start nova-${UUID}`], 'prepared before the plug');
    assert.deepEqual(removals, [`nova-${UUID}`], 'the remains of an earlier attempt looked for: its one container');
    assert.deepEqual([...engine.containers.keys()], [`nova-${UUID}`]);
    assert.equal(engine.containers.get(`nova-${UUID}`)?.spec.hostname, 'vm1');
    assert.equal(engine.containers.get(`nova-${UUID}`)?.spec.joinNetworkOf, undefined);
    assert.deepEqual(engine.containers.get(`nova-${UUID}`)?.spec.files, spec.files);
  });

  it('powerOn of a stopped workload prepares a new namespace and plugs it before the start; a running one is left alone', async () => {
    const { d, engine } = own();
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([vif('p1')]), waitForVifs: false });
    let asked = 0;
    const vifs = async () => { asked++; return [vif('p1')]; };
    await d.powerOn(UUID, vifs);
    assert.equal(asked, 0, 'a running workload keeps its namespace');
    await d.powerOff(UUID, 0);
    assert.equal(await d.plugVifs(UUID, [vif('p1')]), null, 'a stopped one has no namespace to check');
    engine.calls.length = 0;
    await d.powerOn(UUID, vifs);
    assert.equal(asked, 1);
    assert.deepEqual(engine.calls.filter((x) => !x.endsWith(`nova-${UUID}`) || x.startsWith('prepare') || x.startsWith('start')),
      [`prepare nova-${UUID}`, `plug p1 eth0 into ${net(101)}`, `start nova-${UUID}`]);
  });

  it('rebuild makes the workload again, plugged before it starts; a stopped instance is rebuilt with nothing prepared', async () => {
    const { d, engine } = own();
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([vif('p1')]), waitForVifs: false });
    engine.calls.length = 0;
    await d.rebuild(spec, { id: 'g2' }, images, false, async () => [vif('p1')], 30);
    assert.deepEqual(engine.calls.filter((x) => !x.startsWith('resolv') && !x.startsWith('hosts')), [`stop nova-${UUID} 30`, `remove nova-${UUID}`,
      `create nova-${UUID}`, `prepare nova-${UUID}`, `plug p1 eth0 into ${net(101)}`, `start nova-${UUID}`]);
    assert.deepEqual(engine.containers.get(`nova-${UUID}`)?.spec.files, spec.files, 'made again with its files');
    engine.calls.length = 0;
    await d.rebuild(spec, { id: 'g2' }, images, true, async () => { throw new Error('a stopped rebuild plugs nothing'); }, 30);
    assert.deepEqual(engine.calls, [`stop nova-${UUID} 30`, `remove nova-${UUID}`, `create nova-${UUID}`]);
  });

  it('a VIF check round reads the host\'s containers in one listing: a listed one is checked in its namespace with no inspect, one not running has none, one whose process ended since is asked as it is now; a mend names the host in the hosts file', async () => {
    const { d, engine, plugger } = own();
    const [ended, mended, stopped] = ['99999999', '88888888', '77777777'].map((p) => `${p}-2222-3333-4444-555555555555`);
    for (const uuid of [UUID, ended, mended, stopped]) {
      await d.spawn({ instance: { ...spec, uuid, hostname: `vm-${uuid.slice(0, 2)}` }, image: { id: 'g1' }, images, networkInfo: Promise.resolve([]), waitForVifs: false });
    }
    await d.powerOff(stopped, 0);
    // real processes stand in for the workloads': the round asks again for one whose process is gone
    const ending = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      for (const uuid of [UUID, mended]) engine.containers.get(`nova-${uuid}`)!.pid = process.pid;
      engine.containers.get(`nova-${ended}`)!.pid = ending.pid!;
      plugger.outcomes.set('p4', 'replugged');
      engine.calls.length = 0;
      engine.inspects = 0;
      const round = await d.vifCheckRound();
      assert.deepEqual(await round.plugVifs(UUID, [vif('p1')]), [{ port: 'p1', outcome: 'ok' }]);
      assert.deepEqual(await round.plugVifs(stopped, [vif('p3')]), null, 'a stopped one has no namespace');
      assert.equal(engine.inspects, 0, 'no inspect: the listing said where each namespace is');
      assert.deepEqual(engine.calls, ['list', `ensure p1 eth0 into ${net(process.pid)}`]);

      ending.kill();
      await once(ending, 'exit');
      engine.containers.get(`nova-${ended}`)!.pid = process.pid; // started again behind our back
      assert.deepEqual(await round.plugVifs(ended, [vif('p2')]), [{ port: 'p2', outcome: 'ok' }]);
      assert.deepEqual(engine.calls.slice(2), [`ensure p2 eth0 into ${net(process.pid)}`], 'in its new namespace');
      assert.equal(engine.inspects, 1, 'asked as it is now');

      assert.deepEqual(await round.plugVifs(mended, [vif('p4')]), [{ port: 'p4', outcome: 'replugged' }]);
      assert.deepEqual(engine.calls.slice(3), [`ensure p4 eth0 into ${net(process.pid)}`, `hosts nova-${mended}`]);
      assert.equal(engine.inspects, 2, 'the mended one read for its host name');
    } finally {
      ending.kill();
    }
  });

  it('a VIF check round whose listing fails asks each instance as it is, and says so', async () => {
    const logs = captureLogs();
    const { d, engine } = driver(undefined, 'podman', logs.log, new PreparingFakeEngine());
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([]), waitForVifs: false });
    engine.listContainers = async () => { throw new Error('list containers: connect ECONNREFUSED'); };
    engine.calls.length = 0;
    engine.inspects = 0;
    const round = await d.vifCheckRound();
    assert.deepEqual(await round.plugVifs(UUID, [vif('p1')]), [{ port: 'p1', outcome: 'ok' }]);
    assert.deepEqual(engine.calls, [`ensure p1 eth0 into ${net(100)}`]);
    assert.equal(engine.inspects, 1);
    assert.match(String(logs.find('could not list the host\'s containers for the VIF check: each instance is asked')[0]?.err), /ECONNREFUSED/);
  });

  it('plugVifs checks the running workload\'s namespace; destroy removes the one container', async () => {
    const { d, engine } = own();
    await d.spawn({ instance: spec, image: { id: 'g1' }, images, networkInfo: Promise.resolve([]), waitForVifs: false });
    assert.deepEqual(await d.plugVifs(UUID, [vif('p1')]), [{ port: 'p1', outcome: 'ok' }]);
    assert.ok(engine.calls.includes(`ensure p1 eth0 into ${net(100)}`));
    assert.deepEqual((await d.destroy(UUID, [])).removed, [`nova-${UUID}`]);
  });
});

describe('driver capabilities as Placement traits', () => {
  it('attach support and each image type become Nova\'s trait names', () => {
    assert.deepEqual(capabilityTraits({ supportsAttachInterface: true, imageTypes: ['raw', 'qcow2'] }),
      ['COMPUTE_NET_ATTACH_INTERFACE', 'COMPUTE_IMAGE_TYPE_RAW', 'COMPUTE_IMAGE_TYPE_QCOW2']);
    assert.deepEqual(capabilityTraits({ supportsAttachInterface: false, imageTypes: [] }), []);
    assert.deepEqual(capabilityTraits(driver().d.capabilities), ['COMPUTE_NET_ATTACH_INTERFACE', 'COMPUTE_IMAGE_TYPE_RAW']);
  });
});
