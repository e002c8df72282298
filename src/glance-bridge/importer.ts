/**
 * Glance image -> container engine image, for build_and_run_instance.
 *
 * The download is streamed from Glance through verification (verify.ts: size, os_hash_value,
 * md5) and archive checking/rewriting (archive.ts) straight into the engine's image load: no
 * temporary copy. The archive's end is released only once everything checked out, so a bad
 * image never registers. The loaded image is tagged `<repo>:<glance image id>`; that tag is
 * the cache: a later ensureImage for the same id downloads nothing, concurrent calls for one
 * id share a single download, and layers shared with images already in the engine are stored
 * once (docker's load reuses a layer whose chain id it already has). An image this importer
 * loaded or found is known present until it releases it: a later ensureImage asks the engine
 * nothing, which takes an engine round trip off every build's path. An image removed behind
 * its back (by hand, by another compute host's cache on the same engine) is found when a
 * create fails without it: ensureImage with `recheck` looks again and downloads it.
 *
 * A delta snapshot (delta-archive.ts; its Glance property nova_container_base_image names its
 * base) needs its base in the engine first: the base is ensured the same way (from the cache,
 * or from Glance, itself perhaps a delta), then the delta's archive may leave out the base's
 * layers. The base is looked up in Glance with the caller's token every time, also when it is
 * cached or being downloaded for someone else: an image the caller cannot see is no base of
 * theirs. A failed import removes what it loaded of its own image; a base it downloaded is a
 * verified image like any other, left to the image cache's ageing (another build may have
 * been given it meanwhile).
 */
import { pipeline } from 'node:stream';
import type { Logger } from '../common/log.js';
import type { ContainerEngine } from '../runtime/types.js';
import { rewriteImageArchive, type ImageArchiveSummary } from './archive.js';
import {
  BaseImageMissing, ImageImportFailed, ImageNotFound, ImageNotUsable, ImageVerificationFailed, messageOf, type ImportStage,
} from './errors.js';
import { BASE_IMAGE_PROPERTY } from './delta-archive.js';
import { GlanceClient, type GlanceClientOptions, type GlanceImage, type GlanceImageBase, type ImageDownload } from './glance-client.js';
import { KeyedSerializer } from './keyed-serializer.js';
import type { GlanceTokenSource } from './token-source.js';
import { hasDigest, VerifyingStream, type ExpectedDigests } from './verify.js';

/**
 * The image dict Nova passes to build_and_run_instance (glance.md §3): Glance's record, with
 * the extra properties nested under `properties` and a status that may be absent.
 */
export interface GlanceImageMeta extends GlanceImageBase {
  status?: string | null;
  properties?: Record<string, unknown>;
}

export interface EnsuredImage {
  /** `<repo>:<glance image id>`: give this to ContainerSpec.image. */
  ref: string;
  /** The engine's image id (`sha256:...`). */
  imageId: string;
  /** Layer digests (diff ids), base first. */
  layers: string[];
  /** True only for the call that downloaded the image. */
  downloaded: boolean;
  /** Bytes downloaded by this call (0 when cached or joined). */
  bytes: number;
  /** True when this call waited for another call's download of the same image. */
  joined?: boolean;
  /** Glance ids this call downloaded: the image and the base images it needed. */
  downloadedIds: string[];
}

export type ReleaseResult = 'absent' | 'in-use' | 'untagged' | 'removed';

/** Counters for /metrics. */
export interface ImportStats {
  downloads: number;
  downloadedBytes: number;
  cacheHits: number;
  joined: number;
  failures: number;
  inFlight: number;
  /** Milliseconds of the last successful download+load. */
  lastImportMs: number;
}

/** The Glance calls the importer needs (GlanceClient, or a fake in tests). */
export type ImageSource = Pick<GlanceClient, 'getImage' | 'download'>;

export interface ImporterOptions {
  /** Repository of the cache tags (default `glance-image`). */
  repo?: string;
  /** Glance container formats accepted (default docker, compressed, oci). */
  containerFormats?: string[];
  /** For a multi-platform OCI index (default linux + this host's architecture). */
  platform?: { os: string; architecture: string };
  glance?: GlanceClientOptions;
  /** How a token source becomes a Glance client (tests inject fakes). */
  clientFor?: (source: GlanceTokenSource) => ImageSource;
  log?: Logger;
}

const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** Base images a delta snapshot may stand on, one on another. */
const MAX_BASE_CHAIN = 32;

/** The Glance id of a delta snapshot's base image: from Nova's dict (nested) or Glance's record (flat). */
export function baseImageOf(image: GlanceImageMeta | GlanceImage): string | undefined {
  const nested = image.properties;
  const v = (nested && typeof nested === 'object' ? (nested as Record<string, unknown>)[BASE_IMAGE_PROPERTY] : undefined) ?? image[BASE_IMAGE_PROPERTY];
  return typeof v === 'string' && v ? v : undefined;
}

