/**
 * `npm run bench:scale` (not part of `npm test`): fills this host with BENCH_SCALE_SERVERS
 * servers (default 200) booted through the REST API with BENCH_SCALE_IN_FLIGHT (default 10) in
 * flight, holds them BENCH_SCALE_HOLD_S seconds, then deletes them with as many in flight.
 * Then the same on a real nova-compute with Nova's no-op fake driver on the same control plane
 * (bench/fake-compute.ts), as the reference of the same run; BENCH_SCALE_REFERENCE=no leaves it
 * and the ratios to it out (for the figures of a fill alone: all ACTIVE, RSS, heartbeat, memory).
 *
 * For each: boots/s, API POST -> ACTIVE p50/p95 (within a 250 ms poll: bench/status-watch.ts
 * asks for all the servers at once, so that the bench's own calls do not load the cloud it
 * measures), the compute's own build time per decile of
 * the fill (nova-container's `instance built` log line, nova-compute's "Took N seconds to build
 * instance") and the last decile's over the first's (a cost per operation that grows with the
 * instances on the host shows there), the service's RSS before and full (at the end of the hold,
 * and the most during it), the host memory each idle instance takes (and of it the kernel's
 * unreclaimable objects, and its mounts), whether the service heartbeat kept its interval,
 * and deletes/s. For nova-container also its periodic tasks' runs and mean time over the last
 * tenth and the hold (from its /metrics: whether they stay cheap with the host full), the part
 * of the build that is not the engine's calls per decile, its RSS's anonymous pages and V8 heap
 * idle and full (`service_idle_*`, `service_full_*`), and the engine's own create+start at
 * the same concurrency on the empty and the full host, its own listing of the full host's
 * containers (of the power-state sync's time, the engine's part), and the host memory each of
 * BENCH_SCALE_ENGINE_CONTAINERS (default a quarter of the servers, at least
 * 50) of the engine's own containers takes, started on the full host (and of it the kernel's
 * unreclaimable objects, and its mounts, as for a server). Then the
 * ratios of boots/s, deletes/s and RSS to nova-compute's.
 *
 * The hosts must be able to take them: for the run, the project's instance, core and RAM quotas
 * are lifted, this host's resource provider gets allocation ratios that fit them (the compute
 * keeps a ratio Placement has when its config sets none, as Nova's initial_*_ratio does) and
 * the fake host's config sets its own; all are put back or removed afterwards. The servers use
 * a flavor of 1 vCPU, 16 MB and no disk.
 */
import type { AxiosInstance } from 'axios';
import type Docker from 'dockerode';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseListen } from '../src/nova-driver/ops/index.js';
import { LABEL_HOST } from '../src/runtime/instance-containers.js';
import { CLOUD_DIR, cloudSetting, computeConfValue } from '../test/helpers/cloud.js';
import { cloudEngine, dockerClient, ENGINE_DRIVER } from '../test/integration/glance-bridge/images.js';
import { deleteBenchImage, engineCreateStartMs, pool, round, rssMb, SCALE_SERVER_RAM_MB, session, sleep, sleeperImage, startEngineContainer, waitStatus } from './cloud.js';
import { fakeBuildTimes, startFakeCompute } from './fake-compute.js';
import { StatusWatch } from './status-watch.js';
import { cpuPerBoot, cpuSample, type CpuSample } from './process-cpu.js';
import { anonymousByProcess, growth, isComputeHostProcess, type ProcessGroup } from './process-memory.js';

const SERVERS = Number(process.env.BENCH_SCALE_SERVERS ?? 200);
const IN_FLIGHT = Number(process.env.BENCH_SCALE_IN_FLIGHT ?? 10);
const HOLD_S = Number(process.env.BENCH_SCALE_HOLD_S ?? 30);
// nova-compute + fake fills at about half our pace: at 1,000 servers its run alone takes an hour
const REFERENCE = process.env.BENCH_SCALE_REFERENCE !== 'no';
const LOG = join(CLOUD_DIR, 'logs', 'nova-container.log');
// the engine's own containers measured for the host memory they take, on the full host
const ENGINE_CONTAINERS = Number(process.env.BENCH_SCALE_ENGINE_CONTAINERS ?? Math.max(50, Math.round(SERVERS / 4)));

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

