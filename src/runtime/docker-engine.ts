/**
 * ContainerEngine on the Docker Engine API (dockerd from docker.io, API 1.41) through
 * dockerode, a well-kept client that speaks the engine's HTTP API over its unix socket.
 */
import Docker from 'dockerode';
import { request } from 'node:http';
import { posix } from 'node:path';
import { Readable, type Duplex } from 'node:stream';
import { pack } from 'tar-stream';
import { writeFile } from 'node:fs/promises';
import { watchContainerStarts } from './docker-events.js';
import { diskOf } from './block-device.js';
import { dockerMountId, putBackRoomsLeft, setBtrfsRootLimit, withRoomToMount, type SubvolumeLocator } from './btrfs-root-disk.js';
import { createLogger, type Logger } from '../common/log.js';
import {
  ImageMissing, type ContainerEngine, type ContainerFile, type ContainerLimits, type ContainerRunState, type ContainerSpec, type ContainerStatus,
  type ContainerSummary, type EngineInfo, type EngineWatch, type ImageInfo, type NetworkFile, type StartWatcher,
} from './types.js';

export class EngineError extends Error {
  constructor(message: string, readonly statusCode?: number) {
    super(message);
    this.name = 'EngineError';
  }
}

/** `unix:///run/docker.sock` or `http://127.0.0.1:2375`. */
export function dockerOptions(endpoint: string): Docker.DockerOptions {
  const url = new URL(endpoint);
  if (url.protocol === 'unix:') return { socketPath: url.pathname };
  if (url.protocol === 'http:') return { host: url.hostname, port: Number(url.port || 2375), protocol: 'http' };
  throw new EngineError(`unsupported engine endpoint ${endpoint}: use unix:///path or http://host:port`);
}

export function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number })?.statusCode;
}

export function wrap(what: string, err: unknown): EngineError {
  const msg = (err as { json?: { message?: string } })?.json?.message ?? (err as Error)?.message ?? String(err);
  return new EngineError(`${what}: ${msg}`, statusOf(err));
}

/** Runs `op`; a 404 becomes `onMissing`, a 304 (already in that state) is success. */
export async function tolerate<T>(what: string, op: () => Promise<T>, onMissing: () => T): Promise<T | undefined> {
  try {
    return await op();
  } catch (err) {
    const code = statusOf(err);
    if (code === 404) return onMissing();
    if (code === 304) return undefined;
    throw wrap(what, err);
  }
}

const date = (s: string | undefined): Date | null => (!s || s.startsWith('0001-') ? null : new Date(s));

/**
 * Refuses a given file whose path is not absolute and normal (no `.`, `..`, `//` or trailing
 * `/`), or holds a `:` (a bind mount names its source and target with them).
 */
export function checkFilePaths(spec: ContainerSpec): void {
  for (const { path } of spec.files ?? []) {
    if (!path.startsWith('/') || path === '/' || posix.normalize(path) !== path || path.endsWith('/') || path.includes(':')) {
      throw new EngineError(`create container ${spec.name}: bad file path ${JSON.stringify(path)}`);
    }
  }
}

/** How a btrfs storage driver refuses to mount a container whose root disk is full (src/runtime/btrfs-root-disk.ts). */
const FULL_ROOT_DISK = /failed to limit qgroup[\s\S]*disk quota exceeded/i;

/**
 * The Docker engine, and the base of engines that serve its API with differences (a subclass
 * changes what it sends at create, how limits change, how images are named).
 */
export class DockerEngine implements ContainerEngine {
  protected readonly docker: Docker;
  /** How the btrfs storage driver names a container's subvolume (src/runtime/btrfs-root-disk.ts). */
  protected readonly rootSubvolume: SubvolumeLocator = dockerMountId;
  private dataRootDisk: Promise<string> | undefined;

  /** `log`: where what goes wrong on the engine's event stream is told. */
  constructor(protected readonly endpoint: string, protected readonly timeoutMs = 60_000, protected readonly log: Logger = createLogger({ name: 'docker-engine' })) {
    this.docker = new Docker({ ...dockerOptions(endpoint), timeout: timeoutMs });
  }

