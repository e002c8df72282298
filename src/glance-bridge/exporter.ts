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
 */
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream';
import type { Logger } from '../common/log.js';
import type { ContainerEngine } from '../runtime/types.js';
import { SnapshotUploadFailed, messageOf, type SnapshotStage } from './errors.js';
import { GlanceClient, type GlanceClientOptions, type GlanceImage, type PatchOp } from './glance-client.js';
import type { GlanceTokenSource } from './token-source.js';
import { DigestingStream } from './verify.js';

export const SNAPSHOT_PROPERTIES = {
  parent: 'nova_container_parent_image',
  imageId: 'nova_container_image_id',
  layerCount: 'nova_container_layer_count',
  layersDigest: 'nova_container_layers_sha256',
  topLayer: 'nova_container_top_layer',
} as const;

export interface SnapshotProps {
  /** Glance id of the image the instance was booted from. */
  parentImageId?: string;
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
}

export interface ExportStats {
  uploads: number;
  uploadedBytes: number;
  failures: number;
}

export type SnapshotTarget = Pick<GlanceClient, 'getImage' | 'patch' | 'upload'>;

export interface ExporterOptions {
  /**
   * Tag the uploaded engine image `<cacheRepo>:<snapshot image id>` so that booting from the
   * snapshot on this host downloads nothing (ImageImporter's cache; default `glance-image`,
   * null to skip).
   */
  cacheRepo?: string | null;
  glance?: GlanceClientOptions;
  clientFor?: (source: GlanceTokenSource) => SnapshotTarget;
  log?: Logger;
}

/** Glance refuses property values longer than this. */
const MAX_PROPERTY = 255;
const RESERVED = new Set(['id', 'status', 'checksum', 'size', 'virtual_size', 'os_hash_algo', 'os_hash_value', 'created_at',
  'updated_at', 'direct_url', 'self', 'file', 'schema', 'location', 'locations', 'deleted', 'deleted_at', 'disk_format', 'container_format']);

export function snapshotProperties(engineImageId: string, layers: string[], props: SnapshotProps): Record<string, string> {
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
  for (const [k, v] of Object.entries(out)) {
    if (v.length > MAX_PROPERTY) throw new Error(`property ${k} is ${v.length} characters; Glance allows ${MAX_PROPERTY}`);
  }
  return out;
}

export class SnapshotExporter {
  private readonly counters: ExportStats = { uploads: 0, uploadedBytes: 0, failures: 0 };

  constructor(private readonly engine: ContainerEngine, private readonly options: ExporterOptions = {}) {}

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
    try {
      const info = await this.engine.inspectImage(ref);
      if (!info) throw new Error(`no image ${ref} in the container engine`);

      stage = 'prepare';
      const properties = snapshotProperties(info.id, info.layers, props);
      const current = await client.getImage(glanceImageId);
      if (current.status !== 'queued') throw new Error(`the Glance image is ${current.status}; only a queued image can take data`);
      const wanted: Record<string, string> = { disk_format: 'raw', container_format: 'docker', ...properties };
      const ops: PatchOp[] = Object.entries(wanted)
        .filter(([k, v]) => current[k] !== v)
        .map(([k, v]) => ({ op: k in current ? 'replace' : 'add', path: `/${k}`, value: v }));
      if (ops.length) await client.patch(glanceImageId, ops);

      stage = 'save';
      const saved = await this.engine.saveImage(info.id); // by id: the archive names no host-local tags
      digesting = new DigestingStream();
      pipeline(saved, digesting, () => { /* errors reach the upload through digesting */ });

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
      const cacheRepo = this.options.cacheRepo === undefined ? 'glance-image' : this.options.cacheRepo;
      if (cacheRepo) {
        try {
          await this.engine.tagImage(info.id, cacheRepo, glanceImageId);
        } catch (err) {
          log?.warn({ glanceImageId, err: messageOf(err) }, 'could not tag the snapshot as cached; it will be downloaded when booted here');
        }
      }
      const uploadMs = Date.now() - started;
      log?.info({ glanceImageId, engineImageId: info.id, bytes: sent.bytes, ms: uploadMs }, 'uploaded snapshot to Glance');
      return {
        glanceImageId, engineImageId: info.id, layers: info.layers, size: sent.bytes,
        checksum: sent.md5, sha512: sent.sha512, image, uploadMs,
      };
    } catch (err) {
      this.counters.failures++;
      if (digesting) {
        this.counters.uploadedBytes += digesting.bytes;
        digesting.destroy();
      }
      log?.warn({ glanceImageId, stage, err: messageOf(err) }, 'snapshot upload failed');
      throw new SnapshotUploadFailed(glanceImageId, stage, err);
    }
  }
}