function servicePid(): string {
  return readFileSync(join(CLOUD_DIR, 'run', 'nova-container.pid'), 'utf8').trim();
}

function serviceRssMb(): number {
  return rssMb(servicePid());
}

/** The service's /metrics text; null where it serves none or could not be read (a failure to read it loses no run). */
async function serviceMetrics(): Promise<string | null> {
  const listen = parseListen(computeConfValue('container', 'health_listen') ?? '');
  if (!listen) return null;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  try {
    return await (await fetch(`http://${host}:${listen.port}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  } catch (err) {
    console.warn(`the service's /metrics could not be read: ${(err as Error).message}`);
    return null;
  }
}

/**
 * What the service's RSS is made of: its anonymous pages (V8's heap, malloc's arenas, thread
 * stacks), and of those V8's heap as the service's /metrics reports it; the rest of the RSS is
 * file pages (the node binary's and libraries', shared with every node process).
 */
async function serviceMemoryParts(): Promise<Record<string, number>> {
  const rollup = readFileSync(`/proc/${servicePid()}/smaps_rollup`, 'utf8');
  const anonKb = Number(/^Anonymous:\s+(\d+)/m.exec(rollup)?.[1]);
  const parts: Record<string, number> = { anon_mb: round(anonKb / 1024, 1) };
  const heapBytes = Number(/^nodejs_heap_size_total_bytes (\d+)/m.exec(await serviceMetrics() ?? '')?.[1]);
  if (Number.isFinite(heapBytes)) parts.heap_total_mb = round(heapBytes / 1024 / 1024, 1);
  return parts;
}

/** Each periodic task's runs so far and their time, s, from the service's /metrics (empty where it serves none). */
type PeriodicRuns = Map<string, { count: number; sum: number }>;

async function periodicRuns(): Promise<PeriodicRuns> {
  const runs: PeriodicRuns = new Map();
  const text = await serviceMetrics() ?? '';
  for (const [, kind, task, value] of text.matchAll(/^nova_container_periodic_task_duration_seconds_(count|sum)\{task="([^"]+)"\} (\S+)$/gm)) {
    const r = runs.get(task) ?? { count: 0, sum: 0 };
    r[kind as 'count' | 'sum'] = Number(value);
    runs.set(task, r);
  }
  return runs;
}

/** The runs of each periodic task from one reading to the next and their mean time, e.g. `update_available_resource 2 runs 850 ms`; tasks that did not run are left out. */
function periodicBetween(before: PeriodicRuns, after: PeriodicRuns): string {
  return [...after].map(([task, a]) => {
    const b = before.get(task) ?? { count: 0, sum: 0 };
    const count = a.count - b.count;
    return count > 0 ? `${task} ${count} run${count > 1 ? 's' : ''} ${round(((a.sum - b.sum) / count) * 1000, 0)} ms` : '';
  }).filter(Boolean).join(', ') || 'none ran';
}

function hostAvailableMb(): number {
  return meminfoKb('MemAvailable') / 1024;
}

/** The host's available memory, its processes' anonymous memory, and the kernel's unreclaimable objects (kB) and mounts. */
interface MemorySample { availableMb: number; procs: Map<string, ProcessGroup>; unreclaimableKb: number; mounts: number }

function memorySample(servicePid: string): MemorySample {
  return { availableMb: hostAvailableMb(), procs: anonymousByProcess(servicePid), unreclaimableKb: meminfoKb('SUnreclaim'), mounts: kernelMounts() };
}

/** What the kernel's objects grew by from one sample to the next, per instance of `count`. */
function kernelPerInstance(before: MemorySample, after: MemorySample, count: number): { unreclaimableKb: number; mounts: number } {
  return { unreclaimableKb: round((after.unreclaimableKb - before.unreclaimableKb) / count, 0), mounts: round((after.mounts - before.mounts) / count, 0) };
}

/** The host memory taken from one sample to the next, less what grew in processes a compute host of a real cloud does not run (the control plane, the bench), MB. */
function computeHostMb(before: MemorySample, after: MemorySample): number {
  const elsewhereKb = growth(before.procs, after.procs).filter((g) => !isComputeHostProcess(g.name)).reduce((sum, g) => sum + g.kb, 0);
  return before.availableMb - after.availableMb - elsewhereKb / 1024;
}

function meminfoKb(field: string): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]);
}

