/**
 * Streams a container image archive from Glance into the form Docker 20.10's `POST
 * /images/load` takes, checking it on the way. Nothing is written to disk: entries are parsed
 * and re-packed (tar-stream) as they pass, so only small JSON documents are held in memory.
 *
 * Accepted inputs (optionally gzip-compressed as a whole):
 *  - a `docker save` archive (`manifest.json` + config + layer tars; Docker 25+ archives that
 *    also hold an OCI layout are read through their manifest.json);
 *  - an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`), which Docker 20.10
 *    cannot load (README "container engine"): blobs pass through unchanged and a docker
 *    `manifest.json` is written from index.json -> image manifest -> config/layers. Docker's
 *    load decompresses gzip layers itself and checks each layer against the config's
 *    diff_ids; blobs are checked here against their sha256 names.
 *
 * Rejected, with a readable InvalidImageArchive: data that is not tar; absolute entry names,
 * names whose `..` leaves the archive, entries below a symlink, symlinks or hard links that
 * leave the archive, device/fifo entries, duplicate names, no manifest.json/index.json,
 * a manifest naming files the archive lacks, several images in one archive.
 *
 * The re-packed archive never carries RepoTags (so an uploaded image cannot re-tag images of
 * this host) nor the legacy v1 `<id>/json` files, and its manifest.json and end-of-archive
 * blocks are written only after the input ended without error: an upstream verification
 * failure (see verify.ts) destroys the stream instead, the engine's request body is cut
 * (an HTTP-level error, not a clean end of the tar), and it registers nothing.
 */
import { createHash, type Hash } from 'node:crypto';
import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createGunzip, type Gunzip } from 'node:zlib';
import { extract as tarExtract, pack as tarPack, type Extract, type Header, type Pack } from 'tar-stream';
import { GlanceError, ImageVerificationFailed, InvalidImageArchive } from './errors.js';

export interface ImageArchiveSummary {
  format: 'docker-archive' | 'oci-layout';
  /** `sha256:<hex>` of the image config: the id the engine gives the loaded image. */
  imageId: string;
  /** Paths of the layer files inside the rewritten archive, base layer first. */
  layerPaths: string[];
  /** Entries seen in the input archive. */
  entries: number;
  /** Whether the input was gzip-compressed as a whole. */
  gzipped: boolean;
  /** Layers the archive left out because its base image holds them (a delta snapshot). */
  fromBase: number;
}

export interface RewriteOptions {
  /** Glance image id, for error messages. */
  imageId?: string;
  /** Platform to pick from a multi-platform OCI index (default: linux and this host's arch). */
  platform?: { os: string; architecture: string };
  /** Largest JSON document (manifest, index, config) kept in memory. */
  maxDocumentBytes?: number;
  /**
   * For a delta snapshot (delta-archive.ts): its base image, already in the engine. The
   * archive may then lack the blobs of its bottom layers when they are the base's layers, in
   * order; the engine reuses those (Docker's load reads no layer whose chain it has, podman's
   * reuses a layer by its uncompressed digest) and gets an empty file in their place, since
   * podman's load wants every layer file present.
   */
  base?: { glanceImageId: string; layers: string[] };
}

export interface RewrittenArchive {
  /** The docker-archive to give the engine. Errors (instead of ending) if anything is wrong. */
  output: Readable;
  /** Resolves once the whole input was checked and the archive's end written. */
  summary: Promise<ImageArchiveSummary>;
}

const DOCKER_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', ia32: '386', riscv64: 'riscv64' };

const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
};
const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
]);
const UNCOMPRESSED_LAYER_TYPES = new Set(['application/vnd.oci.image.layer.v1.tar', 'application/vnd.docker.image.rootfs.diff.tar']);
/** Names at the archive root that describe the archive; read, never passed to the engine. */
const DOCUMENTS = new Set(['manifest.json', 'repositories', 'index.json', 'oci-layout']);
/** Per-layer v1 metadata of docker save archives. */
const LEGACY_V1_FILE = /^[0-9a-f]{64}\/(json|VERSION)$/;
/** Files kept in memory in case the manifest names them as config/manifest blobs. */
const KEEP_TOTAL_BYTES = 64 * 1024 * 1024;

