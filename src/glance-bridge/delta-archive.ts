/**
 * A delta snapshot's Glance data: the engine's `docker save` archive of the snapshot, cut down
 * to the layers its base image does not hold, as an OCI image layout (README "Delta
 * snapshots"):
 *
 *   oci-layout, index.json                 (one image manifest)
 *   blobs/sha256/<manifest>                (config + every layer, base layers included,
 *                                           annotated with the base's Glance id)
 *   blobs/sha256/<config>                  (the engine's image config, unchanged: same image id)
 *   blobs/sha256/<diff id>                 (only the layers above the base: uncompressed tars)
 *
 * The OCI image-layout specification lets a layout lack referenced blobs ("the missing blobs
 * SHOULD be fulfilled by an external blob store"): here, the base Glance image.
 *
 * The save is read once (a second time only when the delta cannot be made and the whole image
 * is uploaded). A layer the archive names by its digest (podman's `<hex>.tar`, an OCI layout's
 * `blobs/sha256/<hex>`) that the base holds is skipped unread; any other layer is hashed into a
 * spool file, because Docker 20.10 names layers `<v1 id>/layer.tar` and only the hash tells
 * which one it is; a base layer's file is removed once hashed. The rest are removed by
 * `dispose()`. Only small JSON documents are kept in memory.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { finished, pipeline } from 'node:stream/promises';
import { PassThrough, type Readable } from 'node:stream';
import { extract as tarExtract, pack as tarPack, type Pack } from 'tar-stream';

/** Glance properties of a delta snapshot: the base image whose layers its data leaves out, and how many deltas stand on one another down to a whole image. */
export const BASE_IMAGE_PROPERTY = 'nova_container_base_image';
export const DELTA_DEPTH_PROPERTY = 'nova_container_delta_depth';

export const DELTA_ANNOTATIONS = {
  baseImage: 'org.openstack.nova-container.base-image',
  baseLayers: 'org.openstack.nova-container.base-layers',
} as const;

const OCI_MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
};

/** Files of the save kept in memory when they may be JSON (manifest.json, the config). */
const MAX_DOCUMENT = 4 * 1024 * 1024;
/** A name that carries its content's digest. */
const DIGEST_NAME = /(?:^|\/)([0-9a-f]{64})(?:\.tar)?$/;

export interface DeltaBase {
  /** Glance id of the base image. */
  glanceImageId: string;
  /** Its layers (diff ids), bottom first: a strict prefix of the snapshot's. */
  layers: string[];
}

export interface DeltaArchive {
  /** The archive to upload; read it once. */
  stream(): Readable;
  /** Layers (diff ids) the archive carries. */
  carried: string[];
  /** Removes the spool files (after the upload, whatever its outcome). */
  dispose(): Promise<void>;
}

/** The save cannot be cut into a delta (the caller uploads the whole image instead). */
export class DeltaNotPossible extends Error {
  constructor(reason: string) {
    super(`no delta snapshot: ${reason}`);
    this.name = 'DeltaNotPossible';
  }
}

/** A file of the save: its digest (from its name when it was skipped unread), size and data. */
interface SavedFile { digest: string; size: number; data?: Buffer; spool?: string }

/**
 * Reads the engine's save of the snapshot (whose layers are `layers`, config digest `imageId`)
 * and returns the delta to upload over `base`. Throws DeltaNotPossible when the save does not
 * look as expected (a layer that does not hash to its diff id, a layer count that differs).
 */
export async function buildDeltaArchive(saved: Readable, imageId: string, layers: string[], base: DeltaBase,
  spoolDir: string): Promise<DeltaArchive> {
  if (base.layers.length >= layers.length || base.layers.some((l, i) => l !== layers[i])) {
    throw new DeltaNotPossible('the base image\'s layers are not a prefix of the snapshot\'s');
  }
  await mkdir(spoolDir, { recursive: true });
  const dir = await mkdtemp(join(spoolDir, 'delta-'));
  const dispose = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    // a base layer that is also above the base (the same empty layer of commits that changed
    // nothing) is carried: the importer takes the layers above the base from the delta only
    const above = new Set(layers.slice(base.layers.length).map(hexOf));
    const files = await readSave(saved, new Set(base.layers.map(hexOf).filter((d) => !above.has(d))), dir);
    const archive = assemble(files, imageId, layers, base);
    return { ...archive, dispose };
  } catch (err) {
    saved.destroy();
    await dispose();
    throw err;
  }
}