/** The kernel's mounts in all mount namespaces (the objects of its mount cache; /proc/slabinfo is root's). */
function kernelMounts(): number {
  return Number(/^mnt_cache\s+(\d+)/m.exec(readFileSync('/proc/slabinfo', 'utf8'))?.[1]);
}

interface BuildLog { buildMs: number; engineMs?: number }

/**
 * Each server's build time (`instance built` build_ms) and the part of it spent in the
 * engine's calls (the spawn's `workload started in its network`: containers made, workload
 * started), read from the compute's log once.
 */
function buildTimes(): Map<string, BuildLog> {
  const out = new Map<string, BuildLog>();
  const engine = new Map<string, number>();
  for (const line of readFileSync(LOG, 'utf8').split('\n')) {
    if (!line.includes('"instance built"') && !line.includes('"workload started in its network"')) continue;
    const l = JSON.parse(line) as { instance?: string; msg: string; build_ms?: number; prepare_ms?: number; start_ms?: number };
    if (!l.instance) continue;
    if (typeof l.build_ms === 'number') out.set(l.instance, { buildMs: l.build_ms });
    else if (typeof l.prepare_ms === 'number' && typeof l.start_ms === 'number') engine.set(l.instance, l.prepare_ms + l.start_ms);
  }
  for (const [id, b] of out) b.engineMs = engine.get(id);
  return out;
}

/** Median of each tenth of `xs`, in order. */
function deciles(xs: number[]): number[] {
  return Array.from({ length: 10 }, (_, d) => round(quantile(xs.slice(Math.floor((d * xs.length) / 10), Math.floor(((d + 1) * xs.length) / 10)), 0.5), 1));
}

/** Waits up to 5 minutes for a deleted server to be gone (one in ERROR is still being deleted). */
async function waitGone(nova: AxiosInstance, id: string): Promise<void> {
  for (const until = Date.now() + 300_000; Date.now() < until; await sleep(500)) {
    if ((await nova.get(`/servers/${id}`, { validateStatus: () => true })).status === 404) return;
  }
  console.error(`server ${id} is still there 5 minutes after its delete`);
}

/**
 * The engine alone, as loaded as the fill: `IN_FLIGHT` concurrent create+start of the image
 * with the bench flavor's limits and hardening (src/runtime/docker-engine.ts), no Nova; the median.
 */
async function engineCreateStart(docker: Docker, image: string, tag: string): Promise<number> {
  const ms = await Promise.all(Array.from({ length: IN_FLIGHT }, (_, i) =>
    engineCreateStartMs(docker, image, `${tag}-engine-${i}-${Date.now()}`, { memoryMb: SCALE_SERVER_RAM_MB })));
  return round(quantile(ms, 0.5), 0);
}

/**
 * The engine's listing of this host's containers, the driver's own call at each power-state
 * sync and VIF check, no Nova; the median of five. Of a sync_power_states run, the rest is one
 * conductor listing (as sync_scheduler_instance_info's).
 */
async function engineListingMs(host: string): Promise<number> {
  // a listing reads none of the engine's state files
  const engine = cloudEngine(computeConfValue('container', 'state_path') ?? '/var/lib/nova-container', 60_000);
  const ms: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await engine.listContainers({ [LABEL_HOST]: host });
    ms.push(performance.now() - t);
  }
  return round(quantile(ms, 0.5), 0);
}

interface Inventory { total: number; allocation_ratio: number; [k: string]: unknown }

/** The host memory one of the engine's own containers takes, MB, and of it the kernel's objects as the fill counts them. */
interface EngineMemory { mb: number; kernelUnreclaimableKb: number; kernelMounts: number }

/**
 * The engine alone, the reference of the host memory an instance takes: ENGINE_CONTAINERS
 * containers as engineCreateStart makes them (no Nova, the servers' image, limits and
 * hardening) started on the full host with IN_FLIGHT at once, held HOLD_S as the servers are,
 * measured as the fill is, removed. Per container.
 */
