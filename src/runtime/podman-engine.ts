/**
 * ContainerEngine on podman's Docker-compatible API (`podman system service`, Debian bookworm's
 * podman 4.3 and trixie's 5.4), which serves the Docker engine's requests with the differences
 * measured in src/runtime/README.md; this module makes up for them:
 * - a container joining another's network also joins its UTS and user namespaces (podman
 *   shares only the network), so it has that one's host name and the same root;
 * - with network `none` podman writes no resolv.conf and keeps /etc/hosts under its run root:
 *   a container's network files are files of ours (under `stateDir`, by container name),
 *   bind-mounted read-only into it and into every container that joins it, and rewritten in
 *   place; its resolv.conf starts with this host's resolvers, as dockerd's does;
 * - there is no Docker update route, and podman's own (libpod) one changes the cgroup but not
 *   what the next start applies: the changed limits are kept under `stateDir` (by container
 *   id) and applied again after every start; its inspect does not echo a root disk size, so a
 *   label of ours records it;
 * - its btrfs driver's index names a container's subvolume by its layer;
 * - image names come back qualified (`localhost/`, `docker.io/`), a commit's id lacks
 *   `sha256:`, and a forced removal of an image takes the containers using it along;
 * - its Docker load and import routes leave every upload in podman's temp dir: images come in
 *   through libpod's own routes, which remove theirs;
 * - its copy into a container starts a copier process, which doubled the time a build takes
 *   to prepare its container: the files given at a create are files of ours too (under
 *   `stateDir`, by container name), owned by the container's root and bind-mounted read-only;
 * - it can make a container's namespaces without running it (libpod's init), which gives an
 *   instance one container (src/runtime/network-homes.ts), once the cleanup of the container's
 *   last run is over;
 * - its IPC modes mount each container's /dev/shm on the host: a container's IPC namespace and
 *   /dev/shm are made inside it instead (PODMAN_IPC).
 */
