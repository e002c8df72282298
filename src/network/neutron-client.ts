/**
 * Neutron v2.0, the calls a compute host makes for its instances' ports
 * (nova/network/neutron.py): list/show/create/update/delete ports, networks and subnets.
 * Authenticated with the host's [neutron] service credentials (Nova's admin client).
 */
import axios, { type AxiosInstance, type Method } from 'axios';
import type { Logger } from '../common/log.js';
import type { KeystoneSession } from '../glance-bridge/keystone.js';
import type { NeutronNetwork, NeutronPort, NeutronSubnet } from './neutron-types.js';

export class NeutronError extends Error {
  constructor(message: string, readonly status: number, readonly type?: string) {
    super(message);
    this.name = 'NeutronError';
  }
}

type Query = Record<string, string | string[]>;

function queryString(q: Query): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(q)) for (const one of Array.isArray(v) ? v : [v]) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(one)}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

export class NeutronClient {
  private readonly http: AxiosInstance;

  constructor(private readonly session: KeystoneSession, private readonly log: Logger, timeoutSec = 30) {
    this.http = axios.create({ timeout: timeoutSec * 1000, validateStatus: () => true });
  }

  async listPorts(q: Query): Promise<NeutronPort[]> {
    return (await this.request<{ ports: NeutronPort[] }>('GET', `/v2.0/ports${queryString(q)}`, [200])).ports;
  }

  async getPort(id: string): Promise<NeutronPort> {
    return (await this.request<{ port: NeutronPort }>('GET', `/v2.0/ports/${id}`, [200])).port;
  }

  async createPort(port: Record<string, unknown>): Promise<NeutronPort> {
    return (await this.request<{ port: NeutronPort }>('POST', '/v2.0/ports', [201], { port })).port;
  }

  async updatePort(id: string, port: Record<string, unknown>): Promise<NeutronPort> {
    return (await this.request<{ port: NeutronPort }>('PUT', `/v2.0/ports/${id}`, [200], { port })).port;
  }

  /** Deleting a port that is already gone is not an error. */
  async deletePort(id: string): Promise<void> {
    await this.request('DELETE', `/v2.0/ports/${id}`, [204, 404]);
  }

  async getNetwork(id: string): Promise<NeutronNetwork> {
    return (await this.request<{ network: NeutronNetwork }>('GET', `/v2.0/networks/${id}`, [200])).network;
  }

  async listSubnets(ids: string[]): Promise<NeutronSubnet[]> {
    if (ids.length === 0) return [];
    return (await this.request<{ subnets: NeutronSubnet[] }>('GET', `/v2.0/subnets${queryString({ id: ids })}`, [200])).subnets;
  }

  async listNetworks(q: Query): Promise<NeutronNetwork[]> {
    return (await this.request<{ networks: NeutronNetwork[] }>('GET', `/v2.0/networks${queryString(q)}`, [200])).networks;
  }

  async listSecurityGroups(q: Query): Promise<{ id: string; name: string }[]> {
    return (await this.request<{ security_groups: { id: string; name: string }[] }>('GET', `/v2.0/security-groups${queryString(q)}`, [200])).security_groups;
  }

  private async request<T = unknown>(method: Method, path: string, ok: number[], body?: unknown, retried = false): Promise<T> {
    const token = await this.session.getToken();
    const base = await this.session.endpoint('network');
    let res;
    try {
      res = await this.http.request<T>({ method, url: `${base}${path}`, headers: { 'X-Auth-Token': token.id, Accept: 'application/json' }, data: body });
    } catch (err) {
      throw new NeutronError(`Neutron ${method} ${path} failed: ${(err as Error).message}`, 0);
    }
    if (res.status === 401 && !retried) {
      this.session.invalidate();
      return this.request<T>(method, path, ok, body, true);
    }
    this.log.debug({ method, path, status: res.status }, 'neutron request');
    if (!ok.includes(res.status)) {
      const e = (res.data as { NeutronError?: { type?: string; message?: string } } | null)?.NeutronError;
      throw new NeutronError(`Neutron ${method} ${path}: HTTP ${res.status}${e?.message ? `: ${e.message}` : ''}`, res.status, e?.type);
    }
    return res.data;
  }
}
