/** Neutron v2.0 records as the API returns them (only the fields this host reads). */

export interface NeutronFixedIp { subnet_id: string; ip_address: string }

export interface NeutronPort {
  id: string;
  network_id: string;
  mac_address: string;
  status: string;
  admin_state_up: boolean;
  fixed_ips: NeutronFixedIp[];
  device_id: string;
  device_owner: string;
  'binding:host_id'?: string | null;
  'binding:vif_type'?: string;
  'binding:vif_details'?: Record<string, unknown>;
  'binding:vnic_type'?: string;
  'binding:profile'?: Record<string, unknown> | null;
  security_groups?: string[];
  tenant_id?: string;
  project_id?: string;
}

export interface NeutronNetwork {
  id: string;
  name: string;
  mtu?: number;
  tenant_id?: string;
  project_id?: string;
  'provider:physical_network'?: string | null;
  'provider:network_type'?: string | null;
  shared?: boolean;
}

export interface NeutronSubnet {
  id: string;
  network_id: string;
  cidr: string;
  ip_version: 4 | 6;
  gateway_ip: string | null;
  dns_nameservers: string[];
  host_routes: { destination: string; nexthop: string }[];
  enable_dhcp: boolean;
}
