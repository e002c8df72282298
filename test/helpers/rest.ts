/**
 * The local cloud's REST APIs as the users of its rc files. Tests act through the real
 * `openstack` CLI where that action is what they show, as a user does; what they stand on
 * (images uploaded, servers booted, hosts disabled), read back and wait for goes through these,
 * since a CLI call costs about 1.6 s of CPU on this machine, its `--wait` looks every 5 s, and
 * a loop of them slows every test that runs beside it.
 */
import axios, { type AxiosRequestConfig } from 'axios';
import { discoverHosts, openrcEnv, removeComputeDir, startCompute, waitFor, type ComputeProcess, type RcFile } from './cloud.js';
import { rabbitmqctl } from './rabbitmq.js';

export const COMPUTE_URL = 'http://127.0.0.1:8774/v2.1';
export const PLACEMENT_URL = 'http://127.0.0.1:8778';
export const GLANCE_URL = 'http://127.0.0.1:9292';
export const NEUTRON_URL = 'http://127.0.0.1:9696';

const tokens = new Map<RcFile, Promise<string>>();

/** A token of `rc`'s user in its project (Keystone's password method), cached; renewed on a 401. */
export function tokenOf(rc: RcFile = 'openrc', renew = false): Promise<string> {
  let token = tokens.get(rc);
  if (!token || renew) {
    const env = openrcEnv(rc);
    token = axios.post(`${env.OS_AUTH_URL}/auth/tokens`, {
      auth: {
        identity: { methods: ['password'], password: { user: { name: env.OS_USERNAME, domain: { name: env.OS_USER_DOMAIN_NAME }, password: env.OS_PASSWORD } } },
        scope: { project: { name: env.OS_PROJECT_NAME, domain: { name: env.OS_PROJECT_DOMAIN_NAME } } },
      },
    }, { timeout: 30_000 }).then((r) => {
      const id = r.headers['x-subject-token'];
      if (typeof id !== 'string') throw new Error(`Keystone gave ${env.OS_USERNAME} no token`);
      return id;
    });
    const mine = token;
    token.catch(() => { if (tokens.get(rc) === mine) tokens.delete(rc); });
    tokens.set(rc, token);
  }
  return token;
}

/** One request as `rc`'s user (the admin by default); any status is returned, not thrown. */
export async function rest<T>(cfg: AxiosRequestConfig, rc: RcFile = 'openrc'): Promise<{ status: number; data: T }> {
  for (let attempt = 0; ; attempt++) {
    const res = await axios.request<T>({
      timeout: 30_000, validateStatus: () => true, ...cfg,
      headers: { 'X-Auth-Token': await tokenOf(rc, attempt > 0), ...cfg.headers },
    });
    if (res.status === 401 && attempt === 0) continue;
    return { status: res.status, data: res.data };
  }
}

/** A compute API request at microversion 2.87 (or `version`), as `rc`'s user. */
export function compute<T>(method: string, path: string, body?: unknown, rc: RcFile = 'openrc', version = '2.87'): Promise<{ status: number; data: T }> {
  return rest<T>({ method, url: `${COMPUTE_URL}${path}`, data: body, headers: { 'X-OpenStack-Nova-API-Version': version } }, rc);
}

export function computeGet<T>(path: string): Promise<{ status: number; data: T }> {
  return compute<T>('GET', path);
}

