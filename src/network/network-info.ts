/**
 * Nova's network model (nova/network/model.py VIF/Network/Subnet/IP) built from Neutron's
 * records, as nova-compute builds it (nova/network/neutron.py _build_vif_model,
 * _nw_info_build_network, _get_subnets_from_port). Saved as InstanceInfoCache.network_info
 * (a JSON string): nova-api reads a server's addresses from it.
 */
import type { NeutronNetwork, NeutronPort, NeutronSubnet } from './neutron-types.js';

/** Linux interface names are at most 14 characters here, as Nova's NIC_NAME_LEN. */
export const NIC_NAME_LEN = 14;

export interface IpModel { address: string | null; type: 'fixed' | 'dns' | 'gateway'; version: 4 | 6 | null; meta: Record<string, unknown>; floating_ips?: IpModel[] }
export interface SubnetModel {
  cidr: string; dns: IpModel[]; gateway: IpModel; ips: IpModel[];
  routes: { cidr: string; gateway: IpModel; interface: null; meta: Record<string, unknown> }[];
  version: 4 | 6; meta: Record<string, unknown>;
}
export interface NetworkModel { id: string; bridge: string | null; label: string; subnets: SubnetModel[]; meta: Record<string, unknown> }
export interface VifModel {
  id: string; address: string; network: NetworkModel; type: string; details: Record<string, unknown>; devname: string;
  ovs_interfaceid: string | null; qbh_params: null; qbg_params: null; active: boolean; vnic_type: string;
  profile: Record<string, unknown>; preserve_on_delete: boolean; delegate_create: boolean; meta: Record<string, unknown>;
}

export function tapName(portId: string): string {
  return `tap${portId}`.slice(0, NIC_NAME_LEN);
}

/** The Linux bridge agent's bridge for a network. */
export function linuxBridgeName(networkId: string): string {
  return `brq${networkId}`.slice(0, NIC_NAME_LEN);
}

const ipVersion = (address: string | null): 4 | 6 | null => (address === null ? null : address.includes(':') ? 6 : 4);

function ip(address: string | null, type: IpModel['type']): IpModel {
  const model: IpModel = { address, type, version: ipVersion(address), meta: {} };
  if (type === 'fixed') model.floating_ips = [];
  return model;
}

/**
 * One VIF. `dhcpServers` maps subnet id -> the address of the network's DHCP port on it
 * (Nova looks up ports with device_owner network:dhcp; else a DHCP-enabled subnet names its
 * gateway). `ovsBridge` is [neutron] ovs_bridge, an OVS port's bridge when its binding names none.
 */
export function vifModel(port: NeutronPort, network: NeutronNetwork, subnets: NeutronSubnet[], preserveOnDelete: boolean,
  dhcpServers: Record<string, string>, ovsBridge: string): VifModel {
  const vifType = port['binding:vif_type'] ?? 'unbound';
  const ownSubnets = subnets.filter((s) => port.fixed_ips.some((f) => f.subnet_id === s.id));
  const subnetModels: SubnetModel[] = ownSubnets.map((s) => ({
    cidr: s.cidr,
    dns: s.dns_nameservers.map((d) => ip(d, 'dns')),
    gateway: ip(s.gateway_ip, 'gateway'),
    ips: port.fixed_ips.filter((f) => f.subnet_id === s.id).map((f) => ip(f.ip_address, 'fixed')),
    routes: s.host_routes.map((r) => ({ cidr: r.destination, gateway: ip(r.nexthop, 'gateway'), interface: null, meta: {} })),
    version: s.ip_version,
    meta: dhcpServers[s.id] ? { dhcp_server: dhcpServers[s.id] } : s.enable_dhcp ? { dhcp_server: s.gateway_ip } : {},
  }));
  const meta: Record<string, unknown> = {
    injected: false,
    tenant_id: port.tenant_id ?? port.project_id ?? null,
    mtu: network.mtu ?? null,
    physical_network: network['provider:physical_network'] ?? null,
    tunneled: ['vxlan', 'gre', 'geneve'].includes(String(network['provider:network_type'] ?? '')),
  };
  let bridge: string | null = null;
  if (vifType === 'bridge') {
    bridge = String(port['binding:vif_details']?.bridge_name ?? `brq${network.id}`).slice(0, NIC_NAME_LEN);
    meta.should_create_bridge = true;
  } else if (vifType === 'ovs') {
    const named = port['binding:vif_details']?.bridge_name; // ML2/OVN names none: [neutron] ovs_bridge
    bridge = typeof named === 'string' && named !== '' ? named : ovsBridge;
  }
  return {
    id: port.id,
    address: port.mac_address,
    network: { id: network.id, bridge, label: network.name, subnets: subnetModels, meta },
    type: vifType,
    details: port['binding:vif_details'] ?? {},
    devname: tapName(port.id),
    ovs_interfaceid: vifType === 'ovs' ? port.id : null,
    qbh_params: null,
    qbg_params: null,
    active: port.admin_state_up === false || port.status === 'ACTIVE',
    vnic_type: port['binding:vnic_type'] ?? 'normal',
    profile: port['binding:profile'] ?? {},
    preserve_on_delete: preserveOnDelete,
    delegate_create: true,
    meta: {},
  };
}
