/**
 * An instance's Neutron ports, as nova-compute handles them (nova/network/neutron.py
 * allocate_for_instance, _update_ports_for_instance, deallocate_for_instance): ports Nova
 * creates on requested networks (or requested ports, validated) are bound to this host with
 * device_id = instance uuid and device_owner = compute:<zone>; on delete, ports this host
 * created are deleted and ports the user passed are unbound and kept.
 */
import { NeutronError, type NeutronClient } from './neutron-client.js';
import type { NeutronPort } from './neutron-types.js';
import { vifModel, type VifModel } from './network-info.js';

export interface PortRequest {
  networkId?: string | null;
  portId?: string | null;
  fixedIp?: string | null;
}

export interface InstanceRef {
  uuid: string;
  projectId: string;
  availabilityZone: string;
  hostname: string;
}

export class PortBindingFailed extends Error {
  constructor(readonly portId: string, host: string) {
    super(`Binding failed for port ${portId} on host ${host}: no live Neutron agent for this host (its agent host must equal [DEFAULT] host)`);
    this.name = 'PortBindingFailed';
  }
}

export class NetworkRequestInvalid extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NetworkRequestInvalid';
  }
}

export class PortManager {
  /** `ovsBridge`: [neutron] ovs_bridge, for the network_info of OVS ports. */
  constructor(private readonly neutron: NeutronClient, private readonly host: string, private readonly ovsBridge: string) {}

  /** Creates or takes the requested ports, binds them here, returns the instance's VIFs in request order. */
  async allocate(inst: InstanceRef, requests: PortRequest[], securityGroupNames: string[]): Promise<VifModel[]> {
    const created: string[] = [];
    const taken: string[] = [];
    try {
      const sgIds = await this.securityGroupIds(inst.projectId, securityGroupNames);
      const ports: NeutronPort[] = [];
      for (const r of requests) {
        if (r.portId) {
          const port = await this.neutron.getPort(r.portId);
          if (port.device_id && port.device_id !== inst.uuid) throw new NetworkRequestInvalid(`port ${port.id} is in use by ${port.device_id}`);
          taken.push(port.id);
          ports.push(port);
        } else {
          const networkId = r.networkId === 'auto' ? await this.autoNetwork(inst.projectId) : r.networkId;
          if (!networkId) throw new NetworkRequestInvalid('a network request names neither a network nor a port');
          const port = await this.neutron.createPort({
            network_id: networkId, device_id: inst.uuid, admin_state_up: true, tenant_id: inst.projectId,
            ...(sgIds.length ? { security_groups: sgIds } : {}),
            ...(r.fixedIp ? { fixed_ips: [{ ip_address: r.fixedIp }] } : {}),
          });
          created.push(port.id);
          ports.push(port);
        }
      }
      const bound: NeutronPort[] = [];
      for (const p of ports) {
        const port = await this.neutron.updatePort(p.id, {
          device_id: inst.uuid, device_owner: `compute:${inst.availabilityZone}`, 'binding:host_id': this.host,
        });
        if (port['binding:vif_type'] === 'binding_failed') throw new PortBindingFailed(port.id, this.host);
        bound.push(port);
      }
      return await this.models(bound, new Set(taken));
    } catch (err) {
      await Promise.allSettled([...created.map((id) => this.neutron.deletePort(id)), ...taken.map((id) => this.unbind(id))]);
      throw err;
    }
  }

  /**
   * The instance's ports bound to this host (migrate_instance_finish: the other half of a move
   * arrives here); its VIFs in the order of `order` (the port ids of its info cache), as the
   * instance had them.
   */
  async bindHere(instanceUuid: string, order: string[], preserve: Set<string>): Promise<VifModel[]> {
    const ports = await this.neutron.listPorts({ device_id: instanceUuid });
    const rank = (id: string) => (order.includes(id) ? order.indexOf(id) : order.length);
    const bound: NeutronPort[] = [];
    for (const p of [...ports].sort((a, b) => rank(a.id) - rank(b.id))) {
      const port = p['binding:host_id'] === this.host && p['binding:vif_type'] !== 'binding_failed' ? p
        : await this.neutron.updatePort(p.id, { 'binding:host_id': this.host });
      if (port['binding:vif_type'] === 'binding_failed') throw new PortBindingFailed(port.id, this.host);
      bound.push(port);
    }
    return this.models(bound, preserve);
  }

  /** The instance's VIFs as Neutron has them now (e.g. to refresh the info cache). */
  async networkInfo(instanceUuid: string, preserve: Set<string>): Promise<VifModel[]> {
    return this.models(await this.neutron.listPorts({ device_id: instanceUuid }), preserve);
  }

  /**
   * Deletes the ports this host created, unbinds the ones the user passed; one port's failure
   * does not stop the others (and is reported once all were tried). Ports already gone are fine.
   */
  async deallocate(instanceUuid: string, preserve: Set<string>): Promise<void> {
    const ports = await this.neutron.listPorts({ device_id: instanceUuid });
    const results = await Promise.allSettled(ports.map((p) => (preserve.has(p.id) ? this.unbind(p.id) : this.neutron.deletePort(p.id))));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${ports[i].id}: ${(r.reason as Error).message}`] : []));
    if (failed.length > 0) throw new Error(`could not release port(s) ${failed.join('; ')}`);
  }

  /** One port: deleted when this host created it, unbound when the user passed it. */
  async deallocatePort(portId: string, preserve: boolean): Promise<void> {
    if (preserve) await this.unbind(portId);
    else await this.neutron.deletePort(portId);
  }

  /** A port deleted meanwhile needs no unbinding. */
  private async unbind(portId: string): Promise<void> {
    try {
      await this.neutron.updatePort(portId, { device_id: '', device_owner: '', 'binding:host_id': null });
    } catch (err) {
      if (err instanceof NeutronError && err.status === 404) return;
      throw err;
    }
  }

  private async models(ports: NeutronPort[], preserve: Set<string>): Promise<VifModel[]> {
    const out: VifModel[] = [];
    for (const port of ports) {
      const network = await this.neutron.getNetwork(port.network_id);
      const subnets = await this.neutron.listSubnets([...new Set(port.fixed_ips.map((f) => f.subnet_id))]);
      const dhcp: Record<string, string> = {};
      for (const d of await this.neutron.listPorts({ network_id: port.network_id, device_owner: 'network:dhcp' })) {
        for (const f of d.fixed_ips) dhcp[f.subnet_id] ??= f.ip_address;
      }
      out.push(vifModel(port, network, subnets, preserve.has(port.id), dhcp, this.ovsBridge));
    }
    return out;
  }

  private async securityGroupIds(projectId: string, names: string[]): Promise<string[]> {
    if (names.length === 0) return [];
    const groups = await this.neutron.listSecurityGroups({ project_id: projectId });
    return names.map((n) => {
      const g = groups.find((x) => x.name === n || x.id === n);
      if (!g) throw new NetworkRequestInvalid(`security group ${n} not found in project ${projectId}`);
      return g.id;
    });
  }

  /** network_id "auto": the one network the project can use (its own, else a shared one). */
  private async autoNetwork(projectId: string): Promise<string> {
    const own = await this.neutron.listNetworks({ project_id: projectId, shared: 'false' });
    const candidates = own.length ? own : await this.neutron.listNetworks({ shared: 'true' });
    if (candidates.length !== 1) throw new NetworkRequestInvalid(`cannot pick a network automatically: ${candidates.length} are available; name one with --nic net-id=...`);
    return candidates[0].id;
  }
}
