/**
 * Small tar archives built in memory (tar-stream), and an in-memory ContainerEngine whose
 * image load behaves like Docker's: it reads the whole archive, fails on a truncated or
 * invalid one, and registers nothing then.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { extract as tarExtract, pack as tarPack } from 'tar-stream';
import type { ContainerEngine, ContainerStatus, ImageInfo } from '../../../src/runtime/types.js';

export interface TestEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  data?: Buffer | string;
  linkname?: string;
}

export async function makeTar(entries: TestEntry[]): Promise<Buffer> {
  const pack = tarPack();
  const out = collect(pack as unknown as AsyncIterable<Buffer>);
  for (const e of entries) {
    const type = e.type ?? 'file';
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry({ name: e.name, type, mode: 0o644, mtime: new Date(0) }, Buffer.from(e.data ?? ''), cb);
      else {
        pack.entry({ name: e.name, type, mode: 0o755, mtime: new Date(0), ...(e.linkname !== undefined ? { linkname: e.linkname } : {}) }, cb).end(undefined);
      }
    });
  }
  pack.finalize();
  return out;
}

export async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

export interface ReadEntry { name: string; type: string; data: Buffer; linkname?: string }

export async function readTar(buf: Buffer | Readable): Promise<ReadEntry[]> {
  const ex = tarExtract();
  const src = Buffer.isBuffer(buf) ? Readable.from([buf]) : buf;
  src.on('error', (e) => ex.destroy(e));
  src.pipe(ex);
  const out: ReadEntry[] = [];
  for await (const entry of ex) {
    const data = await collect(entry as unknown as AsyncIterable<Buffer>);
    out.push({ name: entry.header.name, type: entry.header.type, data, ...(entry.header.linkname ? { linkname: entry.header.linkname } : {}) });
  }
  return out;
}

export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
export const sha512 = (b: Buffer | string): string => createHash('sha512').update(b).digest('hex');
export const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');

export interface SyntheticImage {
  archive: Buffer;
  configDigest: string;
  diffIds: string[];
}

/** A one-file layer tar. */
export async function layerTar(file: string, content: string): Promise<Buffer> {
  return makeTar([{ name: file, data: content }]);
}

function configFor(diffIds: string[], label: string): Buffer {
  return Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'], Labels: { test: label } },
    rootfs: { type: 'layers', diff_ids: diffIds }, history: diffIds.map(() => ({ created_by: 'test' })),
  }));
}

/** A `docker save`-style archive: <v1>/layer.tar, <config>.json, manifest.json, repositories. */
export async function dockerArchive(layers: Buffer[], opts: {
  label?: string; repoTags?: string[]; symlinkLast?: boolean; extra?: TestEntry[];
  /** podman's form: layers in `<diff id hex>.tar`, `<v1>/layer.tar` a symlink to it; `replace` swaps a layer's data */
  digestNames?: boolean; replace?: Map<number, Buffer>;
} = {}): Promise<SyntheticImage> {
  const diffIds = layers.map((l) => `sha256:${sha256(l)}`);
  const config = configFor(diffIds, opts.label ?? 'x');
  const configDigest = sha256(config);
  const entries: TestEntry[] = [];
  const layerPaths: string[] = [];
  layers.forEach((l, i) => {
    const v1 = sha256(`v1-${i}-${diffIds[i]}`);
    entries.push({ name: `${v1}/`, type: 'directory' }, { name: `${v1}/VERSION`, data: '1.0' }, { name: `${v1}/json`, data: '{}' });
    if (opts.digestNames) {
      const file = `${diffIds[i].slice(7)}.tar`;
      entries.push({ name: file, data: opts.replace?.get(i) ?? l }, { name: `${v1}/layer.tar`, type: 'symlink', linkname: `../${file}` });
      layerPaths.push(file);
      return;
    }
    if (opts.symlinkLast && i === layers.length - 1 && i > 0) {
      entries.push({ name: `${v1}/layer.tar`, type: 'symlink', linkname: `../${layerPaths[0].split('/')[0]}/layer.tar` });
    } else {
      entries.push({ name: `${v1}/layer.tar`, data: l });
    }
    layerPaths.push(`${v1}/layer.tar`);
  });
  entries.push({ name: `${configDigest}.json`, data: config });
  entries.push(...(opts.extra ?? []));
  entries.push({ name: 'manifest.json', data: JSON.stringify([{ Config: `${configDigest}.json`, RepoTags: opts.repoTags ?? ['busybox:latest'], Layers: layerPaths }]) });
  entries.push({ name: 'repositories', data: '{"busybox":{"latest":"x"}}' });
  return { archive: await makeTar(entries), configDigest: `sha256:${configDigest}`, diffIds };
}

