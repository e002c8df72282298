/**
 * The OVS plugger's decisions and the commands it runs, with a fake host that records every
 * command and answers from rules: names as os-vif gives them, bridge and datapath choices,
 * hybrid or not, TX checksum offload on the netdev datapath only, clear errors when Open
 * vSwitch or ethtool is missing or failing. (The real switch: test/integration/network/ovs-plug.test.ts.)
 */
import { strict as assert } from 'node:assert';
import { CommandFailed, type Exec } from '../../../src/network/host-links.js';
import type { VifModel } from '../../../src/network/network-info.js';
import {
  OvsPlugger, bridgeOf, datapathForNewBridge, deviceNames, externalIds, interfaceSettings, isHybrid, needsTxChecksumOff, requestedDatapath,
} from '../../../src/network/ovs-plug.js';
import { OvsUnavailable, OvsVsctl, decodeOvsdb } from '../../../src/network/ovs-vsctl.js';

const PORT = '3f1c2b5e-8d7a-4c1e-9b0f-2a6d5e4c3b21';
const INSTANCE = '11111111-2222-3333-4444-555555555555';

function vif(details: Record<string, unknown> = {}, mtu: number | null = 1442): VifModel {
  return {
    id: PORT, address: 'fa:16:3e:aa:bb:cc', type: 'ovs', details, devname: `tap${PORT}`.slice(0, 14), ovs_interfaceid: PORT,
    qbh_params: null, qbg_params: null, active: false, vnic_type: 'normal', profile: {}, preserve_on_delete: false, delegate_create: true, meta: {},
    network: {
      id: 'net', bridge: null, label: 'private', meta: { mtu },
      subnets: [{
        cidr: '10.0.0.0/24', version: 4, meta: {}, dns: [], routes: [],
        gateway: { address: '10.0.0.1', type: 'gateway', version: 4, meta: {} },
        ips: [{ address: '10.0.0.5', type: 'fixed', version: 4, meta: {}, floating_ips: [] }],
      }],
    },
  };
}

const table = (headings: string[], ...rows: unknown[][]): string => JSON.stringify({ headings, data: rows });

type Reply = string | Error | ((line: string) => string);

/** Records `file args...` of every command; the last rule added that matches answers ('' otherwise). */
class FakeHost {
  readonly calls: string[] = [];
  private readonly rules: [RegExp, Reply][] = [];

  constructor(opts: { bridge?: string | null; tso?: boolean; ovnDatapath?: string } = {}) {
    const bridge = opts.bridge === undefined ? 'netdev' : opts.bridge;
    this.on(/ovs-vsctl .*find Bridge/, bridge === null ? table(['datapath_type']) : table(['datapath_type'], [bridge]));
    this.on(/ovs-vsctl .*list Open_vSwitch/, table(['other_config', 'external_ids'], [
      ['map', opts.tso ? [['userspace-tso-enable', 'true']] : []],
      ['map', [['system-id', 'compute-1'], ...(opts.ovnDatapath ? [['ovn-bridge-datapath-type', opts.ovnDatapath]] : [])]],
    ]));
    this.on(/ovs-vsctl .*find Interface/, table(['name', 'external_ids']));
  }

  on(re: RegExp, reply: Reply): this {
    this.rules.unshift([re, reply]);
    return this;
  }

  readonly exec: Exec = async (file, args) => {
    const line = `${file} ${args.join(' ')}`;
    this.calls.push(line);
    const rule = this.rules.find(([re]) => re.test(line));
    if (!rule) return '';
    const reply = rule[1];
    if (reply instanceof Error) throw reply;
    return typeof reply === 'function' ? reply(line) : reply;
  };

  ran(re: RegExp): string[] {
    return this.calls.filter((c) => re.test(c));
  }
}

