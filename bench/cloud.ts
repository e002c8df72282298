/** What the benchmarks share: a Keystone session on the local cloud (its openrc), a server's status, a test image, the engine's own containers, figures' statistics. */
import axios, { type AxiosInstance } from 'axios';
import type Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { GlanceTokenSource } from '../src/glance-bridge/token-source.js';
import { DEFAULT_PODMAN_USERNS_REMAP, PODMAN_IPC, podmanUserns } from '../src/runtime/podman-engine.js';
import { computeConfValue, openrcEnv } from '../test/helpers/cloud.js';
import { ENGINE_DRIVER, busyboxRootfs, importRootfs, makeTar, readTar, saveImage } from '../test/integration/glance-bridge/images.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Runs `work(i)` for i in [0, n) with at most `limit` at a time; the first failure stops the rest from starting. */
export async function pool(n: number, limit: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, n) }, async () => {
    try {
      while (next < n) await work(next++);
    } catch (err) {
      next = n;
      throw err;
    }
  }));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

export interface CloudSession {
  nova: AxiosInstance;
  glance: AxiosInstance;
  neutron: AxiosInstance;
  placement: AxiosInstance;
  projectId: string;
  /** The session's token and Glance endpoint as the glance-bridge takes them. */
  glanceSource: GlanceTokenSource;
}

interface Token {
  value: string;
  expiresAt: number;
  catalog: { type: string; endpoints: { interface: string; url: string }[] }[];
  projectId: string;
}

async function issueToken(env: Record<string, string>): Promise<Token> {
  const auth = await axios.post(`${env.OS_AUTH_URL.replace(/\/+$/, '')}/auth/tokens`, {
    auth: {
      identity: { methods: ['password'], password: { user: { name: env.OS_USERNAME, domain: { name: env.OS_USER_DOMAIN_NAME ?? 'Default' }, password: env.OS_PASSWORD } } },
      scope: { project: { name: env.OS_PROJECT_NAME, domain: { name: env.OS_PROJECT_DOMAIN_NAME ?? 'Default' } } },
    },
  });
  return {
    value: String(auth.headers['x-subject-token']),
    expiresAt: Date.parse(String(auth.data.token.expires_at)),
    catalog: auth.data.token.catalog as Token['catalog'],
    projectId: String(auth.data.token.project.id),
  };
}

/**
 * A token for the openrc's user and project, and a client per service (public endpoints,
 * compute API 2.37). The token is issued again 5 minutes before it expires: Keystone's last an
 * hour, and a 1,000-server fill and its deletes take longer (with the old token every call
 * answered 401 and the bench waited on servers it could no longer see).
 */
export async function session(): Promise<CloudSession> {
  const env = openrcEnv();
  let token = await issueToken(env);
  let renewing: Promise<Token> | null = null;
  const url = (type: string) => token.catalog.find((c) => c.type === type)!.endpoints.find((e) => e.interface === 'public')!.url;
  const client = (type: string, headers: Record<string, string> = {}): AxiosInstance => {
    const c = axios.create({ baseURL: url(type), headers });
    c.interceptors.request.use(async (config) => {
      if (Date.now() > token.expiresAt - 300_000) {
        try {
          token = await (renewing ??= issueToken(env).finally(() => { renewing = null; }));
        } catch (err) {
          if (Date.now() >= token.expiresAt) throw err; // Keystone away: the old token while it lasts
        }
      }
      config.headers.set('X-Auth-Token', token.value);
      return config;
    });
    return c;
  };
  return {
    nova: client('compute', { 'X-OpenStack-Nova-API-Version': '2.37' }),
    glance: client('image'),
    neutron: client('network'),
    placement: client('placement', { 'OpenStack-API-Version': 'placement 1.26' }),
    projectId: token.projectId,
    glanceSource: {
      kind: 'user',
      authHeaders: async () => ({ 'X-Auth-Token': token.value }),
      imageEndpoint: async () => url('image').replace(/\/+$/, ''),
      unauthorized: () => false,
    },
  };
}