function hexOf(digest: string): string {
  return digest.replace(/^sha256:/, '');
}

/** Files of the save by path (symlinks resolved), base layers named by digest left out. */
async function readSave(saved: Readable, skip: Set<string>, dir: string): Promise<Map<string, SavedFile>> {
  const files = new Map<string, SavedFile>();
  const links = new Map<string, string>();
  const extract = tarExtract();
  saved.on('error', (e) => extract.destroy(e));
  saved.pipe(extract);
  let spooled = 0;
  for await (const entry of extract) {
    const h = entry.header;
    const name = posix.normalize(h.name).replace(/^\.\//, '');
    if (h.type === 'symlink' || h.type === 'link') {
      links.set(name, h.type === 'symlink' ? posix.join(posix.dirname(name), h.linkname ?? '') : posix.normalize(h.linkname ?? ''));
      entry.resume();
      continue;
    }
    if (h.type !== 'file' && h.type !== 'contiguous-file') {
      entry.resume();
      continue;
    }
    const named = DIGEST_NAME.exec(name)?.[1];
    const size = h.size ?? 0;
    if (named && skip.has(named)) {
      files.set(name, { digest: named, size });
      entry.resume();
      continue;
    }
    // small JSON documents (manifest.json, the config) in memory, anything else to a spool file
    const hash = createHash('sha256');
    let chunks: Buffer[] | null = null;
    let spool: string | undefined;
    let sink: WriteStream | undefined;
    for await (const c of entry as AsyncIterable<Buffer>) {
      if (!chunks && !sink) {
        if (size <= MAX_DOCUMENT && (c[0] === 0x7b /* { */ || c[0] === 0x5b /* [ */)) chunks = [];
        else {
          sink = createWriteStream(spool = join(dir, String(spooled++)));
          sink.on('error', () => undefined); // reported by finished() below
        }
      }
      hash.update(c);
      if (chunks) chunks.push(c);
      else if (sink && !sink.write(c)) await once(sink, 'drain');
    }
    if (sink) {
      sink.end();
      await finished(sink);
    }
    const digest = hash.digest('hex');
    if (skip.has(digest)) {
      // a base layer under a name that does not tell (Docker's <v1 id>/layer.tar): not uploaded
      if (spool) await rm(spool, { force: true });
      files.set(name, { digest, size });
    } else {
      files.set(name, { digest, size, ...(spool ? { spool } : { data: Buffer.concat(chunks ?? []) }) });
    }
  }
  for (const [name, target] of links) {
    const file = files.get(target);
    if (file) files.set(name, file);
  }
  return files;
}

function jsonOf<T>(file: SavedFile | undefined, what: string): T {
  if (!file?.data) throw new DeltaNotPossible(`the engine's save has no ${what}`);
  try {
    return JSON.parse(file.data.toString('utf8')) as T;
  } catch {
    throw new DeltaNotPossible(`the engine's save has an unreadable ${what}`);
  }
}

function assemble(files: Map<string, SavedFile>, imageId: string, layers: string[], base: DeltaBase): Omit<DeltaArchive, 'dispose'> {
  const manifest = jsonOf<Array<{ Config?: string; Layers?: string[] }>>(files.get('manifest.json'), 'manifest.json');
  const item = Array.isArray(manifest) && manifest.length === 1 ? manifest[0] : undefined;
  if (!item?.Config || !Array.isArray(item.Layers)) throw new DeltaNotPossible('the engine\'s save does not hold exactly one image');
  if (item.Layers.length !== layers.length) {
    throw new DeltaNotPossible(`the engine's save lists ${item.Layers.length} layers, the image ${layers.length}`);
  }
  const config = files.get(posix.normalize(item.Config));
  if (!config?.data || `sha256:${config.digest}` !== imageId) throw new DeltaNotPossible(`the engine's save has no config of image ${imageId}`);

  const carried: Array<{ digest: string; file: SavedFile }> = [];
  const descriptors = layers.map((diffId, i) => {
    if (i < base.layers.length) return { mediaType: OCI_MEDIA.layer, digest: diffId, size: sizeOf(files, item.Layers?.[i], diffId) };
    const file = files.get(posix.normalize(item.Layers?.[i] ?? ''));
    if (!file || `sha256:${file.digest}` !== diffId) {
      throw new DeltaNotPossible(`layer ${i} of the engine's save is not the uncompressed tar of ${diffId}`);
    }
    // once in the layout, however many times the manifest names it
    if (!carried.some((c) => c.digest === file.digest)) carried.push({ digest: file.digest, file });
    return { mediaType: OCI_MEDIA.layer, digest: diffId, size: file.size };
  });
  const annotations = { [DELTA_ANNOTATIONS.baseImage]: base.glanceImageId, [DELTA_ANNOTATIONS.baseLayers]: String(base.layers.length) };
  const manifestDoc = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MEDIA.manifest,
    config: { mediaType: OCI_MEDIA.config, digest: imageId, size: config.size },
    layers: descriptors, annotations,
  }));
  const manifestDigest = createHash('sha256').update(manifestDoc).digest('hex');
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MEDIA.index,
    manifests: [{ mediaType: OCI_MEDIA.manifest, digest: `sha256:${manifestDigest}`, size: manifestDoc.length, annotations }],
  }));
  const configData = config.data;

  const stream = (): Readable => {
    const pack = tarPack();
    const out = new PassThrough();
    pack.on('error', (err) => out.destroy(err));
    // a reader gone early (the upload failed) stops the writer and the spool file it reads
    out.on('close', () => { if (!out.readableEnded) pack.destroy(); });
    pack.pipe(out);
    (async () => {
      await add(pack, 'oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
      await add(pack, 'blobs', null);
      await add(pack, 'blobs/sha256', null);
      for (const { digest, file } of carried) await addFile(pack, `blobs/sha256/${digest}`, file);
      await add(pack, `blobs/sha256/${hexOf(imageId)}`, configData);
      await add(pack, `blobs/sha256/${manifestDigest}`, manifestDoc);
      await add(pack, 'index.json', index);
      pack.finalize();
    })().catch((err: unknown) => pack.destroy(err as Error));
    return out;
  };
  return { stream, carried: carried.map((c) => `sha256:${c.digest}`) };
}

/** A base layer's size as the save holds it: its descriptor's size. */
function sizeOf(files: Map<string, SavedFile>, path: string | undefined, diffId: string): number {
  const file = path ? files.get(posix.normalize(path)) : undefined;
  if (!file || `sha256:${file.digest}` !== diffId) throw new DeltaNotPossible(`the engine's save has no uncompressed tar of base layer ${diffId}`);
  return file.size;
}

function add(pack: Pack, name: string, data: Buffer | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const header = { name, mode: data ? 0o644 : 0o755, mtime: new Date(0), type: data ? 'file' as const : 'directory' as const };
    const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (data) pack.entry(header, data, cb);
    else pack.entry(header, cb).end(undefined);
  });
}

async function addFile(pack: Pack, name: string, file: SavedFile): Promise<void> {
  if (file.data) return add(pack, name, file.data);
  if (!file.spool) throw new Error(`no data for ${name}`);
  const spool = file.spool;
  await new Promise<void>((resolve, reject) => {
    const sink = pack.entry({ name, mode: 0o644, mtime: new Date(0), type: 'file', size: file.size }, (err) => (err ? reject(err) : resolve()));
    pipeline(createReadStream(spool), sink).catch(reject);
  });
}
