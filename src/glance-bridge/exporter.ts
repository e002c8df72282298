/**
 * Engine image -> the queued Glance image nova-api created for a snapshot (glance.md §4.2,
 * §5): GET (must be queued), PATCH disk_format=raw, container_format=docker and our
 * properties, PUT the `docker save` stream as the image data, GET to confirm `active` and that
 * Glance recorded the digests of what we sent. The caller commits the container first and, on
 * failure, deletes the Glance image (Nova's delete_image_on_error); errors here say which step
 * failed.
 *
 * Properties written (values are strings of at most 255 characters):
 *  - nova_container_parent_image: Glance id of the image the instance was built from;
 *  - nova_container_image_id: the engine image id (sha256 of the image config), which the
 *    image keeps when it is loaded anywhere else;
 *  - nova_container_layer_count and nova_container_layers_sha256 (sha256 of the layer diff ids
 *    joined by newlines): the layer chain, compactly;
 *  - nova_container_top_layer: the last layer's diff id (the snapshot's own changes).
 *
 * A delta snapshot (delta-archive.ts) is uploaded when the instance's image is still active in
 * Glance, cached here, and its layers are the bottom of the snapshot's, and the chain of deltas
 * below would not grow past `deltaDepth`. It also gets
 *  - nova_container_base_image: that image's Glance id (the importer fetches it first);
 *  - nova_container_delta_depth: 1 over a whole image, n+1 over a delta of depth n.
 * Nova copies an instance's image properties to its snapshots, so a whole upload removes
 * these two when the queued image inherited them.
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { pipeline, type Readable } from 'node:stream';
import type { Logger } from '../common/log.js';
import type { ContainerEngine } from '../runtime/types.js';
import {
  BASE_IMAGE_PROPERTY, buildDeltaArchive, DELTA_DEPTH_PROPERTY, DeltaNotPossible, type DeltaArchive, type DeltaBase,
} from './delta-archive.js';
import { ImageNotFound, SnapshotUploadFailed, messageOf, type SnapshotStage } from './errors.js';
import { GlanceClient, type GlanceClientOptions, type GlanceImage, type PatchOp } from './glance-client.js';
import type { GlanceTokenSource } from './token-source.js';
import { DigestingStream } from './verify.js';

export const SNAPSHOT_PROPERTIES = {
  parent: 'nova_container_parent_image',
  imageId: 'nova_container_image_id',
  layerCount: 'nova_container_layer_count',
  layersDigest: 'nova_container_layers_sha256',
  topLayer: 'nova_container_top_layer',
  baseImage: BASE_IMAGE_PROPERTY,
  deltaDepth: DELTA_DEPTH_PROPERTY,
} as const;

export interface SnapshotProps {
  /** Glance id of the image the instance was booted from. */
  parentImageId?: string;
  /** Upload the whole image even where a delta over the parent could be made. */
  whole?: boolean;
  /** More properties to set (e.g. libvirt's image_location/image_state); strings, <= 255 chars. */
  properties?: Record<string, string>;
}

export interface SnapshotResult {
  glanceImageId: string;
  /** The engine image that was uploaded. */
  engineImageId: string;
  layers: string[];
  /** Bytes uploaded (Glance's `size`). */
  size: number;
  /** MD5 (Glance `checksum`) and sha512 of the uploaded data. */
  checksum: string;
  sha512: string;
  /** Glance's record after the upload. */
  image: GlanceImage;
  uploadMs: number;
  /** For a delta snapshot: its base image and the layers the upload carried. */
  delta?: { baseImageId: string; depth: number; carried: string[] };
}

export interface ExportStats {
  uploads: number;
  uploadedBytes: number;
  failures: number;
}

export type SnapshotTarget = Pick<GlanceClient, 'getImage' | 'patch' | 'upload'>;

export interface ExporterOptions {
  /**
   * The repository of ImageImporter's cache tags (default `glance-image`): where a delta's base
   * is looked up, and where the uploaded engine image is tagged `<cacheRepo>:<snapshot image
   * id>` so that booting from the snapshot on this host downloads nothing.
   */
  cacheRepo?: string;
  glance?: GlanceClientOptions;
  clientFor?: (source: GlanceTokenSource) => SnapshotTarget;
  /** How many delta snapshots may stand on one another before one is uploaded whole; 0: every snapshot whole. */
  deltaDepth?: number;
  /** Where a delta's layers wait between the engine's save and the upload (default the OS's temporary directory). */
  spoolDir?: string;
  log?: Logger;
}

interface ChosenBase extends DeltaBase { depth: number }