/** Polls the server every `everyMs` until it has status `want` ('GONE': 404); ERROR throws with its fault. */
export async function waitStatus(nova: AxiosInstance, id: string, want: string, everyMs = 50): Promise<void> {
  for (;;) {
    const r = await nova.get(`/servers/${id}`, { validateStatus: () => true });
    if (want === 'GONE' && r.status === 404) return;
    const status = r.data?.server?.status;
    if (status === want) return;
    if (status === 'ERROR') throw new Error(`server ${id} went to ERROR: ${JSON.stringify(r.data.server.fault)}`);
    await sleep(everyMs);
  }
}

/**
 * A public Glance image (a `docker save` archive) of busybox running sleep, in one layer with
 * `ballastBytes` of random data in /opt/ballast; the caller deletes it.
 */
export async function sleeperImage(glance: AxiosInstance, docker: Docker, tag: string, ballastBytes = 0): Promise<{ id: string }> {
  let rootfs = await busyboxRootfs();
  if (ballastBytes) rootfs = await makeTar([...await readTar(rootfs), { name: 'opt/', type: 'directory' }, { name: 'opt/ballast', data: randomBytes(ballastBytes) }]);
  await importRootfs(docker, rootfs, 'bench/busybox', tag, ['CMD ["/bin/sleep", "1000000"]']);
  const archive = await saveImage(docker, `bench/busybox:${tag}`);
  await docker.getImage(`bench/busybox:${tag}`).remove();
  const image = (await glance.post('/v2/images', { name: tag, container_format: 'docker', disk_format: 'raw', visibility: 'public' })).data as { id: string };
  await glance.put(`/v2/images/${image.id}/file`, archive, { headers: { 'Content-Type': 'application/octet-stream' } });
  return image;
}

/**
 * A bench's Glance image gone, and the engine's copy of it, which the compute's image cache
 * would keep for a day (a run's image is unused once its servers are gone); a failure is left.
 */
export async function deleteBenchImage(glance: AxiosInstance, docker: Docker, id: string): Promise<void> {
  await glance.delete(`/v2/images/${id}`).catch(() => undefined);
  await docker.getImage(`glance-image:${id}`).remove().catch(() => undefined);
}

/** A process's resident memory, MB. */
export function rssMb(pid: number | string): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
}

/** The user namespace a server's containers get on podman ([container] podman_userns_remap, src/runtime/podman-engine.ts); none on dockerd, whose remapping is the daemon's. */
function engineUserns(): string {
  return ENGINE_DRIVER === 'podman' ? podmanUserns(computeConfValue('container', 'podman_userns_remap') ?? DEFAULT_PODMAN_USERNS_REMAP) : '';
}

/** Whether the engine runs containers in a user namespace (dockerd's userns-remap, or podman's per container). */
export async function engineRemapsUsers(docker: Docker): Promise<boolean> {
  if (ENGINE_DRIVER === 'podman') return engineUserns() !== '';
  const info = await docker.info() as { SecurityOptions?: string[] };
  return (info.SecurityOptions ?? []).some((o) => o.includes('userns'));
}

/**
 * The engine alone: create+start of one container of `image` (the reference a build is
 * measured against), with a 1-vCPU flavor's limits and the hardening and user namespace a
 * server's workload gets (src/runtime/docker-engine.ts, podman-engine.ts), or with none of them
 * (`limits` null); no Nova, no sandbox. Milliseconds; the container is removed.
 */
export async function engineCreateStartMs(docker: Docker, image: string, name: string, limits: { memoryMb: number; rootGb?: number } | null): Promise<number> {
  const t0 = performance.now();
  const remove = await startEngineContainer(docker, image, name, limits);
  const ms = performance.now() - t0;
  await remove();
  return ms;
}

/** The container engineCreateStartMs measures, created and started, kept running: how to remove it. */
export async function startEngineContainer(docker: Docker, image: string, name: string, limits: Limits | null): Promise<() => Promise<void>> {
  const c = await docker.createContainer({ Image: image, name, HostConfig: limits ? workloadHostConfig(limits, 'none') : { NetworkMode: 'none' } });
  try {
    await c.start();
  } catch (err) {
    await removeMeasured(c);
    throw err;
  }
  return () => removeMeasured(c);
}

