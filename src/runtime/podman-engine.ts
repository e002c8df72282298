/**
 * ContainerEngine on podman's Docker-compatible API (`podman system service`, Debian bookworm's
 * podman 4.3), which serves the Docker engine's requests with the differences measured in
 * src/runtime/README.md; this module makes up for them:
 * - a container joining another's network also joins its UTS and user namespaces (podman
 *   shares only the network), so it has that one's host name and the same root;
 * - with network `none` podman writes no resolv.conf and keeps /etc/hosts under its run root:
 *   a container's network files are files of ours (under `stateDir`), bind-mounted read-only
 *   into it and into every container that joins it, and rewritten in place;
 * - there is no Docker update route, and podman's own (libpod) one changes the cgroup but not
 *   what the next start applies: the changed limits are kept under `stateDir` and applied
 *   again after every start;
 * - its btrfs driver's index names a container's subvolume by its layer;
 * - image names come back qualified (`localhost/`, `docker.io/`), an import takes its tag
 *   inside the repository name, a commit's id lacks `sha256:`.
 */
import axios, { type AxiosInstance } from 'axios';
import type Docker from 'dockerode';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { storageLayerId } from './btrfs-root-disk.js';
import { DockerEngine, EngineError, resources, throttles, tolerate, wrap } from './docker-engine.js';
import { createLogger, type Logger } from '../common/log.js';
import type { ContainerLimits, ContainerSpec, NetworkFile } from './types.js';

/** What a container's changed limits are, kept for its next starts. */
interface LimitsRecord { limits: ContainerLimits }

/** Registry prefixes podman puts before the names it was given. */
const QUALIFIED = /^(localhost|docker\.io\/library|docker\.io)\//;

const NETWORK_FILES: NetworkFile[] = ['resolv.conf', 'hosts'];

/** What a container has in /etc/hosts before its network is plugged (the driver writes it then). */
function initialHosts(hostname: string | undefined): string {
  return `127.0.0.1\tlocalhost${hostname ? ` ${hostname}` : ''}\n::1\tlocalhost ip6-localhost ip6-loopback\n`;
}

/** A container's limits as the OCI resources podman's update route takes. */
export function ociResources(limits: ContainerLimits): Record<string, unknown> {
  const r = resources(limits, undefined);
  const out: Record<string, unknown> = {};
  if (r.Memory !== undefined) out.memory = { limit: r.Memory, swap: r.MemorySwap };
  const cpu: Record<string, number> = {};
  if (r.CpuPeriod !== undefined) cpu.period = r.CpuPeriod;
  if (r.CpuQuota !== undefined) cpu.quota = r.CpuQuota;
  if (r.CpuShares !== undefined) cpu.shares = r.CpuShares;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  if (r.PidsLimit !== undefined) out.pids = { limit: r.PidsLimit };
  return out;
}

/**
 * Podman's user namespace mode for a container that joins no other, from `first:count` (''
 * for none): every container's ids 0..count-1 are host ids first.., the same range for all as
 * dockerd's userns-remap gives them. The explicit size matters: without it podman 4.3 sizes the
 * namespace from the image, and concurrent creates then deadlock its storage (src/runtime/README.md).
 */
export function podmanUserns(remap: string): string {
  if (remap === '') return '';
  const m = /^(\d+):(\d+)$/.exec(remap);
  if (!m || Number(m[1]) === 0 || Number(m[2]) < 1) throw new Error(`podman_userns_remap ${JSON.stringify(remap)}: give first:count, two positive integers (e.g. 100000:65536), or nothing`);
  const [, first, count] = m;
  return `auto:size=${count},uidmapping=0:${first}:${count},gidmapping=0:${first}:${count}`;
}

export class PodmanEngine extends DockerEngine {
  protected override readonly rootSubvolume = storageLayerId;
  private readonly libpod: AxiosInstance;

  private readonly userns: string;

  /**
   * `stateDir`: this engine's own files (network files, changed limits), kept across restarts.
   * `usernsRemap`: `first:count`, the host ids of every container's user namespace (those
   * joining another share its namespace); '': the host's.
   */
  constructor(endpoint: string, private readonly stateDir: string, usernsRemap = '', timeoutMs = 60_000,
    log: Logger = createLogger({ name: 'podman-engine' })) {
    super(endpoint, timeoutMs, log);
    this.userns = podmanUserns(usernsRemap);
    const url = new URL(endpoint);
    this.libpod = axios.create({
      ...(url.protocol === 'unix:' ? { socketPath: url.pathname, baseURL: 'http://podman' } : { baseURL: endpoint }),
      timeout: timeoutMs,
      validateStatus: () => true,
    });
  }