const SETTINGS = { bridge: 'br-int', vsctlTimeoutSeconds: 120 };
const plugger = (h: FakeHost, settings: { bridge: string; ovsdbConnection?: string; vsctlTimeoutSeconds: number } = SETTINGS, kernelModule = false) =>
  new OvsPlugger('compute-1', settings, h.exec, () => kernelModule);
const target = { netns: '/proc/4242/ns/net', ifname: 'eth0', instanceUuid: INSTANCE };

describe('OVS plug: names and decisions', () => {
  it('names devices as os-vif: prefix + port id, 14 characters', () => {
    assert.deepEqual(deviceNames(PORT), { tap: 'tap3f1c2b5e-8d', qbr: 'qbr3f1c2b5e-8d', qvb: 'qvb3f1c2b5e-8d', qvo: 'qvo3f1c2b5e-8d' });
  });

  it('hybrid only when the binding says ovs_hybrid_plug: true', () => {
    assert.equal(isHybrid(vif({ ovs_hybrid_plug: true })), true);
    assert.equal(isHybrid(vif({ ovs_hybrid_plug: false })), false);
    assert.equal(isHybrid(vif({})), false, 'ML2/OVN sends no ovs_hybrid_plug');
  });

  it('the binding\'s bridge_name, else the configured bridge', () => {
    assert.equal(bridgeOf(vif({ bridge_name: 'br-tun0' }), 'br-int'), 'br-tun0');
    assert.equal(bridgeOf(vif({}), 'br-ovn'), 'br-ovn');
    assert.equal(bridgeOf(vif({ bridge_name: '' }), 'br-int'), 'br-int');
  });

  it('datapath: the binding\'s when given; a new bridge gets ovn-controller\'s choice, else system with the kernel module, netdev without', () => {
    assert.equal(requestedDatapath(vif({ datapath_type: 'netdev' })), 'netdev');
    assert.equal(requestedDatapath(vif({})), null);
    assert.equal(datapathForNewBridge(true, null), 'system');
    assert.equal(datapathForNewBridge(false, null), 'netdev');
    assert.equal(datapathForNewBridge(true, 'netdev'), 'netdev');
  });

  it('TX checksum offload off only on netdev without userspace TSO', () => {
    assert.equal(needsTxChecksumOff('netdev', false), true);
    assert.equal(needsTxChecksumOff('netdev', true), false);
    assert.equal(needsTxChecksumOff('system', false), false);
  });

  it('external_ids as os-vif sets them, plus the owning host; mtu_request only with a known MTU', () => {
    assert.deepEqual(externalIds(vif(), INSTANCE, 'compute-1'), {
      'iface-id': PORT, 'iface-status': 'active', 'attached-mac': 'fa:16:3e:aa:bb:cc', 'vm-uuid': INSTANCE, 'nova-container-host': 'compute-1',
    });
    assert.deepEqual(interfaceSettings('tapx', { 'iface-id': 'p' }, '1442'), ['set', 'Interface', 'tapx', 'external_ids:iface-id=p', 'mtu_request=1442']);
    assert.deepEqual(interfaceSettings('tapx', { 'iface-id': 'p' }, null), ['set', 'Interface', 'tapx', 'external_ids:iface-id=p']);
  });
});