/** Glance refuses property values longer than this. */
const MAX_PROPERTY = 255;
const RESERVED = new Set(['id', 'status', 'checksum', 'size', 'virtual_size', 'os_hash_algo', 'os_hash_value', 'created_at',
  'updated_at', 'direct_url', 'self', 'file', 'schema', 'location', 'locations', 'deleted', 'deleted_at', 'disk_format', 'container_format']);

export function snapshotProperties(engineImageId: string, layers: string[], props: SnapshotProps, base?: ChosenBase): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(props.properties ?? {})) {
    if (typeof v !== 'string') throw new Error(`property ${k} must be a string`);
    if (RESERVED.has(k) || k.startsWith('os_glance')) throw new Error(`property ${k} is reserved by Glance`);
    out[k] = v;
  }
  if (props.parentImageId) out[SNAPSHOT_PROPERTIES.parent] = props.parentImageId;
  out[SNAPSHOT_PROPERTIES.imageId] = engineImageId;
  out[SNAPSHOT_PROPERTIES.layerCount] = String(layers.length);
  out[SNAPSHOT_PROPERTIES.layersDigest] = createHash('sha256').update(layers.join('\n')).digest('hex');
  if (layers.length) out[SNAPSHOT_PROPERTIES.topLayer] = layers[layers.length - 1];
  if (base) {
    out[SNAPSHOT_PROPERTIES.baseImage] = base.glanceImageId;
    out[SNAPSHOT_PROPERTIES.deltaDepth] = String(base.depth);
  }
  for (const [k, v] of Object.entries(out)) {
    if (v.length > MAX_PROPERTY) throw new Error(`property ${k} is ${v.length} characters; Glance allows ${MAX_PROPERTY}`);
  }
  return out;
}

export class SnapshotExporter {
  private readonly counters: ExportStats = { uploads: 0, uploadedBytes: 0, failures: 0 };

  private readonly cacheRepo: string;

  constructor(private readonly engine: ContainerEngine, private readonly options: ExporterOptions = {}) {
    this.cacheRepo = options.cacheRepo ?? 'glance-image';
  }

  stats(): ExportStats {
    return { ...this.counters };
  }