export class ImageImporter {
  private readonly repo: string;
  private readonly formats: Set<string>;
  private readonly flights = new Map<string, Promise<EnsuredImage>>();
  /** Glance id -> the engine image its tag named when this importer last loaded or found it. */
  private readonly present = new Map<string, Pick<EnsuredImage, 'ref' | 'imageId' | 'layers'>>();
  private readonly serial = new KeyedSerializer();
  /** Delta snapshot -> the base its running import waits for: how a loop across concurrent imports is seen. */
  private readonly waitingOn = new Map<string, string>();
  private readonly counters: Omit<ImportStats, 'inFlight'> = {
    downloads: 0, downloadedBytes: 0, cacheHits: 0, joined: 0, failures: 0, lastImportMs: 0,
  };

  constructor(private readonly engine: ContainerEngine, private readonly options: ImporterOptions = {}) {
    this.repo = options.repo ?? 'glance-image';
    this.formats = new Set(options.containerFormats ?? ['docker', 'compressed', 'oci']);
  }

  /** The engine reference under which a Glance image is cached. */
  refFor(glanceImageId: string): string {
    return `${this.repo}:${glanceImageId}`;
  }

  stats(): ImportStats {
    return { ...this.counters, inFlight: this.flights.size };
  }

  /**
   * Makes the Glance image available in the engine; downloads only when it is not cached.
   * `recheck`: the engine turned out not to have an image this importer knew present (a
   * create refused it): asks the engine again, and downloads it when it is gone.
   * Throws ImageNotUsable (status/format), or ImageImportFailed whose cause is
   * ImageNotFound / GlanceError / ImageVerificationFailed / InvalidImageArchive / EngineError.
   */
  ensureImage(source: GlanceTokenSource, image: GlanceImageMeta, recheck = false): Promise<EnsuredImage> {
    if (!recheck) return this.ensure(source, image, []);
    this.check(image);
    this.present.delete(image.id);
    // not joined to an import running now: it may have found the image just before it went
    return this.fly(source, image, []);
  }

  /** `dependents`: the delta snapshots (outermost first) this image is being ensured as the base of. */
  private ensure(source: GlanceTokenSource, image: GlanceImageMeta, dependents: string[]): Promise<EnsuredImage> {
    this.check(image);
    const known = this.present.get(image.id);
    if (known && !this.serial.busy(image.id)) {
      this.counters.cacheHits++;
      return Promise.resolve({ ...known, downloaded: false, bytes: 0, downloadedIds: [] });
    }
    const running = this.flights.get(image.id);
    if (running) {
      this.counters.joined++;
      return running.then((r) => ({ ...r, downloaded: false, bytes: 0, joined: true, downloadedIds: [] }));
    }
    return this.fly(source, image, dependents);
  }

  /** An import of the image that later calls join, run after the one running now (if any). */
  private fly(source: GlanceTokenSource, image: GlanceImageMeta, dependents: string[]): Promise<EnsuredImage> {
    const flight: Promise<EnsuredImage> = this.serial.run(image.id, () => this.ensureLocked(source, image, dependents))
      .finally(() => {
        if (this.flights.get(image.id) === flight) this.flights.delete(image.id);
      });
    this.flights.set(image.id, flight);
    return flight;
  }

  /** Glance ids of the images this cache holds. */
  async cachedImageIds(): Promise<string[]> {
    return (await this.engine.listImageTags(this.repo)).map((t) => t.slice(this.repo.length + 1));
  }

  /**
   * Drops the cache entry: removes the tag, and the image itself when no container uses it
   * and no other tag names it. Waits for a running ensureImage of the same id.
   */
  releaseImage(glanceImageId: string): Promise<ReleaseResult> {
    // while it is queued or running, an ensureImage of the image does not take it as known (busy);
    // one that joins an import running before it may get the reference it removes, which the
    // create refused for want of the image recovers from (ensureImage's recheck, which joins none)
    return this.serial.run(glanceImageId, async () => {
      this.present.delete(glanceImageId);
      const ref = this.refFor(glanceImageId);
      const info = await this.engine.inspectImage(ref);
      if (!info) return 'absent';
      if (info.tags.some((t) => t !== ref)) {
        await this.engine.removeImage(ref); // other tags remain: this only untags
        return 'untagged';
      }
      if (await this.usedByContainer(info.id)) return 'in-use';
      await this.engine.removeImage(ref);
      const left = await this.engine.inspectImage(info.id); // a child image (snapshot) keeps it
      this.options.log?.info({ glanceImageId, imageId: info.id, kept: !!left }, 'released cached image');
      return left ? 'untagged' : 'removed';
    });
  }

