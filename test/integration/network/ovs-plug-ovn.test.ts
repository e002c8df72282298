/**
 * The OVS plug under ML2/OVN, against real OVN daemons the test starts on its private switch
 * (NB and SB databases, ovn-northd, ovn-controller as this host's chassis, br-int netdev):
 * OVN claims a plugged port by its iface-id (the logical port turns up, which is what makes
 * Neutron send network-vif-plugged), and a security group written as OVN ACLs (TCP 5201 in,
 * every other IPv4 packet in dropped) holds on the plugged port, and still holds after the
 * container was restarted and plugged again and after ovs-vswitchd was restarted.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import type { VifModel } from '../../../src/network/network-info.js';
import { processNetns } from '../../../src/network/vif-plug.js';
import { OvsPlugger } from '../../../src/network/ovs-plug.js';
import { NetnsContainer, PrivateSwitch, requireOvnPrograms, requirePrograms, tcpTransfer } from './ovs-switch.js';
import { testVif } from './vif-fixture.js';

/** A port as ML2/OVN binds it: vif_type ovs, no bridge_name, no datapath_type. */
function vif(address: string, mac: string): VifModel {
  return testVif({ type: 'ovs', mac, address, mtu: 1442, details: { port_filter: true, connectivity: 'l2' } });
}

async function waitFor(check: () => boolean | Promise<boolean>, seconds = 20): Promise<boolean> {
  for (let i = 0; i < seconds * 2; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

describe('OVS plug under OVN: the port is claimed by its iface-id and security group ACLs hold', function () {
  this.timeout(240_000);
  const sw = new PrivateSwitch();
  const a = new NetnsContainer();
  const b = new NetnsContainer();
  const va = vif('10.97.42.11', 'fa:16:3e:00:42:11');
  const vb = vif('10.97.42.12', 'fa:16:3e:00:42:12');
  const plugger = new OvsPlugger('ovn-test-host', { bridge: 'br-int', ovsdbConnection: sw.db, vsctlTimeoutSeconds: 20 }, sw.exec);
  const owners = new Map([[a, randomUUID()], [b, randomUUID()]]);
  const target = (ctr: NetnsContainer) => ({ netns: processNetns(ctr.pid), ifname: 'eth0', instanceUuid: owners.get(ctr) ?? '' });
  const up = (v: VifModel) => sw.nbctl(['get', 'Logical_Switch_Port', v.id, 'up']) === 'true';
  /** Ping a -> b blocked while TCP 5201 a -> b goes through and TCP 5202 does not: the ACLs, not a broken path. */
  const aclsHold = async (): Promise<boolean> => !a.ping('10.97.42.12')
    && await tcpTransfer(a, b, '10.97.42.12', 500_000) === 500_000
    && await tcpTransfer(a, b, '10.97.42.12', 1000, 2000, 5202) instanceof Error;

  before(() => {
    requirePrograms();
    requireOvnPrograms();
    sw.start();
    sw.startOvn('chassis-test');
    sw.nbctl(['ls-add', 'neutron-test']);
    for (const v of [va, vb]) {
      sw.nbctl(['lsp-add', 'neutron-test', v.id]);
      sw.nbctl(['lsp-set-addresses', v.id, `${v.address} ${v.network.subnets[0].ips[0].address}`]);
    }
    for (const ctr of [a, b]) ctr.start();
  });

  after(() => {
    for (const ctr of [a, b]) ctr.stop();
    sw.stop();
  });

  it('plugged ports are claimed by this chassis (logical ports up); traffic flows both ways', async () => {
    assert.ok(await waitFor(() => sw.vsctl(['list-br']).split('\n').includes('br-int')), 'ovn-controller made br-int');
    assert.equal(sw.vsctl(['get', 'Bridge', 'br-int', 'datapath_type']), 'netdev');
    assert.equal(up(va), false, 'not up before it is plugged');
    await plugger.plug(va, target(a));
    await plugger.plug(vb, target(b));
    assert.ok(await waitFor(() => up(va) && up(vb)), 'both logical switch ports up');
    assert.ok(await waitFor(() => a.ping('10.97.42.12')), 'a -> b');
    assert.ok(b.ping('10.97.42.11'), 'b -> a');
    assert.equal(await tcpTransfer(a, b, '10.97.42.12', 2_000_000), 2_000_000);
    assert.equal(await tcpTransfer(b, a, '10.97.42.11', 2_000_000, 8000, 5202), 2_000_000);
  });

  it('a security group as ACLs on b (TCP 5201 in, other IPv4 in dropped) holds; b still reaches a', async () => {
    sw.nbctl(['acl-add', 'neutron-test', 'to-lport', '1002', `outport == "${vb.id}" && ip4 && tcp.dst == 5201`, 'allow-related']);
    sw.nbctl(['acl-add', 'neutron-test', 'to-lport', '1001', `outport == "${vb.id}" && ip4`, 'drop']);
    assert.ok(await waitFor(aclsHold), 'ping and TCP 5202 to b dropped, TCP 5201 to b allowed');
    assert.ok(b.ping('10.97.42.11'), 'b -> a: a has no such ACL');
  });

  it('b restarted (a new namespace): plugged again, claimed again, the ACLs still hold', async () => {
    b.restart();
    assert.equal(await plugger.ensure(vb, target(b)), 'replugged');
    assert.ok(await waitFor(() => up(vb)), 'b up again');
    assert.ok(await waitFor(aclsHold), 'the ACLs hold on the new plug');
  });

  it('ovs-vswitchd restarted: the ports stay as plugged, ovn-controller programs the switch again, the ACLs still hold', async () => {
    sw.kill('ovs-vswitchd');
    sw.startSwitch();
    for (const [v, ctr] of [[va, a], [vb, b]] as const) assert.equal(await plugger.ensure(v, target(ctr)), 'ok', v.devname);
    assert.ok(await waitFor(aclsHold), 'the ACLs hold after the restart');
    assert.ok(b.ping('10.97.42.11'), 'b -> a');
  });
});