/** A Placement request at 1.28; throws unless the status is one of `ok`. */
export async function placement<T>(method: string, path: string, ok = [200]): Promise<T> {
  const r = await rest<T>({ method, url: `${PLACEMENT_URL}${path}`, headers: { 'OpenStack-API-Version': 'placement 1.28' } });
  if (!ok.includes(r.status)) throw new Error(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(r.data)}`);
  return r.data;
}

/** A service record as GET /os-services shows it. */
export interface ServiceRecord { id: string; binary: string; host: string; status: string; state: string }

/** Nova's service records, of one binary or all. */
export async function novaServices(binary?: string): Promise<ServiceRecord[]> {
  const r = await computeGet<{ services: ServiceRecord[] }>(`/os-services${binary ? `?binary=${binary}` : ''}`);
  if (r.status !== 200) throw new Error(`GET /os-services: HTTP ${r.status}`);
  return r.data.services;
}

/** The nova-compute service record of `host`. */
export async function computeService(host: string): Promise<ServiceRecord | undefined> {
  return (await novaServices('nova-compute')).find((s) => s.host === host);
}

/** Sets fields of `host`'s nova-compute service record: `status` enabled or disabled, `forced_down`. */
export async function setComputeService(host: string, fields: { status?: 'enabled' | 'disabled'; forced_down?: boolean }): Promise<void> {
  const service = await computeService(host);
  if (!service) throw new Error(`no nova-compute service record of ${host}`);
  const r = await compute('PUT', `/os-services/${service.id}`, fields);
  if (r.status !== 200) throw new Error(`PUT /os-services/${service.id} ${JSON.stringify(fields)}: HTTP ${r.status} ${JSON.stringify(r.data)}`);
}

/** The hypervisor record of `host` at 2.87 (the last microversion with its usage fields); undefined when there is none. */
export async function hypervisor(host: string): Promise<Record<string, unknown> | undefined> {
  const r = await computeGet<{ hypervisors: Record<string, unknown>[] }>(`/os-hypervisors/detail?hypervisor_hostname_pattern=${encodeURIComponent(host)}`);
  if (r.status === 404) return undefined; // no match
  if (r.status !== 200) throw new Error(`GET /os-hypervisors/detail: HTTP ${r.status}`);
  return r.data.hypervisors.find((h) => h.hypervisor_hostname === host);
}

/** Placement's resource providers named `name`. */
export async function providersNamed(name: string): Promise<{ uuid: string; name: string }[]> {
  return (await placement<{ resource_providers: { uuid: string; name: string }[] }>('GET', `/resource_providers?name=${encodeURIComponent(name)}`)).resource_providers;
}

/** A resource provider's inventory: resource class -> its record. */
export async function providerInventory(uuid: string): Promise<Record<string, { total: number; reserved: number; allocation_ratio: number; max_unit: number }>> {
  return (await placement<{ inventories: Record<string, { total: number; reserved: number; allocation_ratio: number; max_unit: number }> }>('GET',
    `/resource_providers/${uuid}/inventories`)).inventories;
}

/** The traits of a resource provider. */
export async function providerTraits(uuid: string): Promise<string[]> {
  return (await placement<{ traits: string[] }>('GET', `/resource_providers/${uuid}/traits`)).traits;
}

/**
 * Makes the cloud forget a compute host of a test: its service record, its resource
 * providers, and its RPC queue with any cast a killed earlier run left in it (a host name
 * comes back in the next run, and would otherwise start by building someone's old request).
 */
export async function forgetComputeHost(host: string): Promise<void> {
  const service = await computeService(host);
  if (service) {
    const r = await compute('DELETE', `/os-services/${service.id}`);
    if (r.status !== 204 && r.status !== 404) throw new Error(`DELETE /os-services/${service.id}: HTTP ${r.status} ${JSON.stringify(r.data)}`);
  }
  for (const rp of await providersNamed(host)) await placement('DELETE', `/resource_providers/${rp.uuid}`, [204, 404]);
  await rabbitmqctl(['delete_queue', `compute.${host}`]).catch(() => undefined); // none: nothing was left
}

/** A compute host of a test gone: from the cloud (forgetComputeHost) and from this machine (its state and log, removeComputeDir). */
export async function forgetTestCompute(host: string): Promise<void> {
  await forgetComputeHost(host);
  removeComputeDir(host);
}

/**
 * startCompute(host, extra), then until it serves and nova-api shows it up, then mapped into the
 * cell: a host of a test that can take servers, and RPC calls (before it serves, its queue
 * may not exist yet, and a call sent to it is lost).
 */
export async function joinTestCompute(host: string, extra = ''): Promise<ComputeProcess> {
  const compute = startCompute(host, extra);
  await compute.serving();
  await waitFor('the test host to be up', async () => (await computeService(host))?.state === 'up', 90_000, 1000);
  await discoverHosts();
  return compute;
}

/** A Neutron request (v2.0) as `rc`'s user; throws unless the status is one of `ok`. */
export async function neutron<T = unknown>(method: string, path: string, body?: unknown, ok = [200, 201, 204], rc: RcFile = 'openrc'): Promise<T> {
  const r = await rest<T>({ method, url: `${NEUTRON_URL}/v2.0${path}`, data: body }, rc);
  if (!ok.includes(r.status)) throw new Error(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(r.data)}`);
  return r.data;
}

/** A port as Neutron's API shows it. */
export interface Port {
  id: string;
  status: string;
  device_id: string;
  device_owner: string;
  'binding:host_id': string;
  'binding:vif_type': string;
  fixed_ips: { ip_address: string; subnet_id: string }[];
}

/** The ports matching every field of `query` (e.g. `{ device_id: serverId }`; a list: any of its values). */
export async function ports(query: Record<string, string | string[]>): Promise<Port[]> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) for (const one of [v].flat()) q.append(k, one);
  return (await neutron<{ ports: Port[] }>('GET', `/ports?${q.toString()}`)).ports;
}

/** One port; null when it is gone. */
export async function port(id: string): Promise<Port | null> {
  return (await neutron<{ port?: Port }>('GET', `/ports/${id}`, undefined, [200, 404])).port ?? null;
}

/** The id of the network named `name` that `rc`'s user sees (one, as the CLI asks). */
export async function networkId(name: string, rc: RcFile = 'openrc'): Promise<string> {
  const nets = (await neutron<{ networks: { id: string }[] }>('GET', `/networks?name=${encodeURIComponent(name)}`, undefined, [200], rc)).networks;
  if (nets.length !== 1) throw new Error(`${nets.length} networks named ${name}`);
  return nets[0].id;
}

/** A security group of the admin's project that lets ICMP in (and, as every group, everything out). */
export async function icmpSecurityGroup(name: string): Promise<string> {
  const { security_group: sg } = await neutron<{ security_group: { id: string } }>('POST', '/security-groups', { security_group: { name } });
  await neutron('POST', '/security-group-rules', { security_group_rule: { security_group_id: sg.id, direction: 'ingress', protocol: 'icmp', ethertype: 'IPv4' } });
  return sg.id;
}