/**
 * An entry name as a clean relative path ('' for the archive root itself). Throws on absolute
 * names, NUL bytes and `..` that leaves the archive.
 */
export function checkEntryPath(name: string): string {
  if (!name) throw new InvalidImageArchive('an entry has an empty name');
  if (name.includes('\0')) throw new InvalidImageArchive(`entry name ${JSON.stringify(name)} contains a NUL byte`);
  if (name.startsWith('/')) throw new InvalidImageArchive(`entry ${JSON.stringify(name)} has an absolute path`);
  const norm = posix.normalize(name).replace(/\/+$/, '');
  if (norm === '..' || norm.startsWith('../')) {
    throw new InvalidImageArchive(`entry ${JSON.stringify(name)} has a path that leaves the archive ('..')`);
  }
  return norm === '.' ? '' : norm.replace(/^\.\//, '');
}

/**
 * Where a link entry points, as a clean path inside the archive. Symlinks resolve against the
 * entry's directory, hard links against the archive root (tar semantics).
 */
export function checkLinkTarget(entryPath: string, type: 'symlink' | 'link', target: string): string {
  if (!target) throw new InvalidImageArchive(`${type} ${JSON.stringify(entryPath)} has an empty target`);
  if (target.startsWith('/')) {
    throw new InvalidImageArchive(`${type === 'symlink' ? 'symlink' : 'hard link'} ${JSON.stringify(entryPath)} points outside the archive (absolute target ${JSON.stringify(target)})`);
  }
  const joined = type === 'symlink' ? posix.join(posix.dirname(entryPath), target) : posix.normalize(target);
  const norm = joined.replace(/\/+$/, '');
  if (norm === '..' || norm.startsWith('../')) {
    throw new InvalidImageArchive(`${type === 'symlink' ? 'symlink' : 'hard link'} ${JSON.stringify(entryPath)} points outside the archive (${JSON.stringify(target)})`);
  }
  return norm === '.' ? '' : norm;
}

function hostPlatform(): { os: string; architecture: string } {
  return { os: 'linux', architecture: DOCKER_ARCH[process.arch] ?? process.arch };
}

function isOurs(err: unknown): boolean {
  return err instanceof InvalidImageArchive || err instanceof ImageVerificationFailed || err instanceof GlanceError;
}

/** Errors from the tar parser say what tar-stream saw; say what it means. */
function asArchiveError(err: unknown, imageId: string | undefined): Error {
  if (err instanceof InvalidImageArchive && !err.imageId && imageId) return new InvalidImageArchive(err.reason, imageId);
  if (isOurs(err)) return err as Error;
  const msg = err instanceof Error ? err.message : String(err);
  if (/invalid tar header|unexpected end of data/i.test(msg)) return new InvalidImageArchive(`not a (complete) tar archive: ${msg}`, imageId);
  if (/premature close|destroyed/i.test(msg)) return new InvalidImageArchive(`the archive stream was cut off: ${msg}`, imageId);
  return err instanceof Error ? err : new Error(msg);
}

/** Resolves on 'drain', or when the writable is gone (its own error path reports the problem). */
function drained(w: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      w.removeListener('drain', done);
      w.removeListener('close', done);
      w.removeListener('error', done);
      resolve();
    };
    w.once('drain', done);
    w.once('close', done);
    w.once('error', done);
  });
}

