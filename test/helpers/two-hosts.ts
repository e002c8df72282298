/**
 * The local cloud's two compute hosts as the tests that move servers between them see them
 * (COMPUTE_HOSTS=2, devstack/lib/compute_hosts.sh): their names, the second one's engine,
 * their resource providers and their usage, a server's migrations and where its allocations
 * are, its container and its port on a host.
 */
import Docker from 'dockerode';
import { strict as assert } from 'node:assert';
import { computeConfValue, ensureComputeHosts, extraHost, waitFor, type ExtraHost } from './cloud.js';
import { GLANCE_URL, computeGet, placement, ports, providersNamed, rest } from './rest.js';
import { allocations, containerNameOf, engine, execIn } from './servers.js';

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

/** MEMORY_MB in use on each host's provider (Placement's usages of it). */
export async function memoryInUse(hosts: TwoHosts): Promise<Record<string, number>> {
  const used: Record<string, number> = {};
  for (const [host, provider] of Object.entries(hosts.provider)) {
    used[host] = (await placement<{ usages: Record<string, number> }>('GET', `/resource_providers/${provider}/usages`)).usages.MEMORY_MB ?? 0;
  }
  return used;
}

/** The engine of `host`. */
export function engineOf(hosts: TwoHosts, host: string): Docker {
  return host === hosts.first ? engine() : hosts.engine2;
}

/** The server's container on `host`'s engine: running, stopped, or gone. */
export async function containerOn(hosts: TwoHosts, host: string, serverId: string): Promise<'running' | 'stopped' | 'gone'> {
  const c = await engineOf(hosts, host).getContainer(containerNameOf(serverId)).inspect().catch(() => null);
  return c ? (c.State.Running ? 'running' : 'stopped') : 'gone';
}

/** The server's port bound to `host` and ACTIVE (that host's agent wires it within 30 s), its address in the container there. */
export async function assertPortOn(hosts: TwoHosts, host: string, serverId: string): Promise<void> {
  let seen = '';
  const port = await waitFor(`its port bound to ${host} and ACTIVE`, async () => {
    const [p] = await ports({ device_id: serverId });
    seen = `bound to ${p?.['binding:host_id']}, ${p?.status}`;
    return p?.['binding:host_id'] === host && p.status === 'ACTIVE' ? p : null;
  }, 30_000, 500).catch((err: Error) => { throw new Error(`${err.message}; it is ${seen}`); });
  const address = port.fixed_ips[0].ip_address;
  assert.match((await execIn(serverId, ['cat', '/proc/net/fib_trie'], engineOf(hosts, host))).output, new RegExp(`\\b${address.replace(/\./g, '\\.')}\\b`),
    `the container has its port's address ${address}`);
}

/** The Glance images (hidden) that carry the file system of a move: named after its migration. */
export async function moveImages(migration: string): Promise<string[]> {
  const r = await rest<{ images: { id: string }[] }>({ url: `${GLANCE_URL}/v2/images?name=move-${migration}&os_hidden=true` });
  return r.data.images.map((i) => i.id);
}