  private check(image: GlanceImageMeta): void {
    if (!image || typeof image.id !== 'string' || !TAG_RE.test(image.id)) {
      throw new ImageNotUsable(String(image?.id), 'the image id is not usable as an engine tag');
    }
    if (image.status && image.status !== 'active') throw new ImageNotUsable(image.id, `its status is ${image.status}, not active`);
    if (image.container_format && !this.formats.has(image.container_format)) {
      throw new ImageNotUsable(image.id, `container_format ${image.container_format} is not one of ${[...this.formats].join(', ')}`);
    }
  }

  private client(source: GlanceTokenSource): ImageSource {
    return this.options.clientFor?.(source) ?? new GlanceClient(source, { ...this.options.glance, ...(this.options.log ? { log: this.options.log } : {}) });
  }

  private async usedByContainer(engineImageId: string): Promise<boolean> {
    const all = await this.engine.listContainers({});
    return all.some((c) => c.image === engineImageId);
  }

  private async ensureLocked(source: GlanceTokenSource, given: GlanceImageMeta, dependents: string[]): Promise<EnsuredImage> {
    const log = this.options.log;
    const ref = this.refFor(given.id);
    const cached = await this.engine.inspectImage(ref);
    if (cached) {
      this.counters.cacheHits++;
      this.present.set(given.id, { ref, imageId: cached.id, layers: cached.layers });
      return { ref, imageId: cached.id, layers: cached.layers, downloaded: false, bytes: 0, downloadedIds: [] };
    }

    const client = this.client(source);
    let stage: ImportStage = 'download';
    let bytes = 0;
    let summary: ImageArchiveSummary | undefined;
    let base: EnsuredImage | undefined;
    const image = given;
    const started = Date.now();
    try {
      const baseId = baseImageOf(image);
      if (baseId) {
        stage = 'base';
        base = await this.ensureBase(source, client, image.id, baseId, dependents);
        stage = 'download';
      }
      this.counters.downloads++;
      const expected = await this.expectedDigests(client, image);
      const dl = await client.download(image.id);
      checkLength(image.id, expected, dl);
      if (!expected.md5 && dl.contentMd5 && /^[0-9a-f]{32}$/i.test(dl.contentMd5)) expected.md5 = dl.contentMd5;
      const verifier = new VerifyingStream(image.id, expected);
      // Errors travel down to the rewriter; a late one (the hash, at the end) is also kept on
      // the verifier and checked below, so no listener race can leave it unhandled or unseen.
      verifier.on('error', () => undefined);
      pipeline(dl.body, verifier, () => undefined);
      const rewritten = rewriteImageArchive(verifier, {
        imageId: image.id,
        ...(this.options.platform ? { platform: this.options.platform } : {}),
        ...(baseId && base ? { base: { glanceImageId: baseId, layers: base.layers } } : {}),
      });
      // The engine client pipes this into its request without an error listener; the failure
      // that destroys it is reported through `summary` and the load's promise instead.
      rewritten.output.on('error', () => undefined);
      // If the engine gives up early it stops reading: cut the pipeline so nothing waits on it.
      let failedFirst: 'load' | 'archive' | undefined;
      const load = this.engine.loadImage(rewritten.output).catch((err: unknown) => {
        failedFirst ??= 'load';
        rewritten.output.destroy(err instanceof Error ? err : new Error(String(err)));
        throw err;
      });
      const checking = rewritten.summary.catch((err: unknown) => {
        failedFirst ??= 'archive';
        throw err;
      });
      const [loaded, checked] = await Promise.allSettled([load, checking]);
      bytes = verifier.bytes;
      rewritten.output.destroy();
      if (verifier.failure) throw verifier.failure;
      // Whichever failed first is the reason; the other side only saw the pipeline cut.
      if (loaded.status === 'rejected' && failedFirst === 'load') {
        stage = 'load';
        throw loaded.reason;
      }
      if (checked.status === 'rejected') throw checked.reason;
      summary = checked.value;
      stage = 'load';
      if (loaded.status === 'rejected') throw loaded.reason;
      if (!loaded.value.includes(summary.imageId)) {
        log?.warn({ glanceImageId: image.id, expected: summary.imageId, loaded: loaded.value }, 'engine reported other image ids than the archive config');
      }
      stage = 'tag';
      await this.engine.tagImage(summary.imageId, this.repo, image.id);
      const info = await this.engine.inspectImage(ref);
      if (!info) throw new Error(`${ref} is not in the engine after tagging`);
      this.counters.downloadedBytes += bytes;
      this.counters.lastImportMs = Date.now() - started;
      log?.info({
        glanceImageId: image.id, imageId: info.id, format: summary.format, bytes, ms: this.counters.lastImportMs,
        layers: info.layers.length, ...(baseId ? { baseImage: baseId, layersFromBase: summary.fromBase } : {}),
      }, 'imported Glance image');
      this.present.set(image.id, { ref, imageId: info.id, layers: info.layers });
      return { ref, imageId: info.id, layers: info.layers, downloaded: true, bytes, downloadedIds: [...(base?.downloadedIds ?? []), image.id] };
    } catch (err) {
      this.counters.failures++;
      this.counters.downloadedBytes += bytes;
      await this.cleanUp(image.id, summary?.imageId);
      log?.warn({ glanceImageId: image.id, stage, err: messageOf(err) }, 'image import failed');
      throw new ImageImportFailed(image.id, stage, err);
    }
  }

