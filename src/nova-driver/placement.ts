/**
 * The Placement calls a compute host makes (nova/scheduler/client/report.py), with the
 * microversions nova-compute uses for each.
 */
import axios, { type AxiosInstance, type Method } from 'axios';
import type { Logger } from '../common/log.js';
import type { KeystoneSession } from '../glance-bridge/keystone.js';

export interface Inventory {
  total: number;
  reserved: number;
  min_unit: number;
  max_unit: number;
  step_size: number;
  allocation_ratio: number;
}

export type Inventories = Record<string, Inventory>;

export interface ResourceProvider {
  uuid: string;
  name: string;
  generation: number;
  parent_provider_uuid?: string | null;
  root_provider_uuid?: string;
}

export interface ConsumerAllocations {
  allocations: Record<string, { resources: Record<string, number>; generation?: number }>;
  consumer_generation: number | null;
  project_id?: string;
  user_id?: string;
}

export class PlacementError extends Error {
  constructor(message: string, readonly status: number, readonly code?: string) {
    super(message);
    this.name = 'PlacementError';
  }
}

interface Reply<T> { status: number; data: T }

export class PlacementClient {
  private readonly http: AxiosInstance;

  constructor(private readonly session: KeystoneSession, private readonly log: Logger, timeoutSec = 30) {
    this.http = axios.create({ timeout: timeoutSec * 1000, validateStatus: () => true });
  }

  /** GET /resource_providers?in_tree=<uuid> (1.14): the tree, or [] if the provider is unknown. */
  async providersInTree(uuid: string): Promise<ResourceProvider[]> {
    const r = await this.request<{ resource_providers: ResourceProvider[] }>('GET',
      `/resource_providers?in_tree=${encodeURIComponent(uuid)}`, '1.14');
    if (r.status === 404) return [];
    this.expect(r, [200], `list provider tree ${uuid}`);
    return r.data.resource_providers;
  }

  /** POST /resource_providers (1.20) with the compute node's uuid and hypervisor_hostname. */
  async createProvider(uuid: string, name: string): Promise<ResourceProvider> {
    const r = await this.request<ResourceProvider>('POST', '/resource_providers', '1.20', { uuid, name });
    if (r.status === 409) {
      throw new PlacementError(`resource provider name ${name} is taken by another uuid (not ${uuid}); `
        + 'delete the stale provider or its old compute node', 409, errorCode(r.data));
    }
    this.expect(r, [200], `create provider ${name}`);
    return r.data;
  }

  async inventories(uuid: string): Promise<{ generation: number; inventories: Inventories }> {
    const r = await this.request<{ resource_provider_generation: number; inventories: Inventories }>('GET',
      `/resource_providers/${uuid}/inventories`, '1.26');
    this.expect(r, [200], `read inventory of ${uuid}`);
    return { generation: r.data.resource_provider_generation, inventories: r.data.inventories };
  }

  /** PUT inventories (1.26); returns the new generation. 409 is raised with Placement's code. */
  async setInventories(uuid: string, generation: number, inventories: Inventories): Promise<number> {
    const r = await this.request<{ resource_provider_generation: number }>('PUT',
      `/resource_providers/${uuid}/inventories`, '1.26', { resource_provider_generation: generation, inventories });
    this.expect(r, [200], `set inventory of ${uuid}`);
    return r.data.resource_provider_generation;
  }

  async traits(uuid: string): Promise<{ generation: number; traits: string[] }> {
    const r = await this.request<{ resource_provider_generation: number; traits: string[] }>('GET',
      `/resource_providers/${uuid}/traits`, '1.6');
    this.expect(r, [200], `read traits of ${uuid}`);
    return { generation: r.data.resource_provider_generation, traits: r.data.traits };
  }

  /** Makes sure custom traits exist (standard ones always do), then sets the provider's traits. */
  async setTraits(uuid: string, generation: number, traits: string[]): Promise<number> {
    for (const t of traits.filter((x) => x.startsWith('CUSTOM_'))) {
      const c = await this.request('PUT', `/traits/${t}`, '1.6');
      this.expect(c, [201, 204], `create trait ${t}`);
    }
    const r = await this.request<{ resource_provider_generation: number }>('PUT',
      `/resource_providers/${uuid}/traits`, '1.6', { resource_provider_generation: generation, traits });
    this.expect(r, [200], `set traits of ${uuid}`);
    return r.data.resource_provider_generation;
  }

  /** GET /resource_providers/<uuid>/allocations: consumer uuid -> resources. */
  async providerAllocations(uuid: string): Promise<Record<string, { resources: Record<string, number> }>> {
    const r = await this.request<{ allocations: Record<string, { resources: Record<string, number> }> }>('GET',
      `/resource_providers/${uuid}/allocations`);
    this.expect(r, [200], `read allocations against ${uuid}`);
    return r.data.allocations;
  }

