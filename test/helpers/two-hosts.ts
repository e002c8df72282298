/**
 * The local cloud's two compute hosts as the tests that move servers between them see them
 * (COMPUTE_HOSTS=2, devstack/lib/compute_hosts.sh): their names, the second one's engine,
 * their resource providers and their usage, a server's migrations and where its allocations are.
 */
import Docker from 'dockerode';
import { computeConfValue, ensureComputeHosts, extraHost, openstack, type ExtraHost } from './cloud.js';
import { computeGet, providersNamed } from './rest.js';
import { allocations } from './servers.js';

export interface TwoHosts {
  /** The cloud's own host. */
  first: string;
  second: ExtraHost;
  /** The second host's engine. */
  engine2: Docker;
  /** Resource provider uuid by host name. */
  provider: Record<string, string>;
}

/** The cloud with its second host up (brought up when it is not). */
export async function twoHosts(): Promise<TwoHosts> {
  await ensureComputeHosts(2);
  const first = computeConfValue('DEFAULT', 'host') ?? 'vm';
  const second = extraHost(2);
  const provider: Record<string, string> = {};
  for (const h of [first, second.name]) provider[h] = (await providersNamed(h))[0].uuid;
  return { first, second, engine2: new Docker({ socketPath: new URL(second.engineSocket).pathname }), provider };
}

export interface Migration { uuid: string; status: string; migration_type: string; source_compute: string; dest_compute: string }

/** The server's migrations (of `type`, when given), newest first (os-migrations at 2.87). */
export async function serverMigrations(serverId: string, type?: string): Promise<Migration[]> {
  const r = await computeGet<{ migrations: Migration[] }>(`/os-migrations?instance_uuid=${serverId}${type ? `&migration_type=${type}` : ''}`);
  return r.data.migrations;
}

/** The hosts whose providers hold something for `consumer`, sorted. */
export async function hostsHolding(hosts: TwoHosts, consumer: string): Promise<string[]> {
  return Object.keys(await allocations(consumer)).map((rp) => Object.entries(hosts.provider).find(([, uuid]) => uuid === rp)?.[0] ?? rp).sort();
}

/** MEMORY_MB in use on each host's provider, as `openstack resource provider usage show` gives it. */
export async function memoryInUse(hosts: TwoHosts): Promise<Record<string, number>> {
  const used: Record<string, number> = {};
  for (const [host, provider] of Object.entries(hosts.provider)) {
    const rows = await openstack<{ resource_class: string; usage: number }[]>(['resource', 'provider', 'usage', 'show', provider]);
    used[host] = rows.find((r) => r.resource_class === 'MEMORY_MB')?.usage ?? 0;
  }
  return used;
}
