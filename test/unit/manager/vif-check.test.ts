/**
 * The VIF check's decisions with in-memory stand-ins (the plugging itself is tested against
 * the kernel in test/integration/network): which instances are checked, what is mended, which
 * host devices are removed.
 */
import { strict as assert } from 'node:assert';
import { silentLogger } from '../../../src/common/log.js';
import { InstanceNotFound } from '../../../src/nova-driver/errors.js';
import { NovaObject } from '../../../src/nova-driver/objects/versioned-object.js';
import { KeyedLock } from '../../../src/common/keyed-lock.js';
import { checkAllVifs, checkInstanceVifs } from '../../../src/nova-driver/manager/vif-check.js';
import { cachedVifs, preservedPorts } from '../../../src/nova-driver/manager/networking.js';
import type { ManagerDeps } from '../../../src/nova-driver/manager/deps.js';
import type { EnsureOutcome } from '../../../src/network/vif-plug.js';
import type { VifModel } from '../../../src/network/network-info.js';
import type { VifCheck, VifCheckRound, VifDevice } from '../../../src/nova-driver/instance-driver.js';
import { adminContext } from '../../../src/nova-driver/context.js';

const vif = (id: string, type = 'bridge'): Partial<VifModel> => ({
  id, type, devname: `tap${id}`,
  network: { id: 'n', bridge: 'brqn', label: 'l', meta: {}, subnets: [{ cidr: '10.0.0.0/24', version: 4, routes: [], ips: [], dns: [], meta: { dhcp_server: '10.0.0.2' },
    gateway: { address: '10.0.0.1', type: 'gateway', version: 4, meta: {} } }] },
});

function instance(uuid: string, fields: Record<string, string | null>, vifs: Partial<VifModel>[]): NovaObject {
  const cache = new NovaObject('InstanceInfoCache', '1.5', { instance_uuid: uuid, network_info: JSON.stringify(vifs) });
  return new NovaObject('Instance', '2.7', { uuid, host: 'h1', vm_state: 'active', task_state: null, ...fields, info_cache: cache });
}

/**
 * The driver's VIF side: which VIFs it was asked to have, what it reports, which devices it
 * holds and removes; how many check rounds were begun and which instances went through one.
 */
class FakeDriver {
  devices: VifDevice[] = [];
  outcomes = new Map<string, EnsureOutcome>();
  /** Instances whose network exists (their sandbox runs). */
  networked = new Set<string>();
  plugged: string[] = [];
  removed: string[] = [];
  rounds = 0;
  pluggedInRound: string[] = [];
  async vifCheckRound(): Promise<VifCheckRound> {
    this.rounds++;
    return { plugVifs: async (uuid, vifs) => { this.pluggedInRound.push(uuid); return this.plugVifs(uuid, vifs); } };
  }
  async plugVifs(uuid: string, vifs: VifModel[]): Promise<VifCheck[] | null> {
    if (!this.networked.has(uuid)) return null;
    this.plugged.push(`${uuid}:${vifs.map((v) => v.id).join(',')}`);
    return vifs.map((v) => ({ port: v.id, outcome: this.outcomes.get(v.id) ?? 'ok' }));
  }
  async vifDevices(): Promise<VifDevice[]> { return this.devices; }
  async removeVifDevice(devname: string): Promise<void> { this.removed.push(devname); }
}

/**
 * The manager's side: `instances` is what the conductor holds (a test may replace one); `gets`
 * the uuids read one by one, `listings` the attributes each listing asked for. `listed` runs
 * once a listing is taken, before it is returned.
 */
function deps(instances: NovaObject[], networked: string[], driver: FakeDriver, listed: () => void = () => undefined) {
  for (const n of networked) driver.networked.add(n);
  const gets: string[] = [];
  const listings: string[][] = [];
  const d = {
    host: 'h1',
    log: silentLogger(),
    locks: new KeyedLock(),
    ports: {},
    driver,
    instances: {
      listOnHost: async (_ctx: unknown, attrs: string[]) => {
        listings.push(attrs);
        const listing = instances.filter((i) => i.optStr('host') === 'h1');
        listed();
        return listing;
      },
      get: async (_ctx: unknown, uuid: string) => {
        gets.push(uuid);
        const i = instances.find((x) => x.str('uuid') === uuid);
        if (!i) throw new InstanceNotFound({ instance_id: uuid });
        return i;
      },
    },
  };
  return { deps: d as unknown as ManagerDeps, gets, listings };
}

