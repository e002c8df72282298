/**
 * The VIF check's decisions with in-memory stand-ins (the plugging itself is tested against
 * the kernel in test/integration/network): which instances are checked, what is mended, which
 * host devices are removed.
 */
import { strict as assert } from 'node:assert';
import { silentLogger } from '../../../src/common/log.js';
import { InstanceNotFound } from '../../../src/nova-driver/errors.js';
import { NovaObject } from '../../../src/nova-driver/objects/versioned-object.js';
import { KeyedLock } from '../../../src/nova-driver/manager/keyed-lock.js';
import { checkAllVifs, checkInstanceVifs } from '../../../src/nova-driver/manager/vif-check.js';
import { cachedVifs, preservedPorts } from '../../../src/nova-driver/manager/networking.js';
import type { ManagerDeps } from '../../../src/nova-driver/manager/deps.js';
import type { EnsureOutcome, PlugTarget, PluggedDevice, VifPlugger } from '../../../src/network/vif-plug.js';
import type { VifModel } from '../../../src/network/network-info.js';
import type { ContainerStatus } from '../../../src/runtime/types.js';
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

class FakePlugger implements VifPlugger {
  readonly vifTypes = ['bridge'];
  devices: PluggedDevice[] = [];
  outcomes = new Map<string, EnsureOutcome>();
  ensured: { port: string; target: PlugTarget }[] = [];
  removed: string[] = [];
  async plug(): Promise<void> { throw new Error('not used'); }
  async unplug(): Promise<void> { throw new Error('not used'); }
  async ensure(v: VifModel, target: PlugTarget): Promise<EnsureOutcome> {
    this.ensured.push({ port: v.id, target });
    return this.outcomes.get(v.id) ?? 'ok';
  }
  async plugged(): Promise<PluggedDevice[]> { return this.devices; }
  async remove(devname: string): Promise<void> { this.removed.push(devname); }
}

function deps(instances: NovaObject[], running: Record<string, number>, plugger: FakePlugger) {
  const resolv: string[] = [];
  const d = {
    host: 'h1',
    log: silentLogger(),
    locks: new KeyedLock(),
    network: { pluggers: [plugger] },
    instances: {
      listOnHost: async () => instances.filter((i) => i.optStr('host') === 'h1'),
      get: async (_ctx: unknown, uuid: string) => {
        const i = instances.find((x) => x.str('uuid') === uuid);
        if (!i) throw new InstanceNotFound({ instance_id: uuid });
        return i;
      },
    },
    engine: {
      inspectContainer: async (name: string) => {
        const uuid = name.replace(/^nova-/, '');
        return running[uuid] ? ({ id: `c-${uuid}`, pid: running[uuid], state: 'running' } as ContainerStatus) : null;
      },
      setResolvConf: async (id: string) => { resolv.push(id); },
    },
  };
  return { deps: d as unknown as ManagerDeps, resolv };
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

  it('checks each VIF of running, idle instances as eth0, eth1, ... and reports what it mended', async () => {
    const p = new FakePlugger();
    p.outcomes.set('p2', 'replugged');
    const { deps: d, resolv } = deps([
      instance('a', {}, [vif('p1'), vif('p2')]),
      instance('busy', { task_state: 'rebooting' }, [vif('p3')]),
      instance('stopped', { vm_state: 'stopped' }, [vif('p4')]),
    ], { a: 101, busy: 102 }, p);
    const report = await checkAllVifs(d, ctx, false);
    assert.deepEqual(p.ensured.map((e) => `${e.port}:${e.target.ifname}:${e.target.pid}:${e.target.instanceUuid}`), ['p1:eth0:101:a', 'p2:eth1:101:a']);
    assert.deepEqual(report.mended, [{ instance: 'a', port: 'p2', outcome: 'replugged' }]);
    assert.equal(report.instances, 1);
    assert.deepEqual(resolv, ['c-a'], 'a mended container gets its resolv.conf again');
  });

  it('does not touch a VIF of a type no plugger handles', async () => {
    const p = new FakePlugger();
    const { deps: d } = deps([instance('a', {}, [vif('p1', 'ovs'), vif('p2')])], { a: 5 }, p);
    await checkAllVifs(d, ctx, false);
    assert.deepEqual(p.ensured.map((e) => `${e.port}:${e.target.ifname}`), ['p2:eth1']);
  });

  it('removes devices of instances that are gone, elsewhere or without that port; keeps the rest', async () => {
    const p = new FakePlugger();
    p.devices = [
      { devname: 'tapp1', instanceUuid: 'a' },
      { devname: 'tapold', instanceUuid: 'a' },
      { devname: 'tapgone', instanceUuid: 'deleted-one' },
      { devname: 'tapmoved', instanceUuid: 'elsewhere' },
      { devname: 'nc0123456789ab', instanceUuid: null },
    ];
    const { deps: d } = deps([instance('a', {}, [vif('p1')]), instance('elsewhere', { host: 'h2' }, [vif('moved')])], { a: 7 }, p);
    const report = await checkAllVifs(d, ctx, false);
    assert.deepEqual(p.removed.sort(), ['tapgone', 'tapmoved', 'tapold']);
    assert.deepEqual(report.removed.sort(), ['tapgone', 'tapmoved', 'tapold']);
  });

  it('removes an ownerless device (a plug a crash cut short) only at start-up, when no plug can be under way', async () => {
    const p = new FakePlugger();
    p.devices = [{ devname: 'nc0123456789ab', instanceUuid: null }];
    const { deps: d } = deps([], {}, p);
    await checkAllVifs(d, ctx, false);
    assert.deepEqual(p.removed, []);
    await checkAllVifs(d, ctx, true);
    assert.deepEqual(p.removed, ['nc0123456789ab']);
  });

  it('waits for an operation on the instance to finish before checking it', async () => {
    const p = new FakePlugger();
    const { deps: d } = deps([instance('a', {}, [vif('p1')])], { a: 9 }, p);
    const order: string[] = [];
    const op = d.locks.run('a', async () => { await new Promise((r) => setTimeout(r, 20)); order.push('operation'); });
    const check = checkInstanceVifs(d, ctx, 'a').then(() => order.push(`check:${p.ensured.length}`));
    await Promise.all([op, check]);
    assert.deepEqual(order, ['operation', 'check:1']);
  });
});