/**
 * A forced removal, the container gone after it: on podman 4.3 the removal can lose a race with
 * the cleanup of the run it ends and fail with EBUSY, the cleanup then removing the container
 * (src/runtime/podman-engine.ts, removeBesideCleanup); one still there after 10 s is removed again.
 */
export async function removeMeasured(c: Docker.Container): Promise<void> {
  try {
    await c.remove({ force: true });
  } catch (err) {
    if (!/device or resource busy/.test((err as Error).message)) throw err;
    for (let i = 0; i < 100; i++) {
      const there = await c.inspect().then(() => true, (e: { statusCode?: number }) => {
        if (e.statusCode !== 404) throw e;
        return false;
      });
      if (!there) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    await c.remove({ force: true }); // still there when the cleanup is long over
  }
}

type Limits = { memoryMb: number; rootGb?: number };

/** The RAM of bench:scale's flavor (bench/scale.ts), MB: a server's smallest memory limit. */
export const SCALE_SERVER_RAM_MB = 16;

/** A 1-vCPU flavor's limits and a server workload's hardening, user namespace and (on podman) IPC, in network mode `network`. */
export function workloadHostConfig(limits: Limits, network: string): Docker.ContainerCreateOptions['HostConfig'] {
  const userns = engineUserns();
  return {
    CpuPeriod: 100_000, CpuQuota: 100_000, Memory: limits.memoryMb * 1048576, MemorySwap: limits.memoryMb * 1048576, PidsLimit: 1024,
    SecurityOpt: ['no-new-privileges'], NetworkMode: network, Init: true,
    ...(limits.rootGb ? { StorageOpt: { size: `${limits.rootGb}G` } } : {}), ...(userns ? { UsernsMode: userns } : {}),
    ...(ENGINE_DRIVER === 'podman' ? PODMAN_IPC : {}),
  };
}

/** podman's libpod init of a created container: its namespaces made, its process not yet run (src/runtime/podman-engine.ts). */
export function libpodInit(docker: Docker, id: string): Promise<void> {
  return new Promise<void>((resolve, reject) => docker.modem.dial({
    path: `/v4.0.0/libpod/containers/${id}/init`, method: 'POST', statusCodes: { 204: true, 304: true, 404: 'no such container', 500: 'server error' },
  }, (err) => (err ? reject(err) : resolve())));
}

/**
 * The engine alone, the shortest way it has to give a workload a network namespace that
 * exists before its first process runs (what a build must do: src/runtime/network-homes.ts),
 * with nothing plugged and no Nova: on podman create, init, start of the workload; on dockerd a
 * sandbox of `sandboxImage` created, then started while the workload joined to it is created,
 * then the workload started. The floor a build's engine calls cannot go below. Milliseconds;
 * the containers are removed.
 */
export async function engineNetworkFirstMs(docker: Docker, image: string, name: string, limits: Limits, sandboxImage: string | null): Promise<number> {
  const made: Docker.Container[] = [];
  const t0 = performance.now();
  try {
    if (ENGINE_DRIVER === 'podman') {
      const c = await docker.createContainer({ Image: image, name, HostConfig: workloadHostConfig(limits, 'none') });
      made.push(c);
      await libpodInit(docker, c.id);
      await c.start();
    } else {
      if (!sandboxImage) throw new Error('dockerd needs the sandbox image for a network-first start');
      const sandbox = await docker.createContainer({ Image: sandboxImage, name: `${name}-net`, HostConfig: { NetworkMode: 'none', Memory: 16 * 1048576, PidsLimit: 8 } });
      made.push(sandbox);
      const [started, created] = await Promise.allSettled([sandbox.start(),
        docker.createContainer({ Image: image, name, HostConfig: workloadHostConfig(limits, `container:${sandbox.id}`) })]);
      if (created.status === 'fulfilled') made.unshift(created.value); // removed before its sandbox, whatever failed
      if (started.status === 'rejected') throw started.reason;
      if (created.status === 'rejected') throw created.reason;
      await created.value.start();
    }
    return performance.now() - t0;
  } finally {
    for (const c of made) await removeMeasured(c);
  }
}