describe('ovs-vsctl calls', () => {
  it('as os-vif\'s vsctl backend: --timeout, --oneline, --db when configured, commands joined by --', () => {
    const exec: Exec = async () => '';
    assert.deepEqual(new OvsVsctl({ timeoutSeconds: 7 }, exec).argv([['--may-exist', 'add-br', 'br-int'], ['set', 'Bridge', 'br-int', 'datapath_type=netdev']]),
      ['--timeout=7', '--oneline', '--', '--may-exist', 'add-br', 'br-int', '--', 'set', 'Bridge', 'br-int', 'datapath_type=netdev']);
    assert.deepEqual(new OvsVsctl({ timeoutSeconds: 7, connection: 'unix:/run/x/db.sock' }, exec).argv([['list-br']], 'json'),
      ['--timeout=7', '--oneline', '--format=json', '--db=unix:/run/x/db.sock', '--', 'list-br']);
  });

  it('decodes OVSDB JSON values', () => {
    assert.deepEqual(decodeOvsdb(['map', [['iface-id', 'p1'], ['vm-uuid', 'i1']]]), { 'iface-id': 'p1', 'vm-uuid': 'i1' });
    assert.equal(decodeOvsdb(['set', []]), null);
    assert.equal(decodeOvsdb(['set', [1400]]), 1400);
    assert.deepEqual(decodeOvsdb(['set', ['a', 'b']]), ['a', 'b']);
    assert.equal(decodeOvsdb(['uuid', 'abc']), 'abc');
    assert.equal(decodeOvsdb('netdev'), 'netdev');
  });

  it('reads rows of find and list by heading', async () => {
    const h = new FakeHost().on(/find Interface/, table(['name', 'ofport'], ['tap1', 3], ['tap2', ['set', []]]));
    const rows = await new OvsVsctl({ timeoutSeconds: 5 }, h.exec).rows('Interface', ['name', 'ofport'], ['external_ids:a=b']);
    assert.deepEqual(rows, [{ name: 'tap1', ofport: 3 }, { name: 'tap2', ofport: null }]);
    assert.match(h.calls[0], /--format=json -- --columns=name,ofport find Interface external_ids:a=b$/);
  });
});