  /** GET /allocations/<consumer> (1.28): what the consumer holds, with its generation. */
  async consumerAllocations(consumer: string): Promise<ConsumerAllocations> {
    const r = await this.request<ConsumerAllocations>('GET', `/allocations/${consumer}`, '1.28');
    this.expect(r, [200], `read allocations of ${consumer}`);
    return { allocations: r.data.allocations ?? {}, consumer_generation: r.data.consumer_generation ?? null,
      project_id: r.data.project_id, user_id: r.data.user_id };
  }

  /**
   * Moves everything `source` holds to `target` in one POST /allocations (1.28), as Nova's
   * report client move_allocations does (e.g. back from a migration to its instance).
   * Returns false when the source holds nothing (already moved).
   */
  async moveAllocations(source: string, target: string): Promise<boolean> {
    const src = await this.consumerAllocations(source);
    if (Object.keys(src.allocations).length === 0) return false;
    const tgt = await this.consumerAllocations(target);
    const r = await this.request('POST', '/allocations', '1.28', {
      [source]: { allocations: {}, project_id: src.project_id, user_id: src.user_id, consumer_generation: src.consumer_generation },
      [target]: { allocations: src.allocations, project_id: src.project_id, user_id: src.user_id, consumer_generation: tgt.consumer_generation },
    });
    this.expect(r, [204], `move allocations from ${source} to ${target}`);
    return true;
  }

  /**
   * What `consumer` holds against provider `provider` taken away, the rest kept (PUT
   * /allocations/<consumer>, 1.28), as Nova's remove_provider_tree_from_instance_allocation
   * does for an evacuated instance on its old host. False when it held nothing there.
   */
  async removeProviderFromConsumer(consumer: string, provider: string): Promise<boolean> {
    const held = await this.consumerAllocations(consumer);
    if (!held.allocations[provider]) return false;
    const rest = Object.fromEntries(Object.entries(held.allocations).filter(([rp]) => rp !== provider).map(([rp, a]) => [rp, { resources: a.resources }]));
    const r = await this.request('PUT', `/allocations/${consumer}`, '1.28', {
      allocations: rest, project_id: held.project_id, user_id: held.user_id, consumer_generation: held.consumer_generation,
    });
    this.expect(r, [204], `remove ${provider} from the allocations of ${consumer}`);
    return true;
  }

  /** DELETE /allocations/<consumer>: true if something was deleted, false if there was none. */
  async deleteAllocations(consumer: string): Promise<boolean> {
    const r = await this.request('DELETE', `/allocations/${consumer}`);
    if (r.status === 404) return false;
    this.expect(r, [204], `delete allocations of ${consumer}`);
    return true;
  }

  private async request<T = unknown>(method: Method, path: string, microversion?: string, body?: unknown,
    retried = false): Promise<Reply<T>> {
    const token = await this.session.getToken();
    const base = await this.session.endpoint('placement');
    const headers: Record<string, string> = { 'X-Auth-Token': token.id, Accept: 'application/json' };
    if (microversion) headers['OpenStack-API-Version'] = `placement ${microversion}`;
    let res;
    try {
      res = await this.http.request<T>({ method, url: `${base}${path}`, headers, data: body });
    } catch (err) {
      throw new PlacementError(`Placement ${method} ${path} failed: ${(err as Error).message}`, 0);
    }
    if (res.status === 401 && !retried) {
      this.session.invalidate();
      return this.request<T>(method, path, microversion, body, true);
    }
    this.log.debug({ method, path, status: res.status, microversion }, 'placement request');
    return { status: res.status, data: res.data };
  }

  private expect(r: Reply<unknown>, ok: number[], what: string): void {
    if (ok.includes(r.status)) return;
    const code = errorCode(r.data);
    const detail = errorDetail(r.data);
    throw new PlacementError(`Placement: ${what}: HTTP ${r.status}${code ? ` ${code}` : ''}${detail ? `: ${detail}` : ''}`, r.status, code);
  }
}

function errorCode(data: unknown): string | undefined {
  const errors = (data as { errors?: { code?: string }[] } | null)?.errors;
  return Array.isArray(errors) ? errors[0]?.code : undefined;
}

function errorDetail(data: unknown): string | undefined {
  const errors = (data as { errors?: { detail?: string }[] } | null)?.errors;
  return Array.isArray(errors) ? errors[0]?.detail?.split('\n').filter(Boolean).pop() : undefined;
}
