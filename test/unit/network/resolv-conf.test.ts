import { strict as assert } from 'node:assert';
import { resolvConf } from '../../../src/network/resolv-conf.js';
import type { VifModel } from '../../../src/network/network-info.js';

function vif(subnets: { dns?: string[]; dhcp?: string }[]): VifModel {
  return {
    id: 'p', address: 'fa:16:3e:00:00:01', type: 'bridge', details: {}, devname: 'tapp', ovs_interfaceid: null, qbh_params: null, qbg_params: null,
    active: true, vnic_type: 'normal', profile: {}, preserve_on_delete: false, delegate_create: true, meta: {},
    network: {
      id: 'n', bridge: 'brqn', label: 'l', meta: {},
      subnets: subnets.map((s) => ({
        cidr: '10.0.0.0/24', version: 4 as const, routes: [], ips: [],
        gateway: { address: '10.0.0.1', type: 'gateway' as const, version: 4 as const, meta: {} },
        dns: (s.dns ?? []).map((d) => ({ address: d, type: 'dns' as const, version: 4 as const, meta: {} })),
        meta: s.dhcp ? { dhcp_server: s.dhcp } : {},
      })),
    },
  };
}

describe('resolv.conf from the ports\' subnets', () => {
  it('names the subnets\' dns_nameservers, in port order, without repeats', () => {
    const text = resolvConf([vif([{ dns: ['10.0.0.53', '9.9.9.9'], dhcp: '10.0.0.2' }]), vif([{ dns: ['9.9.9.9', '1.1.1.1'] }])]);
    assert.equal(text?.split('\n').filter((l) => l.startsWith('nameserver')).join(','), 'nameserver 10.0.0.53,nameserver 9.9.9.9,nameserver 1.1.1.1');
  });

  it('falls back to the DHCP servers (dnsmasq answers DNS) when no subnet names a nameserver', () => {
    const text = resolvConf([vif([{ dhcp: '10.20.0.2' }]), vif([{ dhcp: '10.30.0.2' }])]);
    assert.match(text ?? '', /^nameserver 10\.20\.0\.2\nnameserver 10\.30\.0\.2\n$/m);
  });

  it('does not take the gateway Nova names as DHCP server of a network without a DHCP port (OVN) for a resolver', () => {
    assert.equal(resolvConf([vif([{ dhcp: '10.0.0.1' }])]), null);
    assert.match(resolvConf([vif([{ dhcp: '10.0.0.1' }]), vif([{ dhcp: '10.30.0.2' }])]) ?? '', /^nameserver 10\.30\.0\.2\n$/m);
  });

  it('keeps at most three, as the resolver reads no more', () => {
    const text = resolvConf([vif([{ dns: ['1.0.0.1', '1.0.0.2', '1.0.0.3', '1.0.0.4'] }])]);
    assert.equal(text?.match(/nameserver/g)?.length, 3);
  });

  it('is null when nothing names a resolver (the engine\'s file stays)', () => {
    assert.equal(resolvConf([]), null);
    assert.equal(resolvConf([vif([{}])]), null);
  });
});
