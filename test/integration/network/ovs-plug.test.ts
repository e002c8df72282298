/**
 * The OVS plug against a real Open vSwitch (Debian's openvswitch-switch, userspace netdev
 * datapath: no kernel module needed) started by the test on a private database inside a
 * network namespace of its own, with "containers" that are processes in namespaces of their
 * own: a port is the tap on br-int with os-vif's external_ids and mtu_request, the container
 * end has the port's MAC, address and MTU; ping and a TCP transfer work both ways (the
 * container end's TX checksum offload is off: with it on, TCP gets no handshake); hybrid
 * plug puts the tap in qbr and qvo on br-int; ensure mends what an ovs-vswitchd restart, a
 * lost database or a restarted container broke; unplug leaves no port and no device.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import type { VifModel } from '../../../src/network/network-info.js';
import { processNetns } from '../../../src/network/vif-plug.js';
import { OvsPlugger, deviceNames } from '../../../src/network/ovs-plug.js';
import { testVif } from './vif-fixture.js';
import { NetnsContainer, PrivateSwitch, requirePrograms, tcpTransfer } from './ovs-switch.js';

const MTU = 1400;

function vif(address: string, mac: string, details: Record<string, unknown> = {}): VifModel {
  return testVif({ type: 'ovs', mac, address, mtu: MTU, details: { port_filter: true, connectivity: 'l2', ...details } });
}

describe('OVS VIF plug against a real Open vSwitch (netdev datapath)', function () {
  this.timeout(180_000);
  const sw = new PrivateSwitch();
  const a = new NetnsContainer();
  const b = new NetnsContainer();
  const c = new NetnsContainer();
  const va = vif('10.97.41.11', 'fa:16:3e:00:41:11');
  const vb = vif('10.97.41.12', 'fa:16:3e:00:41:12');
  const vc = vif('10.97.41.13', 'fa:16:3e:00:41:13', { ovs_hybrid_plug: true }); // ML2/OVS with iptables_hybrid
  const owners = new Map([[va.id, randomUUID()], [vb.id, randomUUID()], [vc.id, randomUUID()]]);
  const plugger = new OvsPlugger('ovs-test-host', { bridge: 'br-int', ovsdbConnection: sw.db, vsctlTimeoutSeconds: 20 }, sw.exec);
  const target = (v: VifModel, ctr: NetnsContainer) => ({ netns: processNetns(ctr.pid), ifname: 'eth0', instanceUuid: owners.get(v.id) ?? '' });
  const ports = () => sw.vsctl(['list-ports', 'br-int']).split('\n').filter(Boolean).sort();

  before(() => {
    requirePrograms();
    sw.start();
    sw.addNetdevBridge('br-int');
    for (const ctr of [a, b, c]) ctr.start();
  });

  after(() => {
    for (const ctr of [a, b, c]) ctr.stop();
    sw.stop();
  });

  it('plugs: the tap on br-int with os-vif\'s external_ids and mtu_request; eth0 inside with MAC, address, MTU, TX checksum offload off', async () => {
    await plugger.plug(va, target(va, a));
    await plugger.plug(vb, target(vb, b));
    assert.deepEqual(ports(), [va.devname, vb.devname].sort());
    const [ids, mtuRequest] = sw.iface(va.devname, ['external_ids', 'mtu_request']) as [['map', [string, string][]], number];
    assert.deepEqual(Object.fromEntries(ids[1]), {
      'iface-id': va.id, 'iface-status': 'active', 'attached-mac': va.address, 'vm-uuid': owners.get(va.id), 'nova-container-host': 'ovs-test-host',
    });
    assert.equal(mtuRequest, MTU);
    assert.match(sw.ip(['link', 'show', 'dev', va.devname]), new RegExp(`mtu ${MTU}`));
    const inside = a.run('ip', ['addr', 'show', 'dev', 'eth0']);
    assert.match(inside, /link\/ether fa:16:3e:00:41:11/);
    assert.match(inside, /inet 10\.97\.41\.11\/24/);
    assert.match(inside, new RegExp(`mtu ${MTU}`));
    assert.match(a.run('ethtool', ['-k', 'eth0']), /^tx-checksumming: off/m);
  });

  it('ping both ways, and a TCP transfer both ways', async () => {
    assert.ok(a.ping('10.97.41.12'), 'a -> b');
    assert.ok(b.ping('10.97.41.11'), 'b -> a');
    assert.equal(await tcpTransfer(a, b, '10.97.41.12', 4_000_000), 4_000_000);
    assert.equal(await tcpTransfer(b, a, '10.97.41.11', 4_000_000), 4_000_000);
  });

  it('with TX checksum offload on again TCP gets no handshake; ensure turns it off and TCP works', async () => {
    a.run('ethtool', ['-K', 'eth0', 'tx', 'on']);
    assert.ok(await tcpTransfer(a, b, '10.97.41.12', 100_000, 3000) instanceof Error, 'the pitfall: no TCP over netdev with offload on');
    assert.equal(await plugger.ensure(va, target(va, a)), 'reattached');
    assert.equal(await tcpTransfer(a, b, '10.97.41.12', 1_000_000), 1_000_000);
    assert.equal(await plugger.ensure(va, target(va, a)), 'ok');
  });

  it('hybrid plug: tap in qbr, qvb/qvo pair, qvo on br-int with the external_ids; traffic flows', async () => {
    const names = deviceNames(vc.id);
    await plugger.plug(vc, target(vc, c));
    assert.deepEqual(ports(), [va.devname, vb.devname, names.qvo].sort());
    assert.match(sw.ip(['link', 'show', 'dev', names.tap]), new RegExp(`master ${names.qbr}`));
    assert.match(sw.ip(['link', 'show', 'dev', names.qvb]), new RegExp(`master ${names.qbr}`));
    const [ids] = sw.iface(names.qvo, ['external_ids']) as [['map', [string, string][]]];
    assert.equal(Object.fromEntries(ids[1])['iface-id'], vc.id);
    assert.ok(c.ping('10.97.41.11'), 'c -> a');
    assert.ok(a.ping('10.97.41.13'), 'a -> c');
    assert.equal(await tcpTransfer(c, a, '10.97.41.11', 2_000_000), 2_000_000);
    assert.equal(await plugger.ensure(vc, target(vc, c)), 'ok');
    sw.ip(['link', 'set', names.tap, 'nomaster']);
    assert.equal(await plugger.ensure(vc, target(vc, c)), 'reattached');
    assert.ok(c.ping('10.97.41.11'), 'c -> a after the tap went back into qbr');
  });

  it('lists the devices it made with their instances', async () => {
    const listed = await plugger.plugged();
    for (const v of [va, vb, vc]) assert.ok(listed.some((d) => d.devname === v.devname && d.instanceUuid === owners.get(v.id)), v.devname);
  });

  it('ovs-vswitchd killed: no traffic; restarted: the database kept the ports, ensure finds them intact, traffic flows again', async () => {
    sw.kill('ovs-vswitchd');
    assert.equal(a.ping('10.97.41.12'), false, 'nothing forwards while ovs-vswitchd is down');
    sw.startSwitch();
    for (const [v, ctr] of [[va, a], [vb, b]] as const) assert.equal(await plugger.ensure(v, target(v, ctr)), 'ok', v.devname);
    assert.ok(await waitFor(() => a.ping('10.97.41.12')), 'a -> b after the restart');
    assert.equal(await tcpTransfer(b, a, '10.97.41.11', 1_000_000), 1_000_000);
  });

  it('ovs-vswitchd and a new, empty database: ensure makes br-int (netdev) and the ports again', async () => {
    sw.kill('ovs-vswitchd');
    sw.kill('ovsdb-server');
    sw.createDatabase();
    sw.startDatabase();
    sw.startSwitch();
    assert.equal(a.ping('10.97.41.12'), false);
    for (const [v, ctr] of [[va, a], [vb, b], [vc, c]] as const) assert.equal(await plugger.ensure(v, target(v, ctr)), 'reattached', v.devname);
    assert.equal(sw.vsctl(['get', 'Bridge', 'br-int', 'datapath_type']), 'netdev');
    assert.deepEqual(ports(), [va.devname, vb.devname, deviceNames(vc.id).qvo].sort());
    assert.ok(await waitFor(() => a.ping('10.97.41.12')), 'a -> b');
    assert.ok(await waitFor(() => c.ping('10.97.41.12')), 'c -> b');
    assert.equal(await tcpTransfer(a, b, '10.97.41.12', 1_000_000), 1_000_000);
  });

  it('a restarted container (a new, empty namespace) is plugged again', async () => {
    b.restart();
    assert.ok(await waitFor(() => !sw.linkExists(vb.devname)), 'the veth went with the old namespace');
    assert.equal(await plugger.ensure(vb, target(vb, b)), 'replugged');
    assert.ok(await waitFor(() => a.ping('10.97.41.12')), 'a -> b');
    assert.equal(await tcpTransfer(a, b, '10.97.41.12', 1_000_000), 1_000_000);
  });

  it('unplug removes the OVS ports and every device (tap, qbr, qvb, qvo); again is not an error', async () => {
    for (const v of [va, vb, vc]) await plugger.remove(v.devname);
    assert.deepEqual(ports(), []);
    for (const v of [va, vc]) {
      const names = deviceNames(v.id);
      for (const dev of [names.tap, names.qbr, names.qvb, names.qvo]) assert.equal(sw.linkExists(dev), false, dev);
    }
    assert.doesNotMatch(a.run('ip', ['link']), /eth0/);
    assert.equal((await plugger.plugged()).length, 0);
    await plugger.remove(va.devname);
  });

  it('an OVS row left by a container that went away is listed by its owner, and removed', async () => {
    await plugger.plug(va, target(va, a));
    a.restart(); // the veth goes with the namespace, the Interface row stays
    assert.ok(await waitFor(() => !sw.linkExists(va.devname)));
    assert.deepEqual(await plugger.plugged(), [{ devname: va.devname, instanceUuid: owners.get(va.id) }]);
    await plugger.remove(va.devname);
    assert.deepEqual(ports(), []);
    assert.deepEqual(await plugger.plugged(), []);
  });
});

async function waitFor(check: () => boolean, seconds = 10): Promise<boolean> {
  for (let i = 0; i < seconds * 2; i++) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}
