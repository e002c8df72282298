import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { vifModel, tapName, linuxBridgeName } from '../../../src/network/network-info.js';
import type { NeutronNetwork, NeutronPort, NeutronSubnet } from '../../../src/network/neutron-types.js';

const NET = '3f1e2d4c-aaaa-bbbb-cccc-000000000001';
const PORT = '9a8b7c6d-1111-2222-3333-444444444444';

const port: NeutronPort = {
  id: PORT, network_id: NET, mac_address: 'fa:16:3e:00:00:01', status: 'ACTIVE', admin_state_up: true,
  fixed_ips: [{ subnet_id: 's1', ip_address: '10.20.0.5' }], device_id: 'i1', device_owner: 'compute:nova',
  'binding:vif_type': 'bridge', 'binding:vif_details': { port_filter: true, connectivity: 'l2' }, 'binding:vnic_type': 'normal',
  'binding:profile': {}, tenant_id: 'proj1',
};
const network: NeutronNetwork = { id: NET, name: 'private', mtu: 1450, 'provider:network_type': 'vxlan', 'provider:physical_network': null };
const subnets: NeutronSubnet[] = [
  { id: 's1', network_id: NET, cidr: '10.20.0.0/24', ip_version: 4, gateway_ip: '10.20.0.1', dns_nameservers: ['10.20.0.3'],
    host_routes: [{ destination: '192.168.7.0/24', nexthop: '10.20.0.9' }], enable_dhcp: true },
  { id: 'other', network_id: NET, cidr: '10.21.0.0/24', ip_version: 4, gateway_ip: null, dns_nameservers: [], host_routes: [], enable_dhcp: false },
];

describe('network info model', () => {
  it('equals what Nova\'s own model classes produce for a Linux bridge port (fixture made by python3-nova)', () => {
    const fixture = JSON.parse(readFileSync(new URL('../../../../test/fixtures/network-info/bridge-vif.json', import.meta.url), 'utf8')) as unknown[];
    assert.deepEqual([vifModel(port, network, subnets, false, { s1: '10.20.0.2' }, 'br-int')], fixture);
  });

  it('names the tap after the port and the bridge after the network, 14 characters at most', () => {
    assert.equal(tapName(PORT), 'tap9a8b7c6d-11');
    assert.equal(linuxBridgeName(NET), 'brq3f1e2d4c-aa');
  });

  it('an OVS port: the binding\'s bridge_name, else [neutron] ovs_bridge (ML2/OVN names none); ovs_interfaceid is the port id', () => {
    const ovn = vifModel({ ...port, 'binding:vif_type': 'ovs' }, network, subnets, false, {}, 'br-ovn');
    assert.equal(ovn.network.bridge, 'br-ovn');
    assert.equal(ovn.ovs_interfaceid, PORT);
    assert.equal(ovn.network.meta.should_create_bridge, undefined);
    const ml2ovs = vifModel({ ...port, 'binding:vif_type': 'ovs', 'binding:vif_details': { bridge_name: 'br-int2', ovs_hybrid_plug: true } }, network, subnets, false, {}, 'br-ovn');
    assert.equal(ml2ovs.network.bridge, 'br-int2');
    const unnamed = vifModel({ ...port, 'binding:vif_type': 'ovs', 'binding:vif_details': { bridge_name: '' } }, network, subnets, false, {}, 'br-ovn');
    assert.equal(unnamed.network.bridge, 'br-ovn', 'an empty bridge_name is none');
  });

  it('marks a port that is not ACTIVE as not active, and a DHCP subnet without a DHCP port names its gateway', () => {
    const v = vifModel({ ...port, status: 'DOWN' }, network, subnets, true, {}, 'br-int');
    assert.equal(v.active, false);
    assert.equal(v.preserve_on_delete, true);
    assert.deepEqual(v.network.subnets[0].meta, { dhcp_server: '10.20.0.1' });
  });
});