describe('OVS plug: commands', () => {
  it('plugs into an existing netdev br-int: veth, alias, add-port with external_ids and mtu_request, peer inside, TX checksum off', async () => {
    const h = new FakeHost();
    await plugger(h).plug(vif(), target);
    assert.deepEqual(h.ran(/add-br|set Bridge/), [], 'an existing bridge without a requested datapath is left alone');
    assert.deepEqual(h.ran(/ip link add/), ['ip link add tap3f1c2b5e-8d mtu 1442 type veth peer name oc3f1c2b5e8d7a mtu 1442']);
    assert.ok(h.calls.includes(`ip link set dev tap3f1c2b5e-8d alias nova-container-ovs:compute-1:${INSTANCE}`));
    const add = h.ran(/add-port/);
    assert.equal(add.length, 1);
    assert.ok(add[0].endsWith(`-- --may-exist add-port br-int tap3f1c2b5e-8d -- set Interface tap3f1c2b5e-8d external_ids:iface-id=${PORT} `
      + `external_ids:iface-status=active external_ids:attached-mac=fa:16:3e:aa:bb:cc external_ids:vm-uuid=${INSTANCE} external_ids:nova-container-host=compute-1 mtu_request=1442`), add[0]);
    assert.ok(h.calls.includes('ip link set oc3f1c2b5e8d7a netns /proc/4242/ns/net'));
    assert.ok(h.calls.includes('nsenter --net=/proc/4242/ns/net ip addr add 10.0.0.5/24 dev eth0'));
    const last = h.calls[h.calls.length - 1];
    assert.equal(last, 'nsenter --net=/proc/4242/ns/net ethtool -K eth0 tx off');
    assert.ok(h.calls.indexOf('ethtool --version') < h.calls.findIndex((c) => c.startsWith('ip link add')), 'ethtool is checked before anything is made');
  });

  it('passes --db from [os_vif_ovs] ovsdb_connection to every ovs-vsctl call', async () => {
    const h = new FakeHost();
    await plugger(h, { ...SETTINGS, ovsdbConnection: 'tcp:192.0.2.9:6640' }).plug(vif(), target);
    const vsctl = h.ran(/^ovs-vsctl/);
    assert.ok(vsctl.length >= 3);
    for (const c of vsctl) assert.match(c, /^ovs-vsctl --timeout=120 --oneline (--format=json )?--db=tcp:192\.0\.2\.9:6640 --/);
  });

  it('leaves TX checksum offload alone on a system bridge, or on netdev with userspace TSO on', async () => {
    for (const h of [new FakeHost({ bridge: 'system' }), new FakeHost({ bridge: '' }), new FakeHost({ tso: true })]) {
      await plugger(h).plug(vif(), target);
      assert.deepEqual(h.ran(/ethtool/), []);
      assert.equal(h.ran(/add-port/).length, 1);
    }
  });

  it('creates a missing bridge: the requested datapath, else ovn-bridge-datapath-type, else netdev without the kernel module and system with it', async () => {
    const cases: [Record<string, unknown>, boolean, string | undefined, string][] = [
      [{ datapath_type: 'system' }, false, 'netdev', 'system'], [{}, false, undefined, 'netdev'], [{}, true, undefined, 'system'], [{}, true, 'netdev', 'netdev'],
    ];
    for (const [details, module, ovnDatapath, want] of cases) {
      const h = new FakeHost({ bridge: null, ovnDatapath });
      await plugger(h, SETTINGS, module).plug(vif(details), target);
      assert.deepEqual(h.ran(/add-br/).map((c) => c.replace(/^.* -- --may-exist/, '--may-exist')), [`--may-exist add-br br-int -- set Bridge br-int datapath_type=${want}`]);
      assert.equal(h.ran(/ethtool -K/).length, want === 'netdev' ? 1 : 0);
    }
  });

  it('sets the requested datapath on an existing bridge of another type (as os-vif does), on the binding\'s bridge', async () => {
    const h = new FakeHost({ bridge: 'system' });
    await plugger(h).plug(vif({ datapath_type: 'netdev', bridge_name: 'br-ovs' }), target);
    assert.equal(h.ran(/set Bridge br-ovs datapath_type=netdev/).length, 1);
    assert.match(h.ran(/add-port/)[0], /add-port br-ovs tap/);
    assert.equal(h.ran(/ethtool -K/).length, 1);
  });

  it('no MTU from the network: neither the veth nor mtu_request get one', async () => {
    const h = new FakeHost();
    await plugger(h).plug(vif({}, null), target);
    assert.deepEqual(h.ran(/ip link add/), ['ip link add tap3f1c2b5e-8d type veth peer name oc3f1c2b5e8d7a']);
    assert.doesNotMatch(h.ran(/add-port/)[0], /mtu_request/);
  });

  it('hybrid: qbr with the tap, the qvb/qvo pair, qvo on OVS with the external_ids', async () => {
    const h = new FakeHost();
    await plugger(h).plug(vif({ ovs_hybrid_plug: true }), target);
    for (const cmd of [
      'ip link add qbr3f1c2b5e-8d type bridge ageing_time 0',
      'ip link set tap3f1c2b5e-8d master qbr3f1c2b5e-8d',
      'ip link add qvb3f1c2b5e-8d mtu 1442 type veth peer name qvo3f1c2b5e-8d mtu 1442',
      'ip link set qvb3f1c2b5e-8d up promisc on',
      'ip link set qvo3f1c2b5e-8d up promisc on',
      'ip link set qvb3f1c2b5e-8d master qbr3f1c2b5e-8d',
    ]) assert.ok(h.calls.includes(cmd), cmd);
    const add = h.ran(/add-port/);
    assert.equal(add.length, 1);
    assert.match(add[0], /add-port br-int qvo3f1c2b5e-8d -- set Interface qvo3f1c2b5e-8d external_ids:iface-id=/);
    assert.equal(h.calls[h.calls.length - 1], 'nsenter --net=/proc/4242/ns/net ethtool -K eth0 tx off');
  });

  it('a failed plug removes what it made and says what failed', async () => {
    const h = new FakeHost().on(/add-port/, new CommandFailed('ovs-vsctl', [], 'ovs-vsctl: no bridge named br-int', false));
    await assert.rejects(plugger(h).plug(vif(), target), /ovs-vsctl .*add-port.*: ovs-vsctl: no bridge named br-int/);
    const after = h.calls.slice(h.calls.findIndex((c) => /add-port/.test(c)) + 1);
    assert.ok(after.some((c) => /--if-exists del-port tap3f1c2b5e-8d -- --if-exists del-port qvo3f1c2b5e-8d/.test(c)), after.join('\n'));
  });
});