async function engineHostMemory(docker: Docker, image: string, tag: string, pid: string): Promise<EngineMemory> {
  const before = memorySample(pid);
  const removals: (() => Promise<void>)[] = [];
  try {
    await pool(ENGINE_CONTAINERS, IN_FLIGHT, async (i) => {
      removals.push(await startEngineContainer(docker, image, `${tag}-memory-${i}`, { memoryMb: SCALE_SERVER_RAM_MB }));
    });
    await sleep(HOLD_S * 1000);
    const after = memorySample(pid);
    const kernel = kernelPerInstance(before, after, ENGINE_CONTAINERS);
    return { mb: round(computeHostMb(before, after) / ENGINE_CONTAINERS), kernelUnreclaimableKb: kernel.unreclaimableKb, kernelMounts: kernel.mounts };
  } finally {
    await pool(removals.length, IN_FLIGHT, async (i) => { await removals[i](); });
  }
}

/** Sets the host provider's VCPU and MEMORY_MB ratios so that `servers` fit; returns how to put them back. */
async function roomFor(placement: AxiosInstance, host: string, servers: number): Promise<() => Promise<void>> {
  const rp = (await placement.get('/resource_providers', { params: { name: host } })).data.resource_providers[0] as { uuid: string } | undefined;
  if (!rp) throw new Error(`no resource provider named ${host}`);
  const path = `/resource_providers/${rp.uuid}/inventories`;
  const before = (await placement.get(path)).data as { resource_provider_generation: number; inventories: Record<string, Inventory> };
  const inv = structuredClone(before.inventories);
  const fit = (cls: string, need: number) => {
    const i = inv[cls];
    if (!i) return;
    i.allocation_ratio = Math.max(i.allocation_ratio, Math.ceil((need / (i.total - Number(i.reserved ?? 0))) * 1.2 * 10) / 10);
    i.max_unit = Math.max(Number(i.max_unit), Number(i.total));
  };
  fit('VCPU', servers * 2); // with room for what else runs here
  fit('MEMORY_MB', servers * SCALE_SERVER_RAM_MB * 2);
  await placement.put(path, { resource_provider_generation: before.resource_provider_generation, inventories: inv });
  return async () => {
    const now = (await placement.get(path)).data as { resource_provider_generation: number; inventories: Record<string, Inventory> };
    for (const [cls, i] of Object.entries(now.inventories)) {
      if (before.inventories[cls]) Object.assign(i, { allocation_ratio: before.inventories[cls].allocation_ratio, max_unit: before.inventories[cls].max_unit });
    }
    await placement.put(path, { resource_provider_generation: now.resource_provider_generation, inventories: now.inventories });
  };
}

/** Lifts the project's instance, core and RAM quotas; returns how to put them back. */
async function noQuota(nova: AxiosInstance, projectId: string): Promise<() => Promise<void>> {
  const quotas = async (path: string) => (await nova.get(path)).data.quota_set as Record<string, number>;
  const before = await quotas(`/os-quota-sets/${projectId}`);
  const defaults = await quotas(`/os-quota-sets/${projectId}/defaults`);
  await nova.put(`/os-quota-sets/${projectId}`, { quota_set: { instances: -1, cores: -1, ram: -1 } });
  return async () => {
    // back to the defaults, then the project's own values where it had some: a default written
    // as the project's own value would no longer follow nova.conf's [quota]
    await nova.delete(`/os-quota-sets/${projectId}`);
    const own = Object.keys(defaults).filter((k) => k !== 'id' && before[k] !== defaults[k]);
    if (own.length > 0) await nova.put(`/os-quota-sets/${projectId}`, { quota_set: Object.fromEntries(own.map((k) => [k, before[k]])) });
  };
}

/** The compute service's last heartbeat (updated_at), as nova-api reports it. */
async function heartbeat(nova: AxiosInstance, host: string): Promise<number> {
  const services = (await nova.get('/os-services', { params: { binary: 'nova-compute', host } })).data.services as { updated_at: string | null }[];
  return Date.parse(`${services[0]?.updated_at ?? ''}Z`);
}