describe('VIF check', () => {
  const ctx = adminContext();

  it('reads the cached VIFs in plug order (and the user\'s ports among them), tolerating a missing or bad cache', () => {
    assert.deepEqual(cachedVifs(instance('a', {}, [vif('p1'), vif('p2')])).map((v) => v.id), ['p1', 'p2']);
    const bad = new NovaObject('Instance', '2.7', { uuid: 'b', info_cache: new NovaObject('InstanceInfoCache', '1.5', { network_info: '{not json' }) });
    assert.deepEqual(cachedVifs(bad), []);
    assert.deepEqual(cachedVifs(new NovaObject('Instance', '2.7', { uuid: 'c' })), []);
    assert.deepEqual([...preservedPorts(instance('d', {}, [{ ...vif('p1'), preserve_on_delete: true }, vif('p2')]))], ['p1']);
  });

  it('asks the driver for the cached VIFs of idle instances whose network exists, in plug order, and reports what it mended', async () => {
    const p = new FakeDriver();
    p.outcomes.set('p2', 'replugged');
    const { deps: d } = deps([
      instance('a', {}, [vif('p1'), vif('p2')]),
      instance('busy', { task_state: 'rebooting' }, [vif('p3')]),
      instance('down', { vm_state: 'stopped' }, [vif('p4')]),
    ], ['a', 'busy'], p);
    const report = await checkAllVifs(d, ctx, false);
    assert.deepEqual(p.plugged, ['a:p1,p2'], 'not the busy one; not one without a network');
    assert.deepEqual(report.mended, [{ instance: 'a', port: 'p2', outcome: 'replugged' }]);
    assert.equal(report.instances, 1);
  });

  it('checks a stopped instance too: its sandbox keeps its network', async () => {
    const p = new FakeDriver();
    const { deps: d } = deps([instance('s', { vm_state: 'stopped' }, [vif('p1')])], ['s'], p);
    await checkAllVifs(d, ctx, false);
    assert.deepEqual(p.plugged, ['s:p1']);
  });

  it('removes devices of instances that are gone, elsewhere or without that port; keeps the rest', async () => {
    const p = new FakeDriver();
    p.devices = [
      { devname: 'tapp1', instanceUuid: 'a' },
      { devname: 'tapold', instanceUuid: 'a' },
      { devname: 'tapgone', instanceUuid: 'deleted-one' },
      { devname: 'tapmoved', instanceUuid: 'elsewhere' },
      { devname: 'nc0123456789ab', instanceUuid: null },
    ];
    const { deps: d, gets } = deps([instance('a', {}, [vif('p1')]), instance('elsewhere', { host: 'h2' }, [vif('moved')])], ['a'], p);
    const report = await checkAllVifs(d, ctx, false);
    assert.deepEqual(p.removed.sort(), ['tapgone', 'tapmoved', 'tapold']);
    assert.deepEqual(report.removed.sort(), ['tapgone', 'tapmoved', 'tapold']);
    assert.deepEqual(gets.sort(), ['deleted-one', 'elsewhere'], 'only owners the listing of this host did not have are read');
  });

  it('reads the host\'s instances in one listing with their caches: no read per instance', async () => {
    const p = new FakeDriver();
    const uuids = Array.from({ length: 50 }, (_, i) => `i${i}`);
    p.devices = uuids.map((u) => ({ devname: `tap${u}`, instanceUuid: u }));
    const { deps: d, gets, listings } = deps(uuids.map((u) => instance(u, {}, [vif(u)])), uuids, p);
    const report = await checkAllVifs(d, ctx, false);
    assert.deepEqual(listings, [['info_cache']]);
    assert.deepEqual(gets, []);
    assert.equal(p.rounds, 1, 'the engine read once for all of them');
    assert.deepEqual(p.pluggedInRound, uuids, 'each checked as the round read it');
    assert.equal(report.instances, 50);
    assert.deepEqual(p.removed, [], 'each device is its listed instance\'s');
  });

  it('reads again, and checks as read, an instance an operation locked after the listing started', async () => {
    const p = new FakeDriver();
    p.devices = [{ devname: 'tapp1', instanceUuid: 'a' }, { devname: 'tapp2', instanceUuid: 'a' }];
    const instances = [instance('a', {}, [vif('p1')]), instance('b', {}, [vif('p3')])];
    let operation: Promise<void> = Promise.resolve();
    const { deps: d, gets } = deps(instances, ['a', 'b'], p, () => {
      // e.g. an interface attach: its new cache is saved after the listing was taken
      operation = d.locks.run('a', async () => { instances[0] = instance('a', {}, [vif('p1'), vif('p2')]); });
    });
    await checkAllVifs(d, ctx, false);
    await operation;
    assert.deepEqual(p.plugged, ['a:p1,p2', 'b:p3'], 'the attached port is checked, not the listed cache');
    assert.deepEqual(p.pluggedInRound, ['b'], 'a is checked as the engine has it now, not as the round read it');
    assert.deepEqual(p.removed, [], 'its new device is kept');
    assert.deepEqual(gets, ['a', 'a'], 'a, by the check and by the device sweep; b not');
  });

  it('removes an ownerless device (a plug a crash cut short) only at start-up, when no plug can be under way', async () => {
    const p = new FakeDriver();
    p.devices = [{ devname: 'nc0123456789ab', instanceUuid: null }];
    const { deps: d } = deps([], [], p);
    await checkAllVifs(d, ctx, false);
    assert.deepEqual(p.removed, []);
    await checkAllVifs(d, ctx, true);
    assert.deepEqual(p.removed, ['nc0123456789ab']);
  });

  it('waits for an operation on the instance to finish before checking it', async () => {
    const p = new FakeDriver();
    const { deps: d } = deps([instance('a', {}, [vif('p1')])], ['a'], p);
    const order: string[] = [];
    const op = d.locks.run('a', async () => { await new Promise((r) => setTimeout(r, 20)); order.push('operation'); });
    const check = checkInstanceVifs(d, ctx, 'a').then(() => order.push(`check:${p.plugged.length}`));
    await Promise.all([op, check]);
    assert.deepEqual(order, ['operation', 'check:1']);
  });
});