  async info(): Promise<EngineInfo> {
    try {
      const [version, info] = await Promise.all([this.docker.version(), this.docker.info()]);
      return {
        version: version.Version,
        apiVersion: version.ApiVersion,
        dataRoot: String(info.DockerRootDir),
        storageDriver: String(info.Driver),
      };
    } catch (err) {
      throw wrap(`container engine at ${this.endpoint} unreachable`, err);
    }
  }

  /** dockerd keeps everything of a container itself: nothing to drop. */
  async forgetRemovedContainers(): Promise<string[]> {
    return [];
  }

  async putBackRootDiskRooms(): Promise<string[]> {
    const { storageDriver, dataRoot } = await this.info();
    return storageDriver === 'btrfs' ? putBackRoomsLeft(dataRoot) : [];
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    checkFilePaths(spec);
    let id: string;
    try {
      id = (await this.docker.createContainer(await this.createOptions(spec))).id;
    } catch (err) {
      const e = wrap(`create container ${spec.name}`, err);
      // dockerd: "No such image: <ref>"; podman: "no such image: <qualified ref>: image not known"
      if (e.statusCode === 404 && /no such image/i.test(e.message)) throw new ImageMissing(spec.image, e.message);
      // e.g. "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"
      if (spec.limits.rootGb && /storage-?opt/i.test(e.message)) {
        throw new EngineError(`the root disk limit (${spec.limits.rootGb} GB) cannot be enforced by this engine: ${e.message}; [container] enforce_root_disk = false runs instances without it`);
      }
      throw e;
    }
    if (!spec.files?.length) return id;
    try {
      await this.putFiles(id, spec.files);
    } catch (err) {
      await this.removeContainer(id).catch(() => undefined); // the copy's error is the one to see
      throw err;
    }
    return id;
  }

  /** The engine's create request for `spec`. */
  protected async createOptions(spec: ContainerSpec): Promise<Docker.ContainerCreateOptions> {
    return {
      name: spec.name,
      Image: spec.image,
      ...(spec.hostname !== undefined ? { Hostname: spec.hostname } : {}),
      Labels: spec.labels,
      Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
      ...(spec.command ? { Cmd: spec.command } : {}),
      Tty: spec.console ?? false,
      OpenStdin: spec.console ?? false,
      StdinOnce: false, // a console client that leaves does not close the stdin of the next one
      HostConfig: {
        ...resources(spec.limits, spec.limits.diskIo ? await this.disk() : undefined),
        ...(spec.limits.rootGb ? { StorageOpt: { size: `${spec.limits.rootGb}G` } } : {}),
        // Neutron alone decides what an instance reaches: never one of the engine's networks.
        NetworkMode: spec.joinNetworkOf ? `container:${spec.joinNetworkOf}` : 'none',
        RestartPolicy: { Name: 'no' }, // Nova owns the power state
        // The engine's defaults kept (capabilities, seccomp profile, masked /proc and /sys
        // paths), and no process may gain privileges (setuid binaries, file capabilities).
        Privileged: false,
        SecurityOpt: ['no-new-privileges'],
        Init: spec.init ?? true,
        LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
      },
    };
  }

  async startContainer(id: string): Promise<void> {
    await this.mountingRootDisk(id, () => tolerate(`start container ${id}`, () => this.docker.getContainer(id).start(), () => {
      throw new EngineError(`start container ${id}: no such container`, 404);
    }));
  }