describe('OVS plug: errors', () => {
  it('ovs-vsctl not installed: names the package', async () => {
    const h = new FakeHost().on(/^ovs-vsctl/, new CommandFailed('ovs-vsctl', [], '', true));
    await assert.rejects(plugger(h).plug(vif(), target), (e: Error) => e instanceof OvsUnavailable && /openvswitch-switch/.test(e.message));
    assert.deepEqual(h.ran(/ip link add/), []);
  });

  it('the database does not answer: names the connection and the option', async () => {
    const h = new FakeHost().on(/^ovs-vsctl/, new CommandFailed('ovs-vsctl', [], 'ovs-vsctl: unix:/x.sock: database connection failed (No such file or directory)', false));
    await assert.rejects(plugger(h, { ...SETTINGS, ovsdbConnection: 'unix:/x.sock' }).plug(vif(), target),
      /cannot reach the Open vSwitch database \(unix:\/x\.sock; \[os_vif_ovs\] ovsdb_connection\)/);
  });

  it('output that is not JSON is an error, not a crash', async () => {
    const h = new FakeHost().on(/find Bridge/, 'garbage');
    await assert.rejects(plugger(h).plug(vif(), target), /find Bridge name=br-int: output is not JSON/);
  });

  it('ethtool missing where the netdev datapath needs it: names the package, makes nothing', async () => {
    const h = new FakeHost().on(/^ethtool/, new CommandFailed('ethtool', ['--version'], '', true));
    await assert.rejects(plugger(h).plug(vif(), target), /install the ethtool package/);
    assert.deepEqual(h.ran(/ip link add|add-port/), []);
  });

  it('without Open vSwitch, listing and removing still handle the host\'s devices', async () => {
    const h = new FakeHost()
      .on(/^ovs-vsctl/, new CommandFailed('ovs-vsctl', [], '', true))
      .on(/ip -j -d link show type veth/, JSON.stringify([
        { ifname: 'tap3f1c2b5e-8d', ifalias: `nova-container-ovs:compute-1:${INSTANCE}` },
        { ifname: 'tapother', ifalias: `nova-container:compute-1:${INSTANCE}` }, // the Linux bridge plug's
        { ifname: 'oc0123456789ab' },
      ]))
      .on(/ip -j -d link show dev tap3f1c2b5e-8d/, JSON.stringify([{ ifname: 'tap3f1c2b5e-8d' }]));
    const p = plugger(h);
    assert.deepEqual(await p.plugged(), [{ devname: 'tap3f1c2b5e-8d', instanceUuid: INSTANCE }, { devname: 'oc0123456789ab', instanceUuid: null }]);
    await p.remove('tap3f1c2b5e-8d');
    assert.ok(h.calls.includes('ip link del tap3f1c2b5e-8d'));
  });
});