/** A compute host the fill targets. */
interface Target {
  host: string;
  /** The compute service's process. */
  pid: string;
  rssMb(): number;
  /** The parts of the RSS, where the target tells them (ours). */
  memoryParts?: () => Promise<Record<string, number>>;
  /** Its periodic tasks' runs so far, where the target tells them (ours). */
  periodicRuns?: () => Promise<PeriodicRuns>;
  /** Each server's build time as the host logged it (cast -> ACTIVE saved), after the fill. */
  buildMs(ids: string[]): number[];
  /** Runs on the empty host, after the first boot, and on the full host, after the hold. */
  whileEmpty?: () => Promise<void>;
  whileFull?: () => Promise<void>;
}

interface FillFigures {
  boots_per_s: number;
  api_post_to_active_p50_ms: number;
  api_post_to_active_p95_ms: number;
  build_median_ms_per_decile: string;
  ratio_last_to_first_decile: number;
  /**
   * The host's and the largest processes' CPU per boot over the second and the ninth tenth of
   * the fill (by completion): the first and the last carry the start and the drain of the boots
   * in flight, whose work falls into a neighbouring tenth.
   */
  cpu_ms_per_boot_second_tenth: string;
  cpu_ms_per_boot_ninth_tenth: string;
  service_rss_idle_mb: number;
  /** At the end of the hold: the service settled with the host full. */
  service_rss_full_mb: number;
  /** The most during the hold, read every second (the fill's last work still going). */
  service_rss_hold_max_mb: number;
  host_memory_per_instance_mb: number;
  compute_host_memory_per_instance_mb: number;
  /** The names whose anonymous memory grew most over the fill, MB (and their processes, full). */
  anon_growth_mb_by_process: string;
  kernel_unreclaimable_per_instance_kb: number;
  kernel_mounts_per_instance: number;
  heartbeat_worst_gap_s: number;
  /** Each periodic task's runs from the ninth tenth's end to the hold's and their mean time (ours: its /metrics). */
  periodic_tasks_last_tenth_and_hold?: string;
  deletes_per_s: number;
}

/**
 * Boots SERVERS on the target host (one boot first, so that the image's download and a cold
 * scheduler are not part of the fill), holds them, deletes them; `ids` collects the servers
 * made, for the caller to clean up after a failure.
 */