  /**
   * Uploads engine image `ref` (id or repo:tag, e.g. what commitContainer returned) into the
   * queued Glance image `glanceImageId`. Throws SnapshotUploadFailed (stage and cause; an
   * ImageNotFound cause means the user deleted the image meanwhile, see findImageNotFound).
   */
  async export(source: GlanceTokenSource, ref: string, glanceImageId: string, props: SnapshotProps = {}): Promise<SnapshotResult> {
    const log = this.options.log;
    const client = this.options.clientFor?.(source)
      ?? new GlanceClient(source, { ...this.options.glance, ...(log ? { log } : {}) });
    let stage: SnapshotStage = 'inspect';
    const started = Date.now();
    let digesting: DigestingStream | undefined;
    let delta: DeltaArchive | undefined;
    try {
      const info = await this.engine.inspectImage(ref);
      if (!info) throw new Error(`no image ${ref} in the container engine`);

      stage = 'prepare';
      const current = await client.getImage(glanceImageId);
      if (current.status !== 'queued') throw new Error(`the Glance image is ${current.status}; only a queued image can take data`);
      let base = props.whole ? null : await this.deltaBase(client, info.layers, props.parentImageId, glanceImageId);

      stage = 'save';
      // by id: the archive names no host-local tags
      if (base) {
        try {
          delta = await buildDeltaArchive(await this.engine.saveImage(info.id), info.id, info.layers, base, this.options.spoolDir ?? tmpdir());
        } catch (err) {
          if (!(err instanceof DeltaNotPossible)) throw err;
          log?.warn({ glanceImageId, err: err.message }, 'uploading the whole image');
          base = null;
        }
      }
      stage = 'prepare';
      const properties = snapshotProperties(info.id, info.layers, props, base ?? undefined);
      const wanted: Record<string, string> = { disk_format: 'raw', container_format: 'docker', ...properties };
      const ops: PatchOp[] = Object.entries(wanted)
        .filter(([k, v]) => current[k] !== v)
        .map(([k, v]) => ({ op: k in current ? 'replace' : 'add', path: `/${k}`, value: v }));
      for (const k of [SNAPSHOT_PROPERTIES.baseImage, SNAPSHOT_PROPERTIES.deltaDepth]) {
        if (k in current && !(k in wanted)) ops.push({ op: 'remove', path: `/${k}` });
      }
      if (ops.length) await client.patch(glanceImageId, ops);

      // the data opened only now: a failure above leaves no save or tar writer waiting on a reader
      stage = 'save';
      const data: Readable = delta ? delta.stream() : await this.engine.saveImage(info.id);
      digesting = new DigestingStream();
      pipeline(data, digesting, () => { /* errors reach the upload through digesting */ });
      stage = 'upload';
      await client.upload(glanceImageId, digesting);
      const sent = digesting.result;
      if (!sent) throw new Error('the image data stream ended early');

      stage = 'confirm';
      const image = await client.getImage(glanceImageId);
      if (image.status !== 'active') throw new Error(`Glance shows the image ${image.status} after the upload, not active`);
      if (image.checksum && image.checksum !== sent.md5) throw new Error(`Glance recorded checksum ${image.checksum}, we sent ${sent.md5}`);
      if (image.os_hash_algo === 'sha512' && image.os_hash_value && image.os_hash_value !== sent.sha512) {
        throw new Error(`Glance recorded sha512 ${image.os_hash_value}, we sent ${sent.sha512}`);
      }
      if (typeof image.size === 'number' && image.size !== sent.bytes) throw new Error(`Glance recorded ${image.size} bytes, we sent ${sent.bytes}`);

      this.counters.uploads++;
      this.counters.uploadedBytes += sent.bytes;
      try {
        await this.engine.tagImage(info.id, this.cacheRepo, glanceImageId);
      } catch (err) {
        log?.warn({ glanceImageId, err: messageOf(err) }, 'could not tag the snapshot as cached; it will be downloaded when booted here');
      }
      const uploadMs = Date.now() - started;
      log?.info({
        glanceImageId, engineImageId: info.id, bytes: sent.bytes, ms: uploadMs,
        ...(base && delta ? { baseImage: base.glanceImageId, depth: base.depth, layersCarried: delta.carried.length } : {}),
      }, 'uploaded snapshot to Glance');
      return {
        glanceImageId, engineImageId: info.id, layers: info.layers, size: sent.bytes,
        checksum: sent.md5, sha512: sent.sha512, image, uploadMs,
        ...(base && delta ? { delta: { baseImageId: base.glanceImageId, depth: base.depth, carried: delta.carried } } : {}),
      };
    } catch (err) {
      this.counters.failures++;
      if (digesting) {
        this.counters.uploadedBytes += digesting.bytes;
        digesting.destroy();
      }
      log?.warn({ glanceImageId, stage, err: messageOf(err) }, 'snapshot upload failed');
      throw new SnapshotUploadFailed(glanceImageId, stage, err);
    } finally {
      await delta?.dispose();
    }
  }

  /**
   * The image a delta snapshot can stand on, or null for a whole upload: the instance's image,
   * active in Glance, cached here with layers at the bottom of the snapshot's, and not already
   * at the top of a chain of `deltaDepth` deltas.
   */
  private async deltaBase(client: SnapshotTarget, layers: string[], parentId: string | undefined, glanceImageId: string): Promise<ChosenBase | null> {
    const max = this.options.deltaDepth ?? 0;
    if (max <= 0 || !parentId) return null;
    const whole = (reason: string): null => {
      this.options.log?.info({ glanceImageId, parentImage: parentId, reason }, 'uploading the whole image');
      return null;
    };
    const cached = await this.engine.inspectImage(`${this.cacheRepo}:${parentId}`);
    if (!cached) return whole('the instance\'s image is not cached on this host');
    if (cached.layers.length > layers.length || cached.layers.some((l, i) => l !== layers[i])) return whole('the snapshot does not stand on the instance\'s image (rebuilt?)');
    if (cached.layers.length === layers.length) return whole('the snapshot adds no layer to the instance\'s image');
    let parent: GlanceImage;
    try {
      parent = await client.getImage(parentId);
    } catch (err) {
      if (err instanceof ImageNotFound) return whole('Glance has no image of the instance any more');
      throw err;
    }
    if (parent.status !== 'active') return whole(`the instance's image is ${parent.status} in Glance`);
    // the depth below: 0 over a whole image; a base property with no sound depth (edited?) counts as too deep
    const below = parent[SNAPSHOT_PROPERTIES.baseImage] === undefined ? 0 : Number(parent[SNAPSHOT_PROPERTIES.deltaDepth]);
    if (!Number.isInteger(below) || below < 0) return whole('the instance\'s image names a base but no sound delta depth');
    const depth = below + 1;
    if (depth > max) return whole(`${depth - 1} delta snapshots already stand on one another (at most ${max})`);
    return { glanceImageId: parentId, layers: cached.layers, depth };
  }
}