describe('OVS plug: listing, removing, ensure', () => {
  it('lists OVS rows of this host whose veth is gone, a qvo by its tap name', async () => {
    const h = new FakeHost().on(/find Interface external_ids:nova-container-host=compute-1/, table(['name', 'external_ids'],
      ['tapaaaaaaaa-aa', ['map', [['vm-uuid', 'i-1']]]], ['qvobbbbbbbb-bb', ['map', [['vm-uuid', 'i-2']]]]));
    assert.deepEqual(await plugger(h).plugged(), [{ devname: 'tapaaaaaaaa-aa', instanceUuid: 'i-1' }, { devname: 'tapbbbbbbbb-bb', instanceUuid: 'i-2' }]);
  });

  it('remove: both possible OVS ports in one call, then tap, qvb and qbr where they exist; other devices are not its', async () => {
    const h = new FakeHost().on(/ip -j -d link show dev (tap|qbr)3f1c2b5e-8d/, (line) => JSON.stringify([{ ifname: line.split(' ').pop() }]));
    await plugger(h).remove('tap3f1c2b5e-8d');
    assert.match(h.ran(/del-port/)[0], /-- --if-exists del-port tap3f1c2b5e-8d -- --if-exists del-port qvo3f1c2b5e-8d$/);
    assert.deepEqual(h.ran(/ip link del/), ['ip link del tap3f1c2b5e-8d', 'ip link del qbr3f1c2b5e-8d']);
    const other = new FakeHost();
    await plugger(other).remove('brq1234');
    assert.deepEqual(other.calls, []);
  });

  /** A host where the plug is in place: the tap with its peer in the target's namespace, the Interface intact. */
  function plugged(ids = externalIds(vif(), INSTANCE, 'compute-1'), txChecksum = 'off'): FakeHost {
    return new FakeHost()
      .on(/ip -j -d link show dev tap3f1c2b5e-8d/, JSON.stringify([{ ifname: 'tap3f1c2b5e-8d', ifindex: 17, link_netnsid: 0, flags: ['UP'] }]))
      .on(/nsenter --net=\/proc\/4242\/ns\/net ip -j link show/, JSON.stringify([{ ifname: 'eth0', link_index: 17 }]))
      .on(/find Interface name=tap3f1c2b5e-8d/, table(['external_ids', 'mtu_request', 'ofport', 'error'], [['map', Object.entries(ids)], 1442, 2, ['set', []]]))
      .on(/port-to-br tap3f1c2b5e-8d/, 'br-int\n')
      .on(/ethtool -k eth0/, `Features for eth0:\nrx-checksumming: on\ntx-checksumming: ${txChecksum}\n`);
  }

  it('ensure: ok when all is in place', async () => {
    const h = plugged();
    assert.equal(await plugger(h).ensure(vif(), target), 'ok');
    assert.deepEqual(h.ran(/add-port|ip link add|ethtool -K/), []);
  });

  it('ensure: wrong external_ids re-add the port (reattached)', async () => {
    const h = plugged({ ...externalIds(vif(), INSTANCE, 'compute-1'), 'vm-uuid': 'someone-else' });
    assert.equal(await plugger(h).ensure(vif(), target), 'reattached');
    assert.match(h.ran(/add-port/)[0], /-- --if-exists del-port tap3f1c2b5e-8d -- add-port br-int tap3f1c2b5e-8d -- set Interface tap3f1c2b5e-8d external_ids:iface-id=/);
    assert.deepEqual(h.ran(/ip link add/), [], 'the veth is kept');
  });

  it('ensure: a missing OVS port is added again; TX checksum offload found on is turned off (by the peer\'s name inside)', async () => {
    const h = plugged(undefined, 'on').on(/find Interface name=tap3f1c2b5e-8d/, table(['external_ids', 'mtu_request', 'ofport', 'error']));
    assert.equal(await plugger(h).ensure(vif(), { ...target, ifname: 'eth1' }), 'reattached');
    assert.equal(h.ran(/add-port/).length, 1);
    assert.deepEqual(h.ran(/ethtool -K/), ['nsenter --net=/proc/4242/ns/net ethtool -K eth0 tx off']);
  });

  it('ensure: tap gone, or its peer not in the target\'s namespace: plugged again (replugged)', async () => {
    const gone = new FakeHost();
    assert.equal(await plugger(gone).ensure(vif(), target), 'replugged');
    assert.equal(gone.ran(/ip link add tap/).length, 1);
    const elsewhere = plugged().on(/nsenter --net=\/proc\/4242\/ns\/net ip -j link show/, '[]');
    assert.equal(await plugger(elsewhere).ensure(vif(), target), 'replugged');
    assert.equal(elsewhere.ran(/ip link add tap/).length, 1);
  });
});