/** An OCI image layout archive (as skopeo/buildkit write it), layers gzip-compressed. */
export async function ociArchive(layers: Buffer[], opts: { label?: string; nestedIndex?: boolean; corruptBlob?: boolean } = {}): Promise<SyntheticImage & { blobs: Map<string, Buffer> }> {
  const blobs = new Map<string, Buffer>();
  const put = (b: Buffer): string => {
    const d = sha256(b);
    blobs.set(d, b);
    return d;
  };
  const diffIds = layers.map((l) => `sha256:${sha256(l)}`);
  const layerDescs = layers.map((l) => {
    const gz = gzipSync(l);
    return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${put(gz)}`, size: gz.length };
  });
  const config = configFor(diffIds, opts.label ?? 'oci');
  const configDigest = put(config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configDigest}`, size: config.length },
    layers: layerDescs,
  }));
  const manifestDigest = put(manifest);
  let top = [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${manifestDigest}`, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }];
  if (opts.nestedIndex) {
    const armManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: `sha256:${'0'.repeat(64)}` }, layers: [] }));
    const armDigest = put(armManifest);
    const nested = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${armDigest}`, size: armManifest.length, platform: { os: 'linux', architecture: 'arm64' } },
        { ...top[0], platform: { os: 'linux', architecture: 'amd64' } },
      ],
    }));
    const nestedDigest = put(nested);
    top = [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${nestedDigest}`, size: nested.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }];
  }
  const entries: TestEntry[] = [{ name: 'blobs/', type: 'directory' }, { name: 'blobs/sha256/', type: 'directory' }];
  for (const [d, b] of blobs) {
    const data = opts.corruptBlob && d === layerDescs[0].digest.slice(7) ? Buffer.concat([b.subarray(0, b.length - 1), Buffer.from([b[b.length - 1] ^ 1])]) : b;
    entries.push({ name: `blobs/sha256/${d}`, data });
  }
  entries.push({ name: 'index.json', data: JSON.stringify({ schemaVersion: 2, manifests: top }) });
  entries.push({ name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' });
  return { archive: await makeTar(entries), configDigest: `sha256:${configDigest}`, diffIds, blobs };
}

/** Chunks of `size` bytes, pushed with a tick between them, like a network body. */
export function chunked(buf: Buffer, size = 4096): Readable {
  let i = 0;
  return new Readable({
    read() {
      if (i >= buf.length) { this.push(null); return; }
      const c = buf.subarray(i, i + size);
      i += size;
      setImmediate(() => this.push(c));
    },
  });
}

interface FakeImage { id: string; tags: Set<string>; layers: string[] }

/**
 * Enough of ContainerEngine for the importer: loadImage parses the whole archive (like
 * Docker's untar before registering) and registers the image only when the tar was complete.
 */
export class FakeEngine {
  images = new Map<string, FakeImage>();
  containers: ContainerStatus[] = [];
  loads = 0;
  inspects = 0;
  loadDelayMs = 0;
  failLoad: Error | null = null;

  async loadImage(archive: Readable): Promise<string[]> {
    this.loads++;
    if (this.failLoad) {
      archive.resume();
      throw this.failLoad;
    }
    const entries = await readTar(archive); // throws on a truncated/errored stream
    if (this.loadDelayMs) await new Promise((r) => setTimeout(r, this.loadDelayMs));
    const manifest = JSON.parse(entries.find((e) => e.name === 'manifest.json')!.data.toString()) as Array<{ Config: string; Layers: string[] }>;
    const config = entries.find((e) => e.name === manifest[0].Config)!.data;
    const id = `sha256:${sha256(config)}`;
    const diffIds = (JSON.parse(config.toString()) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
    // As the engines do: a layer whose chain an image here already has is not read; any other
    // must be in the archive as the tar of its diff id.
    manifest[0].Layers.forEach((path, i) => {
      const data = entries.find((e) => e.name === path)?.data;
      if (!data) throw new Error(`layer file ${path} is missing`);
      const tar = data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data;
      if (`sha256:${sha256(tar)}` === diffIds[i]) return;
      const chain = diffIds.slice(0, i + 1);
      if (![...this.images.values()].some((im) => chain.every((d, j) => im.layers[j] === d))) {
        throw new Error(`layer ${i}: ${path} is not the tar of ${diffIds[i]} and no image here has that chain`);
      }
    });
    const img = this.images.get(id) ?? { id, tags: new Set<string>(), layers: diffIds };
    this.images.set(id, img);
    return [id];
  }

  private find(ref: string): FakeImage | undefined {
    for (const i of this.images.values()) if (i.id === ref || i.tags.has(ref)) return i;
    return undefined;
  }

  async inspectImage(ref: string): Promise<ImageInfo | null> {
    this.inspects++;
    const i = this.find(ref);
    return i ? { id: i.id, tags: [...i.tags], layers: i.layers, labels: {}, command: [], entrypoint: [], sizeBytes: 0 } : null;
  }

  async tagImage(ref: string, repo: string, tag: string): Promise<void> {
    const i = this.find(ref);
    if (!i) throw new Error(`no image ${ref}`);
    for (const o of this.images.values()) o.tags.delete(`${repo}:${tag}`);
    i.tags.add(`${repo}:${tag}`);
  }

  async removeImage(ref: string): Promise<void> {
    const i = this.find(ref);
    if (!i) return;
    if (i.tags.has(ref)) {
      i.tags.delete(ref);
      if (i.tags.size > 0) return;
    }
    this.images.delete(i.id);
  }

  async listContainers(): Promise<ContainerStatus[]> { return this.containers; }
  async saveImage(): Promise<Readable> { throw new Error('not in the fake'); }
  async info(): Promise<never> { throw new Error('not in the fake'); }
  async createContainer(): Promise<string> { throw new Error('not in the fake'); }
  async startContainer(): Promise<void> { throw new Error('not in the fake'); }
  async stopContainer(): Promise<void> { throw new Error('not in the fake'); }
  async pauseContainer(): Promise<void> { throw new Error('not in the fake'); }
  async unpauseContainer(): Promise<void> { throw new Error('not in the fake'); }
  async removeContainer(): Promise<void> { throw new Error('not in the fake'); }
  async inspectContainer(): Promise<null> { return null; }
  async containerLogs(): Promise<string> { return ''; }
  async commitContainer(): Promise<string> { throw new Error('not in the fake'); }

  /** The fake as the interface (methods it lacks throw when called). */
  asEngine(): ContainerEngine {
    return this as unknown as ContainerEngine;
  }
}