/** The first chunk of `input` without consuming it (empty at end of stream). */
function peek(input: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      input.removeListener('readable', onReadable);
      input.removeListener('end', onEnd);
      input.removeListener('error', onError);
      input.removeListener('close', onClose);
    };
    const onReadable = (): void => {
      const chunk = input.read() as Buffer | null;
      if (chunk === null) return;
      cleanup();
      input.unshift(chunk);
      resolve(chunk);
    };
    const onEnd = (): void => { cleanup(); resolve(Buffer.alloc(0)); };
    const onError = (err: Error): void => { cleanup(); reject(err); };
    const onClose = (): void => { cleanup(); reject(input.errored ?? new InvalidImageArchive('the archive stream closed before any data')); };
    input.on('readable', onReadable);
    input.once('end', onEnd);
    input.once('error', onError);
    input.once('close', onClose);
    if (input.readableEnded) onEnd();
  });
}

/** An entry as the extract stream yields it. */
type TarEntry = Extract extends AsyncIterable<infer S> ? S : never;

/** A file that passed: sha256 of its bytes and, for a gzip file, of what it decompresses to. */
interface FileRecord { digest: string; size: number; uncompressed?: string }

interface DockerManifestItem { Config: string; RepoTags?: string[] | null; Layers: string[]; LayerSources?: Record<string, unknown> }

interface Descriptor { mediaType?: string; digest?: string; size?: number; platform?: { os?: string; architecture?: string } }

class Rewriter {
  private readonly files = new Map<string, FileRecord>();
  private readonly symlinks = new Map<string, string>();
  private readonly hardlinks = new Map<string, string>();
  private readonly dirs = new Set<string>();
  private readonly documents = new Map<string, Buffer>();
  private readonly kept = new Map<string, Buffer>();
  private keptBytes = 0;
  private entries = 0;
  /** Layer files the base image stands in for: written empty, before manifest.json. */
  private readonly placeholders: string[] = [];
  private readonly maxDoc: number;

  constructor(private readonly opts: RewriteOptions) {
    this.maxDoc = opts.maxDocumentBytes ?? 4 * 1024 * 1024;
  }

  private invalid(reason: string): InvalidImageArchive {
    return new InvalidImageArchive(reason, this.opts.imageId);
  }

  async run(input: Readable, output: PassThrough): Promise<ImageArchiveSummary> {
    const pack = tarPack();
    pack.pipe(output);
    let src: Readable | undefined;
    const extract = tarExtract();
    // Failures are reported once, through `output` and the returned promise.
    const ignore = (): void => undefined;
    pack.on('error', ignore);
    extract.on('error', ignore);
    try {
      const head = await peek(input);
      const gzipped = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
      if (gzipped) {
        const gunzip = createGunzip();
        gunzip.on('error', ignore);
        input.on('error', (e) => gunzip.destroy(e));
        src = input.pipe(gunzip);
      } else {
        src = input;
      }
      const from = src;
      from.on('error', (e) => extract.destroy(e));
      from.pipe(extract);
      for await (const entry of extract) await this.entry(entry, pack);
      const { manifest, summary } = this.finish(gzipped);
      for (const name of this.placeholders) await this.write(pack, { name, type: 'file', mode: 0o644, mtime: new Date(0) }, Buffer.alloc(0));
      await this.write(pack, { name: 'manifest.json', type: 'file', mode: 0o644, mtime: new Date(0) }, Buffer.from(JSON.stringify(manifest)));
      pack.finalize();
      return summary;
    } catch (err) {
      const e = asArchiveError(err, this.opts.imageId);
      output.destroy(e);
      pack.destroy(e);
      extract.destroy();
      src?.destroy();
      input.destroy();
      throw e;
    }
  }

