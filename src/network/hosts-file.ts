/**
 * An instance's /etc/hosts: loopback names, and its host name on each of its fixed addresses
 * (as cloud-init's manage_etc_hosts writes it on a VM), or on 127.0.1.1 (Debian's convention)
 * when it has none, so the host name always resolves.
 */
import type { VifModel } from './network-info.js';

export function hostsFile(hostname: string, vifs: VifModel[]): string {
  const addresses = vifs.flatMap((v) => v.network.subnets.flatMap((s) => s.ips.map((ip) => ip.address))).filter((a): a is string => !!a);
  const own = addresses.length > 0 ? addresses : ['127.0.1.1'];
  return [
    '# written by nova-container from the instance\'s Neutron ports',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    ...own.map((a) => `${a}\t${hostname}`),
    '',
  ].join('\n');
}