  /**
   * `op`, which has the engine mount container `id`'s root file system, once more when the btrfs
   * driver refused the mount because the disk is full: with room for the mount's limit ioctl
   * (roomToMount).
   */
  protected async mountingRootDisk<T>(id: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      const refusal = err as Error & { statusCode?: number };
      if (!FULL_ROOT_DISK.test(refusal.message)) throw err;
      this.log.warn({ container: id, err: refusal.message }, 'the container\'s root disk is full: its mount is tried again with room for its limit');
      try {
        return await this.roomToMount(id, op);
      } catch (again) {
        throw new EngineError(`${refusal.message}; tried again with room for its limit: ${(again as Error).message}`, refusal.statusCode);
      }
    }
  }

  /** `mount` with room above container `id`'s full root disk for its driver's limit ioctl (src/runtime/btrfs-root-disk.ts). */
  protected async roomToMount<T>(id: string, mount: () => Promise<T>): Promise<T> {
    const c = await this.inspectRaw(id);
    if (!c) throw new EngineError(`no such container ${id}`, 404);
    return withRoomToMount((await this.info()).dataRoot, c.Id, mount, this.log, this.rootSubvolume);
  }

  async stopContainer(id: string, graceSeconds: number): Promise<void> {
    await tolerate(`stop container ${id}`, () => this.docker.getContainer(id).stop({ t: graceSeconds }), () => undefined);
  }

  async updateLimits(id: string, limits: ContainerLimits): Promise<void> {
    try {
      const wanted = resources(limits, limits.diskIo ? await this.disk() : undefined);
      const container = await this.docker.getContainer(id).inspect();
      const current = container.HostConfig;
      refuseThrottleChange(id, current, wanted);
      for (const k of THROTTLE_FIELDS) delete wanted[k];
      // a container made with NanoCpus (before CPU became a period and quota) keeps that form
      if (current.NanoCpus && !limits.cpuBandwidth && limits.vcpus !== undefined) {
        delete wanted.CpuPeriod;
        delete wanted.CpuQuota;
        wanted.NanoCpus = Math.round(limits.vcpus * 1e9);
      }
      await this.docker.getContainer(id).update(wanted);
      if (limits.rootGb) await this.resizeRootDisk(container.Id, limits.rootGb, current.StorageOpt?.size);
    } catch (err) {
      throw err instanceof EngineError ? err : wrap(`update limits of container ${id}`, err);
    }
  }

  /**
   * The engine sets a root disk size only when it makes the container `id` (its full id;
   * `created`: the size it was made with); on btrfs the limit is changed where the driver set it, every time, since
   * the engine's record keeps the first size.
   */
  protected async resizeRootDisk(id: string, gb: number, created: string | undefined): Promise<void> {
    const { storageDriver, dataRoot } = await this.info();
    if (storageDriver !== 'btrfs') {
      if (created === `${gb}G`) return;
      throw new EngineError(`the root disk of container ${id} cannot change in place on the ${storageDriver} storage driver`);
    }
    try {
      await setBtrfsRootLimit(dataRoot, id, gb * 2 ** 30, this.rootSubvolume);
    } catch (err) {
      throw new EngineError(`root disk of container ${id} to ${gb} GB: ${(err as Error).message}`);
    }
  }

  /** The disk the engine's data root is on, which its containers' I/O throttles name. */
  protected disk(): Promise<string> {
    this.dataRootDisk ??= this.info().then((i) => diskOf(i.dataRoot)).catch((err: unknown) => {
      this.dataRootDisk = undefined; // asked again next time
      throw new EngineError(`disk I/O limits cannot be enforced: ${(err as Error).message}`);
    });
    return this.dataRootDisk;
  }

  async pauseContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).pause();
    } catch (err) {
      throw wrap(`pause container ${id}`, err);
    }
  }

  async unpauseContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).unpause();
    } catch (err) {
      throw wrap(`unpause container ${id}`, err);
    }
  }

  /** A created container's `files`, into its file system as its root's (parents made as needed). */
  protected async putFiles(id: string, files: ContainerFile[]): Promise<void> {
    const tar = pack();
    for (const f of files) {
      tar.entry({ name: f.path.slice(1), mode: f.mode ?? 0o644 }, f.content);
    }
    tar.finalize();
    try {
      await this.docker.getContainer(id).putArchive(Readable.from(tar as AsyncIterable<Buffer>), { path: '/' });
    } catch (err) {
      throw wrap(`copy files into container ${id}`, err);
    }
  }

  async setNetworkFile(id: string, file: NetworkFile, content: string): Promise<void> {
    const info = await tolerate(`inspect container ${id}`, () => this.docker.getContainer(id).inspect(), () => null);
    const path = file === 'hosts' ? info?.HostsPath : info?.ResolvConfPath;
    if (!path) throw new EngineError(`container ${id} has no ${file} of the engine's to replace`);
    // In place, not by rename: running containers have this very inode bind-mounted. Docker
    // keeps a resolv.conf it did not write itself (its resolv.conf.hash no longer matches).
    await writeFile(path, content, { mode: 0o644 });
  }

  watchStarts(labels: Record<string, string>, watcher: StartWatcher): EngineWatch {
    return watchContainerStarts(dockerOptions(this.endpoint), labels, watcher, this.log);
  }

  async removeContainer(id: string): Promise<void> {
    await tolerate(`remove container ${id}`, () => this.docker.getContainer(id).remove({ force: true, v: true }), () => undefined);
  }

  /** The engine's own inspect; null when there is no such container. */
  protected inspectRaw(idOrName: string): Promise<Docker.ContainerInspectInfo | null | undefined> {
    return tolerate(`inspect container ${idOrName}`, () => this.docker.getContainer(idOrName).inspect(), () => null);
  }

  async inspectContainer(idOrName: string): Promise<ContainerStatus | null> {
    const info = await this.inspectRaw(idOrName);
    if (!info) return null;
    return {
      id: info.Id,
      name: info.Name.replace(/^\//, ''),
      image: info.Image,
      labels: info.Config.Labels ?? {},
      state: info.State.Status as ContainerRunState,
      pid: info.State.Pid ?? 0,
      exitCode: info.State.ExitCode,
      startedAt: date(info.State.StartedAt),
      finishedAt: date(info.State.FinishedAt),
      nanoCpus: nanoCpusOf(info.HostConfig),
      memoryBytes: Number(info.HostConfig.Memory ?? 0),
      pidsLimit: Number(info.HostConfig.PidsLimit ?? 0),
      console: Boolean(info.Config.Tty && info.Config.OpenStdin),
      hostname: info.Config.Hostname,
      env: info.Config.Env ?? [],
      command: ([] as string[]).concat(info.Config.Cmd ?? []),
    };
  }

  async listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    let rows: Docker.ContainerInfo[];
    try {
      rows = await this.docker.listContainers({ all: true, filters: { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) } });
    } catch (err) {
      throw wrap('list containers', err);
    }
    return rows.map((r) => ({
      id: r.Id,
      name: (r.Names[0] ?? '').replace(/^\//, ''),
      image: r.ImageID,
      labels: r.Labels ?? {},
      state: this.listedState(r.State),
      exitCode: exitCodeOf(r.Status),
    }));
  }

  /** A listing's state as inspect names it (dockerd's are the same). */
  protected listedState(state: string): ContainerRunState {
    return state as ContainerRunState;
  }

  /**
   * The attach's detach keys. The engine holds back the first key of the sequence until the
   * next one shows it is not the sequence: with Docker's default, Ctrl-P Ctrl-Q, a shell's
   * Ctrl-P (previous command) did nothing until the next key. dockerd cannot be told to have
   * none (an empty value is its default), so a sequence of a key little typed: Ctrl-^ three
   * times (held back in the same way, and three of them end the attach, not the workload).
   */
  protected readonly consoleDetachKeys: string = encodeURIComponent('ctrl-^,ctrl-^,ctrl-^');

  async attachConsole(id: string): Promise<Duplex> {
    const c = await this.inspectRaw(id);
    if (!c) throw new EngineError(`attach to container ${id}: no such container`, 404);
    if (!c.Config.Tty || !c.Config.OpenStdin) throw new EngineError(`attach to container ${id}: it was made without a console (a TTY and an open stdin)`, 409);
    if (!c.State.Running) throw new EngineError(`attach to container ${id}: it is not running`, 409);
    // The upgraded connection itself, asked for with no body: dockerode's attach sends its
    // options as a JSON body, which the engine takes as the first bytes typed into the console.
    const modem = this.docker.modem as { socketPath?: string; host?: string; port?: string | number; timeout?: number };
    return new Promise((resolve, reject) => {
      const req = request({
        ...(modem.socketPath ? { socketPath: modem.socketPath } : { host: modem.host, port: modem.port }),
        path: `/containers/${c.Id}/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys=${this.consoleDetachKeys}`, method: 'POST', headers: { Connection: 'Upgrade', Upgrade: 'tcp' },
      });
      // the engine's timeout for the answer; none on the console itself, which may be idle for long
      req.setTimeout(modem.timeout ?? 60_000, () => req.destroy(new EngineError(`attach to container ${id}: no answer from the engine`)));
      req.on('upgrade', (_res, socket, head) => {
        socket.setTimeout(0);
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
      });
      req.on('response', (res) => {
        res.resume();
        reject(new EngineError(`attach to container ${id}: the engine answered ${res.statusCode ?? 0} instead of switching protocols`, res.statusCode));
      });
      req.on('error', (err) => reject(wrap(`attach to container ${id}`, err)));
      req.end();
    });
  }

  async containerLogs(id: string, tailLines?: number): Promise<string> {
    let raw: Buffer;
    try {
      raw = await this.docker.getContainer(id).logs({ stdout: true, stderr: true, follow: false, ...(tailLines !== undefined ? { tail: tailLines } : {}) }) as unknown as Buffer;
    } catch (err) {
      throw wrap(`logs of container ${id}`, err);
    }
    return demuxLogs(raw);
  }

  async commitContainer(id: string, repo: string, tag: string, labels: Record<string, string> = {}): Promise<string> {
    return this.mountingRootDisk(id, async () => {
      try {
        const r = await this.docker.getContainer(id).commit({ repo, tag, pause: true, changes: Object.entries(labels).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`) }) as { Id: string };
        return this.imageId(r.Id);
      } catch (err) {
        throw wrap(`commit container ${id}`, err);
      }
    });
  }

  /** Tags (`repo:tag`) as the engine reports them, in the form they were given. */
  protected tagNames(tags: string[]): string[] {
    return tags;
  }

  /** An image id as the engine reports it, as `sha256:<hex>`. */
  protected imageId(id: string): string {
    return id;
  }

  async inspectImage(ref: string): Promise<ImageInfo | null> {
    const i = await tolerate(`inspect image ${ref}`, () => this.docker.getImage(ref).inspect(), () => null);
    if (!i) return null;
    return {
      id: i.Id,
      tags: this.tagNames(i.RepoTags ?? []),
      layers: i.RootFS?.Layers ?? [],
      labels: i.Config?.Labels ?? {},
      command: ([] as string[]).concat(i.Config?.Cmd ?? []),
      entrypoint: ([] as string[]).concat(i.Config?.Entrypoint ?? []),
      sizeBytes: i.Size,
    };
  }

  async listImageTags(repo: string): Promise<string[]> {
    try {
      const rows = await this.docker.listImages({ filters: { reference: [`${repo}:*`] } });
      return this.tagNames(rows.flatMap((r) => r.RepoTags ?? [])).filter((t) => t.startsWith(`${repo}:`));
    } catch (err) {
      throw wrap(`list images of ${repo}`, err);
    }
  }

  async importImage(rootfs: Readable, repo: string, tag: string, entrypoint: string[]): Promise<void> {
    try {
      const stream = await this.docker.importImage(rootfs, { repo, tag, changes: [`ENTRYPOINT ${JSON.stringify(entrypoint)}`] });
      const text = await collect(stream);
      const failed = text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { error?: string }).find((m) => m.error);
      if (failed) throw new EngineError(failed.error ?? 'import failed');
    } catch (err) {
      throw err instanceof EngineError ? new EngineError(`import image ${repo}:${tag}: ${err.message}`) : wrap(`import image ${repo}:${tag}`, err);
    }
  }

  async loadImage(archive: Readable): Promise<string[]> {
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.loadImage(archive, { quiet: true });
    } catch (err) {
      throw wrap('load image', err);
    }
    const text = await collect(stream);
    // The engine answers 200 and reports problems inside the JSON stream.
    const loaded: string[] = [];
    for (const line of text.split('\n').filter((l) => l.trim())) {
      const m = JSON.parse(line) as { stream?: string; error?: string; errorDetail?: { message?: string } };
      if (m.error) throw new EngineError(`load image: ${m.errorDetail?.message ?? m.error}`);
      const found = /Loaded image(?: ID)?: (\S+)/.exec(m.stream ?? '');
      if (found) loaded.push(found[1]);
    }
    if (loaded.length === 0) throw new EngineError('load image: the archive held no image');
    return loaded;
  }

  async saveImage(ref: string): Promise<Readable> {
    try {
      const s = await this.docker.getImage(ref).get();
      return s instanceof Readable ? s : Readable.from(s as AsyncIterable<Buffer>);
    } catch (err) {
      throw wrap(`save image ${ref}`, err);
    }
  }

  async tagImage(ref: string, repo: string, tag: string): Promise<void> {
    try {
      await this.docker.getImage(ref).tag({ repo, tag });
    } catch (err) {
      throw wrap(`tag image ${ref}`, err);
    }
  }

  async removeImage(ref: string): Promise<void> {
    await tolerate(`remove image ${ref}`, () => this.docker.getImage(ref).remove({ force: true }), () => undefined);
  }
}

/** CFS's default period: vCPUs become a quota of this many microseconds each. */
const CPU_PERIOD_US = 100_000;

/**
 * A container's limits as the engine's resource fields. CPU is always a CFS period and quota,
 * never NanoCpus: the engine refuses to switch a container between the two on update, and a
 * flavor with quota:cpu_quota needs the period form.
 */
export function resources(l: ContainerLimits, disk: string | undefined): Docker.HostConfig {
  const r: Docker.HostConfig = {};
  if (l.cpuBandwidth) {
    r.CpuPeriod = l.cpuBandwidth.periodUs;
    r.CpuQuota = l.cpuBandwidth.quotaUs;
  } else if (l.vcpus !== undefined) {
    r.CpuPeriod = CPU_PERIOD_US;
    r.CpuQuota = Math.round(l.vcpus * CPU_PERIOD_US);
  }
  if (l.memoryMb !== undefined) r.Memory = r.MemorySwap = l.memoryMb * 1024 * 1024; // no swap beyond it
  if (l.pids !== undefined) r.PidsLimit = l.pids;
  if (l.cpuShares !== undefined) r.CpuShares = l.cpuShares;
  if (l.diskIo && disk) {
    const rate = (v: number | undefined) => (v ? [{ Path: disk, Rate: v }] : []);
    r.BlkioDeviceReadBps = rate(l.diskIo.readBytesSec);
    r.BlkioDeviceWriteBps = rate(l.diskIo.writeBytesSec);
    r.BlkioDeviceReadIOps = rate(l.diskIo.readIopsSec);
    r.BlkioDeviceWriteIOps = rate(l.diskIo.writeIopsSec);
  }
  return r;
}

/** The engine's ThrottleDevice (dockerode's types leave it untyped). */
interface ThrottleDevice { Path: string; Rate: number }

const THROTTLE_FIELDS = ['BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps'] as const;

/** A container's I/O throttles as one comparable text ('' for none). */
function throttles(h: Docker.HostConfig): string {
  return THROTTLE_FIELDS.flatMap((k) => ((h[k] ?? []) as ThrottleDevice[]).map((t) => `${k} ${t.Path} ${t.Rate}`)).join(', ');
}

/** An engine's update cannot change I/O throttles (nor can `runc update`): a change of them is refused, not dropped. */
export function refuseThrottleChange(id: string, current: Docker.HostConfig, wanted: Docker.HostConfig): void {
  const had = throttles(current);
  const asked = throttles(wanted);
  if (had !== asked) {
    throw new EngineError(`update limits of container ${id}: the engine cannot change disk I/O throttles in place (${had || 'none'} now, ${asked || 'none'} asked)`);
  }
}

/** The CPU limit in billionths of a CPU, whichever form it was set in. */
function nanoCpusOf(h: Docker.HostConfig): number {
  if (h.NanoCpus) return Number(h.NanoCpus);
  return h.CpuQuota && h.CpuQuota > 0 && h.CpuPeriod ? Math.round((h.CpuQuota / h.CpuPeriod) * 1e9) : 0;
}

async function collect(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer | string>) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Without a TTY the engine frames log output: 8-byte header (stream, 0, 0, 0, big-endian
 * length) then the payload. Strip the frames, keep the order.
 */
export function demuxLogs(raw: Buffer): string {
  const parts: Buffer[] = [];
  if (raw.length < 8) return raw.toString('utf8'); // shorter than a frame header: a TTY's raw output
  let i = 0;
  while (i + 8 <= raw.length) {
    const kind = raw[i];
    const len = raw.readUInt32BE(i + 4);
    if (kind > 2 || raw[i + 1] !== 0 || raw[i + 2] !== 0 || raw[i + 3] !== 0) return raw.toString('utf8'); // not framed
    parts.push(raw.subarray(i + 8, i + 8 + len));
    i += 8 + len;
  }
  return Buffer.concat(parts).toString('utf8');
}

/** The exit code in a listing's status ("Exited (137) 2 minutes ago"); 0 when it shows none. */
export function exitCodeOf(status: string): number {
  const m = /^Exited \((-?\d+)\)/.exec(status);
  return m ? Number(m[1]) : 0;
}