  private write(pack: Pack, header: Partial<Header> & { name: string }, data?: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (data) pack.entry(header, data, cb);
      else pack.entry(header, cb).end(undefined);
    });
  }

  private underSymlink(path: string): string | undefined {
    for (let p = posix.dirname(path); p !== '.' && p !== '/' && p !== ''; p = posix.dirname(p)) {
      if (this.symlinks.has(p)) return p;
    }
    return undefined;
  }

  private async entry(entry: TarEntry, pack: Pack): Promise<void> {
    // A failure upstream (e.g. the hash check at the very end) destroys the entry in flight;
    // it reaches run() through the extract's iterator, so the entry itself must not throw it.
    entry.on('error', () => undefined);
    const h = entry.header;
    this.entries++;
    const path = checkEntryPath(h.name);
    const link = this.underSymlink(path);
    if (link !== undefined) throw this.invalid(`entry ${JSON.stringify(h.name)} lies below symlink ${JSON.stringify(link)}`);
    if (path !== '' && (this.files.has(path) || this.symlinks.has(path) || this.hardlinks.has(path) || this.documents.has(path)
      || (this.dirs.has(path) && h.type !== 'directory'))) {
      throw this.invalid(`entry ${JSON.stringify(h.name)} appears twice`);
    }
    const base = { name: path, mode: (h.mode ?? 0o644) & 0o777, mtime: h.mtime ?? new Date(0), uid: 0, gid: 0 };

    switch (h.type) {
      case 'directory':
        entry.resume();
        if (path === '' || this.dirs.has(path)) return;
        this.dirs.add(path);
        await this.write(pack, { ...base, type: 'directory' });
        return;
      case 'symlink': {
        entry.resume();
        const target = checkLinkTarget(path, 'symlink', h.linkname ?? '');
        this.symlinks.set(path, target);
        await this.write(pack, { ...base, type: 'symlink', linkname: h.linkname ?? '' });
        return;
      }
      case 'link': {
        entry.resume();
        const target = checkLinkTarget(path, 'link', h.linkname ?? '');
        const rec = this.files.get(target);
        if (!rec) throw this.invalid(`hard link ${JSON.stringify(h.name)} points to ${JSON.stringify(h.linkname)}, which is not a file before it in the archive`);
        this.hardlinks.set(path, target);
        await this.write(pack, { ...base, type: 'link', linkname: target });
        return;
      }
      case 'file':
      case 'contiguous-file':
        break;
      default:
        throw this.invalid(`entry ${JSON.stringify(h.name)} is a ${h.type ?? 'entry of unknown type'}; an image archive holds only files, directories and links`);
    }

    const size = h.size ?? 0;
    if (LEGACY_V1_FILE.test(path)) {
      // `<v1 id>/json` and `<v1 id>/VERSION` of docker save: unused by a manifest.json load and
      // left out so that a cut-off archive (no manifest.json) cannot be legacy-loaded either.
      entry.resume();
      return;
    }
    if (DOCUMENTS.has(path)) {
      if (size > this.maxDoc) throw this.invalid(`${path} is ${size} bytes, more than the ${this.maxDoc} bytes allowed`);
      const chunks: Buffer[] = [];
      for await (const c of entry as unknown as AsyncIterable<Buffer>) chunks.push(c);
      this.documents.set(path, Buffer.concat(chunks));
      return;
    }

    // Any other file passes through, hashed (blobs are named by digest, configs give the image
    // id) and, when it may be a JSON document, kept.
    const hash: Hash = createHash('sha256');
    let keep: Buffer[] | null = size <= this.maxDoc ? [] : null;
    let first = true;
    // a gzip layer is also hashed decompressed: its diff id is checked against what it holds
    const unzip: { stream: Gunzip | null } = { stream: null };
    const unzipped: Hash = createHash('sha256');
    await new Promise<void>((resolve, reject) => {
      const sink = pack.entry({ ...base, type: 'file', size }, (err) => (err ? reject(err) : resolve()));
      sink.on('error', () => undefined); // reported through reject() below; destroying it must not throw
      (async () => {
        for await (const c of entry as unknown as AsyncIterable<Buffer>) {
          if (first && c.length > 0) {
            first = false;
            if (c[0] !== 0x7b /* { */) keep = null;
            if (c.length >= 2 && c[0] === 0x1f && c[1] === 0x8b) {
              const gunzip = createGunzip();
              gunzip.on('data', (d: Buffer) => unzipped.update(d));
              gunzip.on('error', () => undefined); // not gzip after all: no decompressed digest
              unzip.stream = gunzip;
            }
          }
          hash.update(c);
          keep?.push(c);
          const gz = unzip.stream;
          if (gz && !gz.destroyed && !gz.write(c)) await drained(gz);
          if (!sink.write(c)) await drained(sink);
        }
        sink.end(undefined);
      })().catch((err: unknown) => {
        sink.destroy(err as Error);
        reject(err);
      });
    });
    let uncompressed: string | undefined;
    const gz = unzip.stream;
    if (gz) {
      gz.end();
      uncompressed = await finished(gz).then(() => unzipped.digest('hex'), () => undefined);
    }
    this.files.set(path, { digest: hash.digest('hex'), size, ...(uncompressed ? { uncompressed } : {}) });
    if (keep) {
      const buf = Buffer.concat(keep);
      this.keptBytes += buf.length;
      if (this.keptBytes > KEEP_TOTAL_BYTES) throw this.invalid(`more than ${KEEP_TOTAL_BYTES} bytes of small JSON-like files`);
      this.kept.set(path, buf);
    }
  }

  /** The file a path names, following symlinks inside the archive. */
  private resolveFile(ref: string, what: string): { path: string; rec: FileRecord } {
    let path = checkEntryPath(ref);
    for (let hops = 0; hops < 16; hops++) {
      const rec = this.files.get(path);
      if (rec) return { path, rec };
      const hard = this.hardlinks.get(path);
      if (hard !== undefined) { path = hard; continue; }
      const sym = this.symlinks.get(path);
      if (sym !== undefined) { path = sym; continue; }
      throw this.invalid(`${what} ${JSON.stringify(ref)} is not in the archive`);
    }
    throw this.invalid(`${what} ${JSON.stringify(ref)}: too many levels of symlinks`);
  }

  private json<T>(path: string, what: string): T {
    const buf = this.documents.get(path) ?? this.kept.get(path);
    if (!buf) throw this.invalid(`${what} ${path} is missing or larger than ${this.maxDoc} bytes`);
    try {
      return JSON.parse(buf.toString('utf8')) as T;
    } catch (err) {
      throw this.invalid(`${what} ${path} is not valid JSON: ${(err as Error).message}`);
    }
  }

  /**
   * The config against the layers: as many, each layer file the tar of the diff id the config
   * names for it (as is, or gunzipped), and the base's layers where the base stands in
   * (`layers[i]` null). An engine reads no layer whose chain it already has: without this, an
   * archive could name layers of someone else's image cached here and get them.
   */
  private checkConfig(configPath: string, layers: Array<FileRecord | null>, fromBase = 0): void {
    const layerCount = layers.length;
    const config = this.json<{ os?: unknown; rootfs?: { diff_ids?: unknown } }>(configPath, 'image config');
    if (!config || typeof config !== 'object') throw this.invalid(`image config ${configPath} is not a JSON object`);
    if (config.os !== undefined && config.os !== 'linux') throw this.invalid(`the image is for os ${String(config.os)}, not linux`);
    const diffIds = config.rootfs?.diff_ids;
    if (!Array.isArray(diffIds)) throw this.invalid(`image config ${configPath} has no rootfs.diff_ids`);
    if (diffIds.length !== layerCount) {
      throw this.invalid(`the image config lists ${diffIds.length} layers but the manifest ${layerCount}`);
    }
    const base = this.opts.base;
    for (let i = 0; i < fromBase && base; i++) {
      if (diffIds[i] !== base.layers[i]) throw this.invalid(`the image config's layer ${i} is not layer ${i} of its base image ${base.glanceImageId}`);
    }
    layers.forEach((rec, i) => {
      if (!rec) return;
      const want = String(diffIds[i]);
      if (`sha256:${rec.digest}` !== want && (!rec.uncompressed || `sha256:${rec.uncompressed}` !== want)) {
        throw this.invalid(`layer ${i} is not the tar of ${want}, the diff id the image config names for it`);
      }
    });
  }

  private finish(gzipped: boolean): { manifest: DockerManifestItem[]; summary: ImageArchiveSummary } {
    if (this.documents.has('manifest.json')) return this.finishDocker(gzipped);
    if (this.documents.has('index.json')) return this.finishOci(gzipped);
    throw this.invalid(this.entries === 0
      ? 'the archive is empty'
      : 'the archive holds neither manifest.json (docker save) nor index.json (OCI image layout): it is a tar, but not a container image');
  }

  private finishDocker(gzipped: boolean): { manifest: DockerManifestItem[]; summary: ImageArchiveSummary } {
    const raw = this.json<unknown>('manifest.json', 'manifest');
    if (!Array.isArray(raw) || raw.length === 0) throw this.invalid('manifest.json lists no image');
    if (raw.length > 1) throw this.invalid(`manifest.json lists ${raw.length} images; a Glance image must hold exactly one`);
    const item = raw[0] as Partial<DockerManifestItem>;
    if (typeof item.Config !== 'string' || !Array.isArray(item.Layers) || !item.Layers.every((l) => typeof l === 'string')) {
      throw this.invalid('manifest.json lacks Config or Layers');
    }
    const config = this.resolveFile(item.Config, 'image config');
    const records = item.Layers.map((l) => this.resolveFile(l, 'layer').rec);
    const layerPaths = item.Layers.map((l) => checkEntryPath(l));
    this.checkConfig(config.path, records);
    const manifest: DockerManifestItem[] = [{
      Config: checkEntryPath(item.Config), RepoTags: null, Layers: layerPaths,
      ...(item.LayerSources && typeof item.LayerSources === 'object' ? { LayerSources: item.LayerSources } : {}),
    }];
    return { manifest, summary: { format: 'docker-archive', imageId: `sha256:${config.rec.digest}`, layerPaths, entries: this.entries, gzipped, fromBase: 0 } };
  }

  /** `blobs/<alg>/<hex>` for a descriptor, checked against the digest computed as it passed. */
  private blob(desc: Descriptor, what: string): { path: string; rec: FileRecord } {
    const m = /^sha256:([0-9a-f]{64})$/.exec(desc.digest ?? '');
    if (!m) throw this.invalid(`${what} has digest ${JSON.stringify(desc.digest)}; only sha256 digests are supported`);
    const path = `blobs/sha256/${m[1]}`;
    const found = this.resolveFile(path, what);
    if (found.rec.digest !== m[1]) throw this.invalid(`blob ${path} does not match its digest (content hashes to sha256:${found.rec.digest})`);
    if (typeof desc.size === 'number' && desc.size !== found.rec.size) throw this.invalid(`blob ${path} is ${found.rec.size} bytes, its descriptor says ${desc.size}`);
    return found;
  }

  /** Whether the archive holds the blob of a descriptor (present under its digest name). */
  private has(desc: Descriptor): boolean {
    const m = /^sha256:([0-9a-f]{64})$/.exec(desc.digest ?? '');
    return !!m && (this.files.has(`blobs/sha256/${m[1]}`) || this.symlinks.has(`blobs/sha256/${m[1]}`) || this.hardlinks.has(`blobs/sha256/${m[1]}`));
  }

  /**
   * With a base image: the image's bottom layers must be the base's, as uncompressed tars
   * (their digests are then the diff ids the engine knows them by). Returns how many.
   */
  private checkBase(layers: Descriptor[]): number {
    const base = this.opts.base;
    if (!base) return 0;
    if (layers.length <= base.layers.length) {
      throw this.invalid(`it has ${layers.length} layers, not more than its base image ${base.glanceImageId} (${base.layers.length})`);
    }
    base.layers.forEach((diffId, i) => {
      const l = layers[i];
      if (l.digest !== diffId) throw this.invalid(`its layer ${i} (${String(l.digest)}) is not layer ${i} of its base image ${base.glanceImageId} (${diffId})`);
      if (l.mediaType && !UNCOMPRESSED_LAYER_TYPES.has(l.mediaType)) throw this.invalid(`its layer ${i}, from its base image, has media type ${l.mediaType}, not an uncompressed tar`);
    });
    return base.layers.length;
  }

  private pickManifest(descs: unknown, depth: number): Descriptor[] {
    if (!Array.isArray(descs)) throw this.invalid('index.json has no manifests list');
    const want = this.opts.platform ?? hostPlatform();
    const out: Descriptor[] = [];
    for (const d of descs as Descriptor[]) {
      if (!d || typeof d !== 'object') continue;
      const p = d.platform;
      if (p && (p.os !== want.os || p.architecture !== want.architecture)) continue;
      if (d.mediaType === MEDIA.ociManifest || d.mediaType === MEDIA.dockerManifest) out.push(d);
      else if ((d.mediaType === MEDIA.ociIndex || d.mediaType === MEDIA.dockerList) && depth < 3) {
        const nested = this.json<{ manifests?: unknown }>(this.blob(d, 'nested index').path, 'nested index');
        out.push(...this.pickManifest(nested.manifests, depth + 1));
      }
    }
    return out;
  }

  private finishOci(gzipped: boolean): { manifest: DockerManifestItem[]; summary: ImageArchiveSummary } {
    if (this.documents.has('oci-layout')) {
      const layout = this.json<{ imageLayoutVersion?: unknown }>('oci-layout', 'oci-layout');
      if (typeof layout.imageLayoutVersion !== 'string' || !layout.imageLayoutVersion.startsWith('1.')) {
        throw this.invalid(`unsupported OCI layout version ${JSON.stringify(layout.imageLayoutVersion)}`);
      }
    }
    const index = this.json<{ manifests?: unknown }>('index.json', 'index');
    const picked = this.pickManifest(index.manifests, 0);
    if (picked.length === 0) throw this.invalid(`index.json lists no image manifest for ${(this.opts.platform ?? hostPlatform()).architecture}`);
    if (picked.length > 1) throw this.invalid(`index.json lists ${picked.length} image manifests for this platform; a Glance image must hold exactly one`);
    const manifestBlob = this.blob(picked[0], 'image manifest');
    const m = this.json<{ config?: Descriptor; layers?: Descriptor[] }>(manifestBlob.path, 'image manifest');
    if (!m.config || !Array.isArray(m.layers)) throw this.invalid('the image manifest lacks config or layers');
    const config = this.blob(m.config, 'image config');
    const fromBase = this.checkBase(m.layers);
    const records: Array<FileRecord | null> = [];
    const layerPaths = m.layers.map((l, i) => {
      if (l.mediaType && !LAYER_TYPES.has(l.mediaType)) {
        throw this.invalid(`layer ${i} has media type ${l.mediaType}; Docker 20.10 loads only ${[...LAYER_TYPES].join(', ')}`);
      }
      if (i < fromBase && !this.has(l)) {
        const path = `blobs/sha256/${(l.digest ?? '').slice('sha256:'.length)}`;
        if (!this.placeholders.includes(path)) this.placeholders.push(path);
        records.push(null);
        return path;
      }
      const found = this.blob(l, `layer ${i}`);
      records.push(found.rec);
      return found.path;
    });
    this.checkConfig(config.path, records, fromBase);
    return {
      manifest: [{ Config: config.path, RepoTags: null, Layers: layerPaths }],
      summary: { format: 'oci-layout', imageId: `sha256:${config.rec.digest}`, layerPaths, entries: this.entries, gzipped, fromBase },
    };
  }
}

/** Starts rewriting `input`; read `output` (e.g. give it to the engine's load) to make progress. */
export function rewriteImageArchive(input: Readable, options: RewriteOptions = {}): RewrittenArchive {
  const output = new PassThrough();
  const summary = new Rewriter(options).run(input, output);
  summary.catch(() => undefined); // reported through output and to whoever awaits summary
  return { output, summary };
}
