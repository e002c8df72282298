/**
 * Test images built offline (no registry is reachable): a busybox rootfs from Debian's
 * busybox-static imported into the local cloud's engine, a second image sharing its layer,
 * their `docker save` archives, an OCI layout made from an archive, and bad archives.
 */
import Docker from 'dockerode';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { extract as tarExtract, pack as tarPack } from 'tar-stream';
import { join } from 'node:path';
import { silentLogger } from '../../../src/common/log.js';
import { DockerEngine, demuxLogs } from '../../../src/runtime/docker-engine.js';
import { DEFAULT_PODMAN_USERNS_REMAP, PodmanEngine } from '../../../src/runtime/podman-engine.js';
import type { ContainerEngine } from '../../../src/runtime/types.js';
import { CLOUD_DIR, COMPUTE_CONF, computeConfValue, iniValue } from '../../helpers/cloud.js';

/** The cloud's engine, as its compute host is configured (dockerd's socket before it ever was). */
export const ENGINE_SOCKET = process.env.NOVA_CONTAINER_TEST_ENGINE
  ?? (existsSync(COMPUTE_CONF) ? iniValue(COMPUTE_CONF, 'container', 'engine_socket') : undefined)
  ?? `unix://${join(CLOUD_DIR, 'docker', 'docker.sock')}`;
export const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'ls', 'cat', 'echo', 'sleep', 'true', 'mkdir', 'rm', 'id', 'uname', 'env'];

/** The engine the cloud's compute host runs its servers on ([container] driver). */
export const ENGINE_DRIVER = process.env.NOVA_CONTAINER_TEST_ENGINE_DRIVER
  ?? (existsSync(COMPUTE_CONF) ? iniValue(COMPUTE_CONF, 'container', 'driver') : undefined) ?? 'docker';

/**
 * The cloud's engine as the compute host drives it ([container] driver), its own files (a
 * podman container's network files and limits) in a directory of the caller's, not the host's.
 */
export function cloudEngine(stateDir: string, timeoutMs: number): ContainerEngine {
  if (ENGINE_DRIVER !== 'podman') return new DockerEngine(ENGINE_SOCKET, timeoutMs, silentLogger());
  const remap = computeConfValue('container', 'podman_userns_remap') ?? DEFAULT_PODMAN_USERNS_REMAP;
  return new PodmanEngine(ENGINE_SOCKET, stateDir, remap, timeoutMs, silentLogger());
}

export function dockerClient(): Docker {
  return new Docker({ socketPath: new URL(ENGINE_SOCKET).pathname });
}

let dataRoot: string | undefined;
/** The engine's data root (user namespace remapping moves it into a `<uid>.<gid>` directory of the configured one). */
export function engineDataRoot(): string {
  dataRoot ??= execFileSync('docker', ['-H', ENGINE_SOCKET, 'info', '--format', '{{.DockerRootDir}}'], { encoding: 'utf8' }).trim();
  return dataRoot;
}

/** The engine's own temp dir, where a load unpacks or keeps its upload: dockerd's under its data root, podman's TMPDIR (devstack/lib/podman.sh). */
export function engineTmpDir(): string {
  return ENGINE_DRIVER === 'podman' ? join(CLOUD_DIR, 'podman', 'tmp') : join(engineDataRoot(), 'tmp');
}

export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
export const sha512 = (b: Buffer | string): string => createHash('sha512').update(b).digest('hex');
export const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');

export async function collect(stream: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks);
}

export interface TarItem { name: string; type?: 'file' | 'directory' | 'symlink'; data?: Buffer; linkname?: string; mode?: number }

export async function makeTar(items: TarItem[]): Promise<Buffer> {
  const pack = tarPack();
  const out = collect(pack as unknown as AsyncIterable<Buffer>);
  for (const it of items) {
    const type = it.type ?? 'file';
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      const header = { name: it.name, type, mode: it.mode ?? (type === 'file' ? 0o644 : 0o755), mtime: new Date(0), ...(it.linkname ? { linkname: it.linkname } : {}) };
      if (type === 'file') pack.entry(header, it.data ?? Buffer.alloc(0), cb);
      else pack.entry(header, cb).end(undefined);
    });
  }
  pack.finalize();
  return out;
}

export async function readTar(buf: Buffer): Promise<TarItem[]> {
  const ex = tarExtract();
  Readable.from([buf]).pipe(ex);
  const out: TarItem[] = [];
  for await (const e of ex) {
    const data = await collect(e as unknown as AsyncIterable<Buffer>);
    const type = e.header.type === 'directory' || e.header.type === 'symlink' ? e.header.type : 'file';
    out.push({ name: e.header.name, type, data, ...(e.header.linkname ? { linkname: e.header.linkname } : {}), mode: e.header.mode });
  }
  return out;
}

