/**
 * A container's /etc/resolv.conf from its ports, as a VM learns it by DHCP from Neutron: the
 * subnets' dns_nameservers, or else the subnets' DHCP servers (Neutron's dnsmasq answers DNS
 * too), in port order, at most three (the resolver reads no more). A DHCP server that is the
 * subnet's gateway is no dnsmasq but Nova's stand-in for a network without a DHCP port (OVN's
 * own DHCP): nothing answers DNS there, and OVN announces the resolvers of Neutron's host, so
 * the engine's file (this host's resolvers) stays. The network's dns_domain would come through
 * DHCP as well, but Nova's network model does not carry it.
 */
import type { VifModel } from './network-info.js';

const MAX_NAMESERVERS = 3;

export function resolvConf(vifs: VifModel[]): string | null {
  const configured: string[] = [];
  const dhcp: string[] = [];
  for (const vif of vifs) {
    for (const subnet of vif.network.subnets) {
      for (const d of subnet.dns) if (d.address) configured.push(d.address);
      const server = subnet.meta.dhcp_server;
      if (typeof server === 'string' && server && server !== subnet.gateway.address) dhcp.push(server);
    }
  }
  const servers = [...new Set(configured.length > 0 ? configured : dhcp)].slice(0, MAX_NAMESERVERS);
  if (servers.length === 0) return null;
  return `# written by nova-container from the instance's Neutron subnets\n${servers.map((s) => `nameserver ${s}`).join('\n')}\n`;
}