async function fill(nova: AxiosInstance, target: Target, server: Record<string, unknown>, ids: string[]): Promise<FillFigures> {
  const { host } = target;
  const boot = async (name: string) =>
    (await nova.post('/servers', { server: { ...server, name, availability_zone: `nova:${host}` } })).data.server.id as string;
  const warm = await boot(`${server.name}-${host}-warm`);
  ids.push(warm);
  await waitStatus(nova, warm, 'ACTIVE', 200);
  await nova.delete(`/servers/${warm}`);
  await waitStatus(nova, warm, 'GONE', 200);
  ids.length = 0;
  await target.whileEmpty?.();
  const rssIdle = target.rssMb();
  const partsIdle = await target.memoryParts?.();
  const memIdle = memorySample(target.pid);

  const apiMs: number[] = [];
  const watch = new StatusWatch(nova);
  // a CPU sample at the start and as each tenth of the servers is ACTIVE
  const tenth = (k: number): number => Math.floor((k * SERVERS) / 10);
  const cpu: CpuSample[] = [cpuSample(target.pid)];
  let active = 0;
  let periodicNinth: Promise<PeriodicRuns> | undefined;
  const t0 = performance.now();
  await pool(SERVERS, IN_FLIGHT, async (i) => {
    const t = performance.now();
    const id = await boot(`${server.name}-${host}-${i}`);
    ids[i] = id;
    await watch.until(id, 'ACTIVE');
    apiMs[i] = performance.now() - t;
    if (++active === tenth(cpu.length)) cpu.push(cpuSample(target.pid));
    if (active === tenth(9)) periodicNinth = target.periodicRuns?.().catch(() => new Map());
  });
  const fillS = (performance.now() - t0) / 1000;

  // held full: does the service keep its heartbeat, how much memory do the instances take
  let latestBeat = 0;
  let worstGapS = 0;
  let rssHoldMax = 0;
  for (const until = Date.now() + HOLD_S * 1000; Date.now() < until; await sleep(1000)) {
    rssHoldMax = Math.max(rssHoldMax, target.rssMb());
    const beat = await heartbeat(nova, host);
    if (beat > latestBeat) latestBeat = beat;
    worstGapS = Math.max(worstGapS, (Date.now() - latestBeat) / 1000);
  }
  const rssFull = target.rssMb();
  const partsFull = await target.memoryParts?.();
  const memFull = memorySample(target.pid);
  const periodicFull = await target.periodicRuns?.();
  await target.whileFull?.();
  const buildDeciles = deciles(target.buildMs(ids));

  const t1 = performance.now();
  await pool(SERVERS, IN_FLIGHT, async (i) => {
    await nova.delete(`/servers/${ids[i]}`);
    await watch.until(ids[i], 'DELETED');
  });
  const deleteS = (performance.now() - t1) / 1000;
  ids.length = 0;
  const kernel = kernelPerInstance(memIdle, memFull, SERVERS);
  return {
    boots_per_s: round(SERVERS / fillS),
    api_post_to_active_p50_ms: round(quantile(apiMs, 0.5), 0),
    api_post_to_active_p95_ms: round(quantile(apiMs, 0.95), 0),
    build_median_ms_per_decile: buildDeciles.join(' '),
    ratio_last_to_first_decile: round(buildDeciles[9] / buildDeciles[0]),
    cpu_ms_per_boot_second_tenth: cpuPerBoot(cpu[1], cpu[2], tenth(2) - tenth(1)),
    cpu_ms_per_boot_ninth_tenth: cpuPerBoot(cpu[8], cpu[9], tenth(9) - tenth(8)),
    service_rss_idle_mb: round(rssIdle, 1),
    service_rss_full_mb: round(rssFull, 1),
    service_rss_hold_max_mb: round(rssHoldMax, 1),
    ...(partsIdle ? prefixed('service_idle_', partsIdle) : {}),
    ...(partsFull ? prefixed('service_full_', partsFull) : {}),
    host_memory_per_instance_mb: round((memIdle.availableMb - memFull.availableMb) / SERVERS),
    compute_host_memory_per_instance_mb: round(computeHostMb(memIdle, memFull) / SERVERS),
    anon_growth_mb_by_process: growth(memIdle.procs, memFull.procs).slice(0, 8).map((g) => `${g.name} ${round(g.kb / 1024, 1)} (${g.procs})`).join(', '),
    // of it, the kernel's own objects (namespaces, cgroups, mounts, processes)
    kernel_unreclaimable_per_instance_kb: kernel.unreclaimableKb,
    kernel_mounts_per_instance: kernel.mounts,
    heartbeat_worst_gap_s: round(worstGapS, 1),
    // whether the periodic tasks stay cheap with the host nearly full: their runs over the last tenth and the hold
    ...(periodicNinth && periodicFull ? { periodic_tasks_last_tenth_and_hold: periodicBetween(await periodicNinth, periodicFull) } : {}),
    deletes_per_s: round(SERVERS / deleteS),
  };
}

const prefixed = (prefix: string, figures: object): Record<string, number | string> =>
  Object.fromEntries(Object.entries(figures).map(([k, v]) => [`${prefix}${k}`, v as number | string]));

