/**
 * A VIF as Nova's network_info carries it, for the plug tests: one IPv4 address on a /24 whose
 * gateway is .1, the port's MTU on its network.
 */
import { randomUUID } from 'node:crypto';
import { tapName, type VifModel } from '../../../src/network/network-info.js';

export interface TestVif {
  type: 'bridge' | 'ovs';
  mac: string;
  address: string;
  mtu: number;
  id?: string;
  bridge?: string | null;
  details?: Record<string, unknown>;
}

export function testVif(o: TestVif): VifModel {
  const id = o.id ?? randomUUID();
  const net = o.address.split('.').slice(0, 3).join('.');
  return {
    id, address: o.mac, type: o.type, details: o.details ?? {}, devname: tapName(id), ovs_interfaceid: o.type === 'ovs' ? id : null,
    qbh_params: null, qbg_params: null, active: false, vnic_type: 'normal', profile: {}, preserve_on_delete: false, delegate_create: true, meta: {},
    network: {
      id: 'n', bridge: o.bridge ?? null, label: 'test', meta: { mtu: o.mtu },
      subnets: [{
        cidr: `${net}.0/24`, version: 4, meta: {}, dns: [], routes: [],
        gateway: { address: `${net}.1`, type: 'gateway', version: 4, meta: {} },
        ips: [{ address: o.address, type: 'fixed', version: 4, meta: {}, floating_ips: [] }],
      }],
    },
  };
}