  protected override async createOptions(spec: ContainerSpec): Promise<Docker.ContainerCreateOptions> {
    const o = await super.createOptions(spec);
    const joined = spec.joinNetworkOf ? await this.nameOf(spec.joinNetworkOf) : undefined;
    if (spec.joinNetworkOf && !joined) throw new EngineError(`create container ${spec.name}: there is no container ${spec.joinNetworkOf} to join`, 404);
    const owner = joined ?? spec.name;
    if (!joined) await this.writeInitialNetworkFiles(owner, spec.hostname);
    o.HostConfig = {
      ...o.HostConfig,
      Binds: NETWORK_FILES.map((f) => `${this.networkFile(owner, f)}:/etc/${f}:ro`),
      ...(joined ? { UTSMode: `container:${joined}`, ...(this.userns ? { UsernsMode: `container:${joined}` } : {}) } : {}),
      ...(!joined && this.userns ? { UsernsMode: this.userns } : {}),
    };
    return o;
  }

  override async startContainer(id: string): Promise<void> {
    await super.startContainer(id);
    const record = await this.limitsRecord(id);
    if (record) await this.applyLimits(id, record.limits);
  }

  override async updateLimits(id: string, limits: ContainerLimits): Promise<void> {
    const c = await tolerate(`update limits of container ${id}`, () => this.docker.getContainer(id).inspect(), () => null);
    if (!c) throw new EngineError(`update limits of container ${id}: no such container`, 404);
    const had = throttles(c.HostConfig);
    const asked = throttles(resources(limits, limits.diskIo ? await this.disk() : undefined));
    if (had !== asked) {
      throw new EngineError(`update limits of container ${id}: the engine cannot change disk I/O throttles in place (${had || 'none'} now, ${asked || 'none'} asked)`);
    }
    const merged = { ...(await this.limitsRecord(c.Id))?.limits, ...limits };
    await this.writeJson(this.limitsFile(c.Id), { limits: merged } satisfies LimitsRecord);
    if (c.State.Running) await this.applyLimits(c.Id, merged);
    if (limits.rootGb) await this.resizeRootDisk(c.Id, limits.rootGb, undefined);
  }

  override async setNetworkFile(id: string, file: NetworkFile, content: string): Promise<void> {
    const name = await this.nameOf(id);
    if (!name) throw new EngineError(`container ${id} has no ${file} to replace: no such container`, 404);
    // in place, not by rename: running containers have this very inode bind-mounted
    await writeFile(this.networkFile(name, file), content, { mode: 0o644 });
  }

  override async removeContainer(id: string): Promise<void> {
    const c = await tolerate(`remove container ${id}`, () => this.docker.getContainer(id).inspect(), () => null);
    await super.removeContainer(id);
    if (!c) return;
    await rm(this.limitsFile(c.Id), { force: true });
    await rm(join(this.stateDir, 'network', c.Name.replace(/^\//, '')), { recursive: true, force: true });
  }

  protected override importName(repo: string, tag: string): { repo: string } {
    return { repo: `${repo}:${tag}` };
  }

  protected override tagNames(tags: string[]): string[] {
    return tags.map((t) => t.replace(QUALIFIED, ''));
  }

  protected override imageId(id: string): string {
    return id.startsWith('sha256:') ? id : `sha256:${id}`;
  }

  private async applyLimits(id: string, limits: ContainerLimits): Promise<void> {
    const res = await this.libpod.post(`/v4.0.0/libpod/containers/${encodeURIComponent(id)}/update`, ociResources(limits)).catch((err: unknown) => {
      throw wrap(`update limits of container ${id}`, err);
    });
    if (res.status >= 300) {
      const msg = (res.data as { message?: string } | undefined)?.message ?? JSON.stringify(res.data);
      throw new EngineError(`update limits of container ${id}: ${msg}`, res.status);
    }
  }

  private async nameOf(idOrName: string): Promise<string | undefined> {
    const c = await tolerate(`inspect container ${idOrName}`, () => this.docker.getContainer(idOrName).inspect(), () => null);
    return c?.Name.replace(/^\//, '');
  }

  private networkFile(container: string, file: NetworkFile): string {
    return join(this.stateDir, 'network', container, file);
  }

  private async writeInitialNetworkFiles(container: string, hostname: string | undefined): Promise<void> {
    await mkdir(join(this.stateDir, 'network', container), { recursive: true, mode: 0o755 });
    await writeFile(this.networkFile(container, 'resolv.conf'), '', { mode: 0o644 });
    await writeFile(this.networkFile(container, 'hosts'), initialHosts(hostname), { mode: 0o644 });
  }

  private limitsFile(containerId: string): string {
    return join(this.stateDir, 'limits', `${containerId}.json`);
  }

  private async limitsRecord(idOrName: string): Promise<LimitsRecord | null> {
    const id = /^[0-9a-f]{64}$/.test(idOrName) ? idOrName : (await tolerate(`inspect container ${idOrName}`, () => this.docker.getContainer(idOrName).inspect(), () => null))?.Id;
    if (!id) return null;
    try {
      return JSON.parse(await readFile(this.limitsFile(id), 'utf8')) as LimitsRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new EngineError(`the changed limits of container ${id}: ${(err as Error).message}`);
    }
  }

  /** Whole or not at all. */
  private async writeJson(path: string, value: unknown): Promise<void> {
    await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
    await writeFile(`${path}.new`, JSON.stringify(value), { mode: 0o600 });
    await rename(`${path}.new`, path);
  }
}