export async function scaleBench(): Promise<Record<string, number | string>> {
  if (!(SERVERS >= 10)) throw new Error(`BENCH_SCALE_SERVERS is ${SERVERS}: at least 10, the figures are per tenth of the fill`);
  const host = computeConfValue('DEFAULT', 'host') ?? '';
  const { nova, glance, placement, projectId } = await session();
  const docker = dockerClient();
  const tag = `bench-scale-${Date.now()}`;
  const ids: string[] = [];
  // what the run changed, undone in reverse order whatever happens
  const undo: (() => Promise<unknown>)[] = [];
  try {
    const image = await sleeperImage(glance, docker, tag);
    undo.push(() => deleteBenchImage(glance, docker, image.id));
    const flavor = (await nova.post('/flavors', { flavor: { name: tag, ram: SCALE_SERVER_RAM_MB, vcpus: 1, disk: 0 } })).data.flavor as { id: string };
    undo.push(() => nova.delete(`/flavors/${flavor.id}`));
    undo.push(await noQuota(nova, projectId));
    undo.push(await roomFor(placement, host, SERVERS));
    const server = { name: tag, imageRef: image.id, flavorRef: flavor.id, networks: 'none' };

    let engineEmptyMs = 0;
    let engineFullMs = 0;
    let engineListingFullMs = 0;
    let engineMemory: EngineMemory = { mb: 0, kernelUnreclaimableKb: 0, kernelMounts: 0 };
    let ownMs: number[] = [];
    const ours = await fill(nova, {
      host,
      pid: servicePid(),
      rssMb: serviceRssMb,
      memoryParts: serviceMemoryParts,
      periodicRuns,
      buildMs: (servers) => {
        const built = buildTimes();
        const logs = servers.map((id) => built.get(id));
        if (logs.some((b) => b?.engineMs === undefined)) throw new Error('a server without its \'instance built\' or spawn log line');
        ownMs = logs.map((b) => b!.buildMs - b!.engineMs!);
        return logs.map((b) => b!.buildMs);
      },
      whileEmpty: async () => { engineEmptyMs = await engineCreateStart(docker, `glance-image:${image.id}`, tag); },
      whileFull: async () => {
        engineListingFullMs = await engineListingMs(host);
        engineFullMs = await engineCreateStart(docker, `glance-image:${image.id}`, tag);
        engineMemory = await engineHostMemory(docker, `glance-image:${image.id}`, tag, servicePid());
      },
    }, server, ids);
    // what the compute itself adds to the engine's calls: where a cost growing with the host's instances would show
    const ownDeciles = deciles(ownMs);

    const figures = {
      openstack_release: cloudSetting('OPENSTACK_RELEASE') ?? 'zed',
      engine: ENGINE_DRIVER,
      servers: SERVERS,
      in_flight: IN_FLIGHT,
      ...ours,
      own_median_ms_per_decile: ownDeciles.join(' '),
      ratio_own_last_to_first_decile: round(ownDeciles[9] / ownDeciles[0]),
      engine_create_start_empty_ms: engineEmptyMs,
      engine_create_start_full_ms: engineFullMs,
      engine_listing_full_ms: engineListingFullMs,
      ratio_build_first_decile_to_engine_empty: round(Number(ours.build_median_ms_per_decile.split(' ')[0]) / engineEmptyMs),
      engine_containers_measured: ENGINE_CONTAINERS,
      engine_container_host_memory_mb: engineMemory.mb,
      engine_container_kernel_unreclaimable_kb: engineMemory.kernelUnreclaimableKb,
      engine_container_kernel_mounts: engineMemory.kernelMounts,
      ratio_compute_host_memory_to_engine_container: round(ours.compute_host_memory_per_instance_mb / engineMemory.mb),
      report_interval_s: Number(computeConfValue('DEFAULT', 'report_interval') ?? 10),
    };
    if (!REFERENCE) return figures;

    const fake = await startFakeCompute(nova, `${host}-nova-fake`, { vcpus: SERVERS * 2, memoryMb: SERVERS * SCALE_SERVER_RAM_MB * 2 });
    undo.push(() => fake.remove());
    const theirs = await fill(nova, {
      host: fake.host,
      pid: fake.pid,
      rssMb: fake.rssMb,
      buildMs: (servers) => {
        const times = fakeBuildTimes(fake.logFile);
        if (servers.some((id) => !times.has(id))) throw new Error(`a server without its 'Took N seconds to build instance' line in ${fake.logFile}`);
        return servers.map((id) => times.get(id)!);
      },
    }, server, ids);

    return {
      ...figures,
      ...prefixed('nova_fake_', theirs),
      ratio_boots_per_s_to_nova_fake: round(ours.boots_per_s / theirs.boots_per_s),
      ratio_deletes_per_s_to_nova_fake: round(ours.deletes_per_s / theirs.deletes_per_s),
      ratio_rss_full_to_nova_fake: round(ours.service_rss_full_mb / theirs.service_rss_full_mb),
    };
  } finally {
    const left = ids.filter(Boolean);
    await Promise.allSettled(left.map((id) => nova.delete(`/servers/${id}`)));
    await pool(left.length, IN_FLIGHT, async (i) => { await waitGone(nova, left[i]); });
    for (const step of undo.reverse()) await step().catch((err: unknown) => console.error(`could not undo a change of the run: ${String(err)}`));
  }
}

process.stdout.write(`scale ${JSON.stringify(await scaleBench())}\n`);