  /**
   * The base of delta snapshot `imageId`, in the engine: its Glance record read with the
   * caller's token (missing or invisible: BaseImageMissing), then from the cache or Glance.
   */
  private async ensureBase(source: GlanceTokenSource, client: ImageSource, imageId: string, baseId: string, dependents: string[]): Promise<EnsuredImage> {
    const chain = [...dependents, imageId];
    if (chain.length > MAX_BASE_CHAIN) throw new ImageNotUsable(imageId, `it stands on more than ${MAX_BASE_CHAIN} base images`);
    let record: GlanceImage;
    try {
      record = await client.getImage(baseId);
    } catch (err) {
      if (err instanceof ImageNotFound) throw new BaseImageMissing(imageId, baseId);
      throw err;
    }
    // A loop, also through imports running now: the base waits, down its chain, for one of
    // ours. Checked and recorded with no await between, so of two imports that would wait on
    // each other the second sees the first's wait.
    for (let at: string | undefined = baseId, hops = 0; at !== undefined && hops <= MAX_BASE_CHAIN; at = this.waitingOn.get(at), hops++) {
      if (chain.includes(at)) throw new ImageNotUsable(imageId, `its chain of base images loops back to ${at}`);
    }
    this.waitingOn.set(imageId, baseId);
    // asked of the engine, not taken as known: the delta's load needs the base's layers there
    this.present.delete(baseId);
    try {
      return await this.ensure(source, record, chain);
    } finally {
      this.waitingOn.delete(imageId);
    }
  }

  /** Size and digests from Nova's dict; asks Glance when the dict carries no digest. */
  private async expectedDigests(client: ImageSource, image: GlanceImageMeta): Promise<ExpectedDigests> {
    let src: GlanceImageMeta | GlanceImage = image;
    if (!hasDigest(digestsOf(image))) {
      src = await client.getImage(image.id);
      if (src.status !== 'active') throw new ImageNotUsable(image.id, `its status is ${src.status}, not active`);
    }
    const expected = digestsOf(src);
    if (!hasDigest(expected)) throw new ImageNotUsable(image.id, 'Glance recorded no checksum for it; refusing to load unverified data');
    return expected;
  }

  /** After a failure: take away our tag and an image the failed load left untagged and unused. */
  private async cleanUp(glanceImageId: string, engineImageId: string | undefined): Promise<void> {
    const log = this.options.log;
    try {
      const ref = this.refFor(glanceImageId);
      if (await this.engine.inspectImage(ref)) await this.engine.removeImage(ref);
      if (engineImageId) {
        const info = await this.engine.inspectImage(engineImageId);
        if (info && info.tags.length === 0 && !(await this.usedByContainer(info.id))) {
          await this.engine.removeImage(info.id);
          log?.info({ glanceImageId, imageId: info.id }, 'removed the image a failed import left behind');
        }
      }
    } catch (err) {
      log?.error({ glanceImageId, err: messageOf(err) }, 'cleaning up after a failed import failed');
    }
  }
}

function digestsOf(i: GlanceImageMeta | GlanceImage): ExpectedDigests {
  const e: ExpectedDigests = {};
  if (typeof i.size === 'number' && i.size >= 0) e.size = i.size;
  if (typeof i.checksum === 'string' && i.checksum) e.md5 = i.checksum;
  if (typeof i.os_hash_algo === 'string' && i.os_hash_algo && typeof i.os_hash_value === 'string' && i.os_hash_value) {
    e.hashAlgo = i.os_hash_algo;
    e.hashValue = i.os_hash_value;
  }
  return e;
}

function checkLength(imageId: string, expected: ExpectedDigests, dl: ImageDownload): void {
  if (dl.contentLength === undefined) return;
  if (expected.size !== undefined && dl.contentLength !== expected.size) {
    dl.body.destroy();
    throw new ImageVerificationFailed(imageId, 'Content-Length', `${expected.size} bytes`, `${dl.contentLength} bytes`);
  }
  if (expected.size === undefined) expected.size = dl.contentLength;
}