import type Docker from 'dockerode';
import type { DialOptions } from 'docker-modem';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { chmod, chown, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { storageLayerId } from './btrfs-root-disk.js';
import { DockerEngine, EngineError, checkFilePaths, dockerOptions, refuseThrottleChange, resources, tolerate, wrap } from './docker-engine.js';
import { createLogger, type Logger } from '../common/log.js';
import type { ContainerFile, ContainerLimits, ContainerRunState, ContainerSpec, ContainerSummary, EngineInfo, NetworkFile } from './types.js';
import { writeWhole } from './whole-file.js';

/** What a container's changed limits are, kept for its next starts. */
interface LimitsRecord { limits: ContainerLimits }

/** Registry prefixes podman puts before the names it was given. */
const QUALIFIED = /^(localhost|docker\.io\/library|docker\.io)\//;

/** A name as it was given to podman, without the registry it puts before it. */
export function unqualified(name: string): string {
  return name.replace(QUALIFIED, '');
}

const NETWORK_FILES: NetworkFile[] = ['resolv.conf', 'hosts'];

/** The root disk size a container was made with. */
const ROOT_SIZE_LABEL = 'org.openstack.nova-container.root-size';

const FULL_ID = /^[0-9a-f]{64}$/;

/** A container's name, which keys its network files (those joining it bind them by its name). */
const nameOf = (c: Docker.ContainerInspectInfo): string => c.Name.replace(/^\//, '');

/** What a container has in /etc/hosts before its network is plugged (the driver writes it then). */
function initialHosts(hostname: string | undefined): string {
  return `127.0.0.1\tlocalhost${hostname ? ` ${hostname}` : ''}\n::1\tlocalhost ip6-localhost ip6-loopback\n`;
}

/**
 * What a container's /etc/resolv.conf holds until its ports name resolvers
 * (src/network/resolv-conf.ts): this host's, from its resolv.conf `text`, as dockerd gives a
 * container, without the loopback ones, which the container's own loopback does not reach.
 */
export function hostResolvers(text: string): string {
  return text.split('\n').map((l) => l.trim())
    .filter((l) => /^(search|domain|options)\s/.test(l) || (/^nameserver\s/.test(l) && !/^nameserver\s+(127\.|::1$)/.test(l)))
    .map((l) => `${l}\n`).join('');
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
 * A container's IPC as podman makes it: a namespace of its own, its /dev/shm a tmpfs of the
 * engines' default size mounted by the runtime inside the container's mount namespace. podman
 * 4.3's own modes ('shareable', its default, and 'private' too) mount each container's /dev/shm
 * in the host's mount namespace, and every conmon has a mount namespace of its own that gets a
 * copy of each such mount made after it: the kernel's mounts grow with the square of the
 * containers (src/runtime/README.md, "IPC and /dev/shm"). 'none' is a private namespace
 * without that mount. A container made before keeps podman's mode until it is made again.
 */
export const PODMAN_IPC = { IpcMode: 'none', Tmpfs: { '/dev/shm': 'rw,nosuid,nodev,noexec,size=65536k' } } as const satisfies Docker.HostConfig;

/** `[container] podman_userns_remap`'s default: the range dockerd's userns-remap takes here. */
export const DEFAULT_PODMAN_USERNS_REMAP = '100000:65536';

/**
 * Podman's user namespace mode for a container that joins no other, from `first:count` (''
 * for none): every container's ids 0..count-1 are host ids first.., the same range for all as
 * dockerd's userns-remap gives them. The explicit size matters: without it podman 4.3 sizes the
 * namespace from the image, and concurrent creates then deadlock its storage (src/runtime/README.md).
 */
export function podmanUserns(remap: string): string {
  const range = remapRange(remap);
  if (!range) return '';
  const { first, count } = range;
  return `auto:size=${count},uidmapping=0:${first}:${count},gidmapping=0:${first}:${count}`;
}

/** `first:count` as numbers; null for ''. */
function remapRange(remap: string): { first: number; count: number } | null {
  if (remap === '') return null;
  const m = /^(\d+):(\d+)$/.exec(remap);
  if (!m || Number(m[1]) === 0 || Number(m[2]) < 1) throw new Error(`podman_userns_remap ${JSON.stringify(remap)}: give first:count, two positive integers (e.g. 100000:65536), or nothing`);
  return { first: Number(m[1]), count: Number(m[2]) };
}

/** A file with exactly `mode`, whatever the umask (the unit's is 0077): a container reads it as another user. */
async function writeWithMode(file: string, content: string | Buffer, mode: number): Promise<void> {
  await writeFile(file, content, { mode });
  await chmod(file, mode);
}

/** The names in a directory; none when it is not there. */
async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** libpod's states a listing may show, by the Docker state inspect gives them (initialized: prepared, not started). */
const LIBPOD_LISTED_STATES: Readonly<Record<string, ContainerRunState>> = { configured: 'created', initialized: 'created', stopped: 'exited' };

/** What of a row of libpod's listing (`GET /libpod/containers/json`) a summary takes. */
interface LibpodListed { Id: string; Names: string[] | null; ImageID: string; Labels: Record<string, string> | null; State: string; ExitCode: number; Pid: number }

/** What of `podman info` says where a container's run files are. */
interface PodmanInfo { store: { graphRoot: string; runRoot: string; graphDriverName: string } }

/** How long a prepare or a removal waits for the cleanup of the container's last run (a podman process of its own, slow on a busy host). */
const CLEANUP_WAIT_MS = 60_000;

/** How long podman may still call a run running that `runc update` found ended (podman 4.3 on a busy host: under 50 ms seen). */
const RUN_END_WAIT_MS = 5_000;

/** How a forced removal that raced podman's own end of the run fails (removeBesideCleanup). */
const CLEANUP_RACE = /device or resource busy|container state improper/;

/** Whether `pid` is a live (not exited, not zombie) conmon of container `id`. */
async function isConmon(pid: number, id: string): Promise<boolean> {
  const [stat, cmdline] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''), readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')]);
  const state = /\) (\S)/.exec(stat)?.[1];
  return stat.includes('(conmon)') && state !== 'Z' && state !== 'X' && cmdline.split('\0').includes(id);
}

export class PodmanEngine extends DockerEngine {
  protected override readonly rootSubvolume = storageLayerId;
  /** podman takes an empty value as no detach keys at all: every key reaches the workload at once. */
  protected override readonly consoleDetachKeys = '';
  private readonly userns: string;
  /** The host id of a container's root (user and group), which owns the files given at its create. */
  private readonly rootId: number;
  private store: Promise<PodmanInfo['store']> | null = null;

  /**
   * `stateDir`: this engine's own files (network files, given files, changed limits), kept across restarts.
   * `usernsRemap`: `first:count`, the host ids of every container's user namespace (those
   * joining another share its namespace); '': the host's.
   */
  constructor(endpoint: string, private readonly stateDir: string, usernsRemap = '', timeoutMs = 60_000,
    log: Logger = createLogger({ name: 'podman-engine' })) {
    super(endpoint, timeoutMs, log);
    this.userns = podmanUserns(usernsRemap);
    this.rootId = remapRange(usernsRemap)?.first ?? 0;
  }

  override async createContainer(spec: ContainerSpec): Promise<string> {
    checkFilePaths(spec);
    if (!(await this.ownFilesMade(spec))) return super.createContainer(spec); // the name is in use: the engine refuses it
    try {
      return await super.createContainer(spec);
    } catch (err) {
      await this.dropOwnFiles(spec.name);
      throw err;
    }
  }

  /** Mounted from the engine's files instead (createOptions). */
  protected override async putFiles(): Promise<void> {}

  protected override async createOptions(spec: ContainerSpec): Promise<Docker.ContainerCreateOptions> {
    const o = await super.createOptions(spec);
    // by name, as the driver names it (podman refuses a create joining one that is not there)
    const j = spec.joinNetworkOf;
    const joined = j && FULL_ID.test(j) ? (await this.nameById(j)) ?? j : j;
    const owner = joined ?? spec.name;
    // podman's inspect does not echo the size it was made with, which a resize compares with
    if (spec.limits.rootGb) o.Labels = { ...o.Labels, [ROOT_SIZE_LABEL]: `${spec.limits.rootGb}G` };
    o.HostConfig = {
      ...o.HostConfig,
      IpcMode: PODMAN_IPC.IpcMode,
      Tmpfs: { ...o.HostConfig?.Tmpfs, ...PODMAN_IPC.Tmpfs },
      Binds: [...NETWORK_FILES.map((f) => `${this.networkFile(owner, f)}:/etc/${f}:ro`), ...this.fileBinds(spec)],
      ...(joined ? { UTSMode: `container:${joined}`, ...(this.userns ? { UsernsMode: `container:${joined}` } : {}) } : {}),
      ...(!joined && this.userns ? { UsernsMode: this.userns } : {}),
    };
    return o;
  }

  override async startContainer(id: string): Promise<void> {
    await super.startContainer(id);
    // by id (what the driver starts by): no inspect on the start path, which a build waits for
    const fullId = FULL_ID.test(id) ? id : (await this.inspectRaw(id))?.Id;
    const record = fullId ? await this.limitsRecord(fullId) : null;
    if (!fullId || !record) return;
    await this.applyToRun(fullId, record.limits);
  }

  /**
   * The changed limits onto a run that has just started. One that already ended has nothing to
   * hold them (its next start applies them): it started. podman 4.3 still calls a run running
   * for some milliseconds after `runc update` found it ended, so a failed update is tried again
   * until podman says the run ended or the update holds (at most `RUN_END_WAIT_MS`).
   */
  private async applyToRun(id: string, limits: ContainerLimits): Promise<void> {
    const deadline = Date.now() + RUN_END_WAIT_MS;
    for (;;) {
      try {
        await this.applyLimits(id, limits);
        return;
      } catch (err) {
        if (!(await this.inspectRaw(id))?.State.Running) return;
        if (Date.now() > deadline) throw err;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * libpod's init; one with a process already (prepared, or running) is as good. First the
   * conmon of the container's last run must be gone: it runs podman's cleanup of that run when
   * the run ends, and podman 4.3's cleanup also deletes a container initialised meanwhile (its
   * namespaces and process). A prepared container's conmon is its own, not a last run's. One
   * just created (by its full id) has neither: a build's prepare is the init alone. The pid is
   * read from the file the runtime writes it to at the init (from an inspect when it cannot be).
   */
  async prepareContainer(id: string, created = false): Promise<number> {
    if (!created || !FULL_ID.test(id)) {
      const c = await this.inspectRaw(id);
      if (!c) throw new EngineError(`prepare container ${id}: no such container`, 404);
      if (c.State.Pid) return c.State.Pid;
      await this.lastRunCleanedUp(c.Id);
    }
    await this.mountingRootDisk(id, () => this.libpod(`prepare container ${id}`, { path: `/v4.0.0/libpod/containers/${encodeURIComponent(id)}/init`, method: 'POST', allowEmpty: true }));
    const pid = (FULL_ID.test(id) ? await this.runFilePid(id, 'pidfile').catch(() => 0) : 0) || (await this.inspectRaw(id))?.State.Pid;
    if (!pid) throw new EngineError(`prepare container ${id}: it has no process after its init`);
    return pid;
  }

  /** A pid podman's run files of the container hold (`conmon.pid`, `pidfile`); 0 when there is none. */
  private async runFilePid(id: string, file: string): Promise<number> {
    const { runRoot, graphDriverName } = await this.storeInfo();
    return Number((await readFile(join(runRoot, `${graphDriverName}-containers`, id, 'userdata', file), 'utf8').catch(() => '')).trim()) || 0;
  }

  /** Waits for the conmon of the container's last run, if any, to be gone (at most `CLEANUP_WAIT_MS`). */
  private async lastRunCleanedUp(id: string): Promise<void> {
    const pid = await this.runFilePid(id, 'conmon.pid');
    if (!pid) return;
    const deadline = Date.now() + CLEANUP_WAIT_MS;
    while (await isConmon(pid, id)) {
      if (Date.now() > deadline) throw new EngineError(`prepare container ${id}: the conmon of its last run (pid ${pid}) is still there after ${CLEANUP_WAIT_MS} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  override async updateLimits(id: string, limits: ContainerLimits): Promise<void> {
    const c = await this.inspectRaw(id);
    if (!c) throw new EngineError(`update limits of container ${id}: no such container`, 404);
    refuseThrottleChange(id, c.HostConfig, resources(limits, limits.diskIo ? await this.disk() : undefined));
    const merged: ContainerLimits = { ...(await this.limitsRecord(c.Id))?.limits, ...limits };
    // vCPUs without a bandwidth of the flavor's own replace the one an earlier flavor had
    if (limits.vcpus !== undefined && !limits.cpuBandwidth) delete merged.cpuBandwidth;
    // applied before it is kept: an update the engine refuses must not come back at a start
    if (c.State.Running) await this.applyLimits(c.Id, merged);
    await this.writeJson(this.limitsFile(c.Id), { limits: merged } satisfies LimitsRecord);
    if (limits.rootGb) await this.resizeRootDisk(c.Id, limits.rootGb, c.Config.Labels?.[ROOT_SIZE_LABEL]);
  }

  /** By name (the files' key, what the driver gives): no inspect on a build's path. */
  override async setNetworkFile(idOrName: string, file: NetworkFile, content: string): Promise<void> {
    const name = FULL_ID.test(idOrName) ? await this.nameById(idOrName) : idOrName;
    const there = name !== undefined && await stat(this.networkDir(name)).then((s) => s.isDirectory(), () => false);
    if (!name || !there) throw new EngineError(`container ${idOrName} has no ${file} of its own to replace: no such container, or it joins another's network`, 404);
    // in place, not by rename: running containers have this very inode bind-mounted
    await writeWithMode(this.networkFile(name, file), content, 0o644);
  }

  /** Also this engine's files of the container (network and given files by its name: given, or the removed container's). */
  override async removeContainer(id: string): Promise<void> {
    const c = await this.inspectRaw(id);
    if (c) {
      await this.removeBesideCleanup(c.Id);
      await rm(this.limitsFile(c.Id), { force: true });
    }
    // no second call for one that is not there (every build first removes what an earlier attempt left)
    const name = c ? nameOf(c) : FULL_ID.test(id) ? undefined : id;
    if (name) await this.dropOwnFiles(name);
  }

  /**
   * The forced removal of a container whose run it ends races podman 4.3's cleanup of that run
   * (the run's conmon starts it): both unmount and delete the run's files, and the removal fails
   * with "unlinkat .../userdata/shm: device or resource busy" when the cleanup holds them (on a
   * container made before PODMAN_IPC, whose /dev/shm podman mounted there). It
   * also races the end of a run that ends by itself: podman still calls it running, its kill
   * finds it stopped, and the removal fails with "container state improper". Then the cleanup
   * finishes the removal, or the container is still there to be removed again once it is over:
   * until it is gone, at most `CLEANUP_WAIT_MS`.
   */
  private async removeBesideCleanup(id: string): Promise<void> {
    const deadline = Date.now() + CLEANUP_WAIT_MS;
    for (;;) {
      try {
        await super.removeContainer(id);
        return;
      } catch (err) {
        if (!CLEANUP_RACE.test((err as Error).message) || Date.now() > deadline) throw err;
      }
      await new Promise((r) => setTimeout(r, 100));
      if (!(await this.inspectRaw(id))) return;
    }
  }

  /**
   * Not forced: podman's forced removal also removes the containers that use the image (an
   * instance's, when a cache release races a build), where Docker's only takes the tag away.
   * An image in use is kept with an error; a name among others is only taken away.
   */
  override async removeImage(ref: string): Promise<void> {
    await tolerate(`remove image ${ref}`, () => this.docker.getImage(ref).remove(), () => undefined);
  }

  override async importImage(rootfs: Readable, repo: string, tag: string, entrypoint: string[]): Promise<void> {
    await this.upload(`import image ${repo}:${tag}`, '/v4.0.0/libpod/images/import?', rootfs,
      { reference: `${repo}:${tag}`, changes: `ENTRYPOINT ${JSON.stringify(entrypoint)}` });
  }

  override async loadImage(archive: Readable): Promise<string[]> {
    const { Names: names } = await this.upload('load image', '/v4.0.0/libpod/images/load', archive, {}) as { Names?: string[] };
    if (!names?.length) throw new EngineError('load image: the archive held no image');
    return this.tagNames(names);
  }

  /** POSTs a tar to a libpod route (query parameters after a `?` in `path`); its JSON answer. */
  private upload(what: string, path: string, tar: Readable, query: Record<string, string>): Promise<unknown> {
    return this.libpod(what, { path, method: 'POST', file: tar, options: query });
  }

  /**
   * podman answers `/version` and `/info` after asking the host's package manager which packages
   * hold conmon, its OCI runtime and netavark (`dpkg-query --search`, half a second of CPU each
   * answer with podman 5.4 on Debian), at every audit and health probe. What they gave is had for
   * less: the version from `_ping` (Libpod-API-Version is podman's own), the store from one
   * `libpod/info`, which does not change while the service runs. A `_ping` without that header
   * (not podman's own service, which has no libpod routes either) is asked the Docker way.
   */
  override async info(): Promise<EngineInfo> {
    const unreachable = (err: unknown) => wrap(`container engine at ${this.endpoint} unreachable`, err);
    const headers = await this.pingHeaders().catch((err: unknown) => { throw unreachable(err); });
    const version = headers['libpod-api-version'];
    if (typeof version !== 'string') return super.info();
    const store = await this.storeInfo().catch((err: unknown) => { throw unreachable(err); });
    return { version, apiVersion: String(headers['api-version'] ?? ''), dataRoot: store.graphRoot, storageDriver: store.graphDriverName };
  }

  private storeInfo(): Promise<PodmanInfo['store']> {
    this.store ??= this.libpod('podman info', { path: '/v4.0.0/libpod/info', method: 'GET' }).then((i) => (i as PodmanInfo).store)
      .catch((err: unknown) => { this.store = null; throw err; });
    return this.store;
  }

  /** The headers of podman's answer to `GET /_ping` (dockerode gives only its body). */
  private pingHeaders(): Promise<IncomingHttpHeaders> {
    const { socketPath, host, port } = dockerOptions(this.endpoint);
    return new Promise((resolve, reject) => {
      const req = httpRequest({ socketPath, host, port, path: '/_ping', method: 'GET', timeout: this.timeoutMs }, (res) => {
        res.resume();
        if (res.statusCode === 200) resolve(res.headers);
        else reject(new Error(`_ping: HTTP ${res.statusCode}`));
      });
      req.on('timeout', () => req.destroy(new Error(`_ping: no answer in ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  /**
   * A libpod route, through the Docker client's connection as the Docker routes go: a body
   * streamed as it comes (an image is not held in memory), the client's timeout between reads.
   */
  private libpod(what: string, request: DialOptions): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.docker.modem.dial({ ...request, statusCodes: { 200: true, 201: true, 204: true, 304: true, 400: 'bad parameter', 404: 'no such container', 500: 'server error' } },
        (err, data) => (err ? reject(wrap(what, err)) : resolve(data)));
    });
  }

  /** libpod's own listing, which gives each container's pid as inspect does (Docker's listing has none). */
  override async listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    const rows = await this.libpod('list containers', {
      path: '/v4.0.0/libpod/containers/json?', method: 'GET',
      options: { all: true, filters: { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) } },
    }) as LibpodListed[] | null;
    return (rows ?? []).map((r) => ({
      id: r.Id,
      name: r.Names?.[0] ?? '',
      image: this.imageId(r.ImageID),
      labels: r.Labels ?? {},
      state: this.listedState(r.State),
      exitCode: r.ExitCode,
      pid: r.Pid,
    }));
  }

  protected override tagNames(tags: string[]): string[] {
    return tags.map(unqualified);
  }

  /**
   * podman's listing names libpod's own states, where its inspect says Docker's: a container
   * whose process ended is `stopped` until its cleanup has run, then `exited`.
   */
  protected override listedState(state: string): ContainerRunState {
    return LIBPOD_LISTED_STATES[state] ?? state as ContainerRunState;
  }

  protected override imageId(id: string): string {
    return id.startsWith('sha256:') ? id : `sha256:${id}`;
  }

  private async applyLimits(id: string, limits: ContainerLimits): Promise<void> {
    await this.libpod(`update limits of container ${id}`,
      { path: `/v4.0.0/libpod/containers/${encodeURIComponent(id)}/update`, method: 'POST', options: { _body: ociResources(limits) }, allowEmpty: true });
  }

  /** Network and given files by container name, changed limits by container id, of containers no listing shows. */
  override async forgetRemovedContainers(): Promise<string[]> {
    let all: Docker.ContainerInfo[];
    try {
      all = await this.docker.listContainers({ all: true });
    } catch (err) {
      throw wrap('list containers', err);
    }
    const names = new Set(all.flatMap((c) => c.Names.map((n) => n.replace(/^\//, ''))));
    const ids = new Set(all.map((c) => c.Id));
    const gone: string[] = [];
    for (const name of new Set([...await entries(join(this.stateDir, 'network')), ...await entries(join(this.stateDir, 'files'))])) {
      if (names.has(name)) continue;
      await this.dropOwnFiles(name);
      gone.push(name);
    }
    for (const file of await entries(join(this.stateDir, 'limits'))) {
      const id = file.replace(/\.json(\.new)?$/, '');
      if (ids.has(id)) continue;
      await rm(join(this.stateDir, 'limits', file), { force: true });
      gone.push(id);
    }
    return gone;
  }

  private networkDir(container: string): string {
    return join(this.stateDir, 'network', container);
  }

  private networkFile(container: string, file: NetworkFile): string {
    return join(this.networkDir(container), file);
  }

  private async nameById(id: string): Promise<string | undefined> {
    const c = await this.inspectRaw(id);
    return c ? nameOf(c) : undefined;
  }

  /**
   * A new container's files of ours: its network files (unless it joins another's network)
   * and the files given with it. False when its name is in use, which the engine refuses next:
   * the files there are that container's and stay. Files a container removed elsewhere left
   * are written again.
   */
  private async ownFilesMade(spec: ContainerSpec): Promise<boolean> {
    const name = spec.name;
    // files of ours by this name, whichever the new container needs, may be a container's that has it
    const there = await Promise.all([this.networkDir(name), this.filesDir(name)].map((d) => stat(d).then(() => true, () => false)));
    if (there.some(Boolean) && await this.inspectRaw(name)) return false;
    try {
      if (!spec.joinNetworkOf) {
        await mkdir(this.networkDir(name), { recursive: true });
        const resolvers = await readFile('/etc/resolv.conf', 'utf8').then(hostResolvers, () => '');
        await writeWithMode(this.networkFile(name, 'resolv.conf'), resolvers, 0o644);
        await writeWithMode(this.networkFile(name, 'hosts'), initialHosts(spec.hostname), 0o644);
      }
      if (spec.files?.length) await this.writeGivenFiles(name, spec.files);
    } catch (err) {
      await this.dropOwnFiles(name);
      throw err;
    }
    return true;
  }

  /**
   * The files given at a container's create, under its directory of given files as they are
   * in the container: a fresh tree, since no earlier container's files may be there. The
   * directories are ours and anyone's to read; each file is the container's root's (its
   * owner changed: CAP_CHOWN, etc/systemd/nova-container.service) with its own mode.
   */
  private async writeGivenFiles(container: string, files: ContainerFile[]): Promise<void> {
    const top = this.filesDir(container);
    await rm(top, { recursive: true, force: true });
    for (const f of files) {
      const dir = join(top, dirname(f.path));
      await mkdir(dir, { recursive: true });
      for (let d = dir; d !== dirname(top); d = dirname(d)) await chmod(d, 0o755); // whatever the umask (the unit's is 0077)
      const file = join(top, f.path);
      await writeWithMode(file, f.content, f.mode ?? 0o644);
      await chown(file, this.rootId, this.rootId);
    }
  }

  /**
   * Read-only mounts of a container's given files: each directory that holds one, whole (a
   * config drive's files cannot be changed in place either), or the file itself directly under /.
   */
  private fileBinds(spec: ContainerSpec): string[] {
    const top = this.filesDir(spec.name);
    const targets = new Set((spec.files ?? []).map((f) => (dirname(f.path) === '/' ? f.path : dirname(f.path))));
    return [...targets].map((t) => `${join(top, t)}:${t}:ro`);
  }

  private async dropOwnFiles(container: string): Promise<void> {
    await rm(this.networkDir(container), { recursive: true, force: true });
    await rm(this.filesDir(container), { recursive: true, force: true });
  }

  private filesDir(container: string): string {
    return join(this.stateDir, 'files', container);
  }

  private limitsFile(containerId: string): string {
    return join(this.stateDir, 'limits', `${containerId}.json`);
  }

  private async limitsRecord(containerId: string): Promise<LimitsRecord | null> {
    try {
      return JSON.parse(await readFile(this.limitsFile(containerId), 'utf8')) as LimitsRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new EngineError(`the changed limits of container ${containerId}: ${(err as Error).message}`);
    }
  }

  /** Whole or not at all. */
  private async writeJson(path: string, value: unknown): Promise<void> {
    await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
    await writeWhole(path, JSON.stringify(value), 0o600);
  }
}