/** A rootfs: /bin/busybox from busybox-static plus applet symlinks. */
export async function busyboxRootfs(): Promise<Buffer> {
  if (!existsSync(BUSYBOX)) execFileSync('apt-get', ['install', '-y', 'busybox-static'], { stdio: 'ignore' });
  const items: TarItem[] = ['bin/', 'etc/', 'tmp/', 'proc/', 'sys/', 'dev/', 'root/'].map((name) => ({ name, type: 'directory' as const }));
  items.push({ name: 'bin/busybox', data: readFileSync(BUSYBOX), mode: 0o755 });
  for (const a of APPLETS) items.push({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' });
  items.push({ name: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') });
  return makeTar(items);
}

/** `POST /images/create?fromSrc=-` of a rootfs tar as repo:tag; returns the image id. */
export async function importRootfs(docker: Docker, rootfs: Buffer, repo: string, tag: string, changes = ['CMD ["/bin/sh"]']): Promise<string> {
  // podman's import takes no tag of its own: it is named in the repository (src/runtime/podman-engine.ts)
  const name = ENGINE_DRIVER === 'podman' ? { repo: `${repo}:${tag}` } : { repo, tag };
  const stream = await docker.importImage(Readable.from([rootfs]) as unknown as string, { ...name, changes } as never) as unknown as NodeJS.ReadableStream;
  const text = (await collect(stream as AsyncIterable<Buffer>)).toString();
  const last = text.trim().split('\n').map((l) => JSON.parse(l) as { status?: string; error?: string }).pop();
  if (!last || last.error) throw new Error(`docker import failed: ${text}`);
  const info = await docker.getImage(`${repo}:${tag}`).inspect();
  return info.Id;
}

/** Runs `sh -c script` in a container of `image`, waits for it, commits repo:tag; returns the image id. */
export async function commitChange(docker: Docker, image: string, script: string, repo: string, tag: string): Promise<string> {
  const c = await docker.createContainer({ Image: image, Cmd: ['/bin/sh', '-c', script], HostConfig: { NetworkMode: 'none' } });
  try {
    await c.start();
    const r = await c.wait() as { StatusCode: number };
    if (r.StatusCode !== 0) throw new Error(`${script} exited ${r.StatusCode}`);
    await c.commit({ repo, tag });
    // podman answers a commit with an id without `sha256:`: the image's own inspect says it as an import does
    return (await docker.getImage(`${repo}:${tag}`).inspect()).Id;
  } finally {
    await c.remove({ force: true });
  }
}

export async function saveImage(docker: Docker, ref: string): Promise<Buffer> {
  const s = await docker.getImage(ref).get();
  return collect(s as unknown as AsyncIterable<Buffer>);
}

/** Runs `cmd` in a fresh container of `image` and returns its output. */
export async function runIn(docker: Docker, image: string, cmd: string[]): Promise<string> {
  const c = await docker.createContainer({ Image: image, Cmd: cmd, HostConfig: { NetworkMode: 'none' } });
  try {
    await c.start();
    await c.wait();
    return demuxLogs(await c.logs({ stdout: true, stderr: true }) as unknown as Buffer);
  } finally {
    await c.remove({ force: true });
  }
}

/** An OCI image layout with gzip layers, made from a `docker save` archive (same config). */
export async function ociFromDockerArchive(archive: Buffer): Promise<{ oci: Buffer; configDigest: string }> {
  const entries = await readTar(archive);
  const byName = new Map(entries.map((e) => [e.name, e]));
  const manifest = JSON.parse(byName.get('manifest.json')!.data!.toString()) as Array<{ Config: string; Layers: string[] }>;
  const resolve = (name: string): Buffer => {
    const e = byName.get(name)!;
    if (e.type === 'symlink') return resolve(`${name.split('/').slice(0, -1).join('/')}/${e.linkname}`.replace(/[^/]+\/\.\.\//, ''));
    return e.data!;
  };
  const config = resolve(manifest[0].Config);
  const blobs = new Map<string, Buffer>();
  const put = (b: Buffer): string => { const d = sha256(b); blobs.set(d, b); return d; };
  const configDigest = put(config);
  const layers = manifest[0].Layers.map((l) => {
    const gz = gzipSync(resolve(l));
    return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${put(gz)}`, size: gz.length };
  });
  const m = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configDigest}`, size: config.length }, layers,
  }));
  const md = put(m);
  const items: TarItem[] = [{ name: 'blobs/', type: 'directory' }, { name: 'blobs/sha256/', type: 'directory' }];
  for (const [d, b] of blobs) items.push({ name: `blobs/sha256/${d}`, data: b });
  items.push({ name: 'index.json', data: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${md}`, size: m.length }] })) });
  items.push({ name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') });
  return { oci: await makeTar(items), configDigest: `sha256:${configDigest}` };
}

/** A docker archive with one more entry (e.g. `../evil`), put before manifest.json. */
export async function withEntry(archive: Buffer, extra: TarItem): Promise<Buffer> {
  const entries = await readTar(archive);
  const i = entries.findIndex((e) => e.name === 'manifest.json');
  entries.splice(i, 0, extra);
  return makeTar(entries);
}

export function randomData(n: number): Buffer {
  return randomBytes(n);
}
