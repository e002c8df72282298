/**
 * The few Glance v2 image calls nova-container makes (glance.md §2.1): show, download, patch,
 * upload, delete. Calls are authenticated by a GlanceTokenSource; a 401 is retried once when
 * the source can renew its token. Every call is bounded in time: JSON calls by a total timeout,
 * data transfers by an idle timeout (no byte for `idleTimeoutMs`), since a large image may
 * legitimately take long.
 */
import axios, { type AxiosResponse, type Method, type ResponseType } from 'axios';
import { Readable, Transform, type TransformCallback, pipeline } from 'node:stream';
import type { Logger } from '../common/log.js';
import { GlanceError, ImageNotFound } from './errors.js';
import type { GlanceTokenSource } from './token-source.js';

/** The image attributes every form of an image record carries (Glance's own, Nova's dict). */
export interface GlanceImageBase {
  id: string;
  name?: string | null;
  container_format?: string | null;
  disk_format?: string | null;
  size?: number | null;
  checksum?: string | null;
  os_hash_algo?: string | null;
  os_hash_value?: string | null;
  [property: string]: unknown;
}

/** An image as `GET /v2/images/{id}` returns it: base attributes plus flat extra properties. */
export interface GlanceImage extends GlanceImageBase {
  status: string;
  visibility?: string;
}

export type PatchOp =
  | { op: 'add' | 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

export interface ImageDownload {
  /** The image data; errors with GlanceError when Glance stops sending for `idleTimeoutMs`. */
  body: Readable;
  contentLength?: number;
  /** Glance sends the image's MD5 checksum as hex here. */
  contentMd5?: string;
}

export interface GlanceClientOptions {
  /** Total time for a JSON call, and for the answer to arrive once an upload is sent. */
  timeoutMs?: number;
  /** Longest pause in a download or upload body. */
  idleTimeoutMs?: number;
  log?: Logger;
}

const PATCH_CONTENT_TYPE = 'application/openstack-images-v2.1-json-patch';

/** A readable summary of an error body (JSON `message`, or HTML stripped), at most 300 chars. */
export function errorText(body: unknown): string {
  let text: string;
  if (body === undefined || body === null) return '';
  if (Buffer.isBuffer(body)) text = body.toString('utf8');
  else if (typeof body === 'string') text = body;
  else text = JSON.stringify(body);
  try {
    const j = JSON.parse(text) as { message?: unknown; error?: { message?: unknown } };
    if (typeof j.message === 'string') text = j.message;
    else if (j.error && typeof j.error.message === 'string') text = j.error.message;
  } catch { /* not JSON */ }
  text = text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

/**
 * Passes bytes through; fails with `error()` when no chunk passed for `ms`. Measures the gap
 * from creation, so it also bounds the wait for the first byte.
 */
export class IdleTimeout extends Transform {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly ms: number, private readonly error: () => Error) {
    super();
    this.arm();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.ms > 0) this.timer = setTimeout(() => this.destroy(this.error()), this.ms);
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.arm();
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.disarm();
    cb();
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.disarm();
    cb(err);
  }
}

async function readSome(stream: Readable, limit = 4096): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of stream as AsyncIterable<Buffer>) {
      chunks.push(c);
      n += c.length;
      if (n >= limit) break;
    }
  } catch { /* the error body is best effort */ }
  stream.destroy();
  return Buffer.concat(chunks).subarray(0, limit);
}

export class GlanceClient {
  private readonly timeoutMs: number;
  private readonly idleTimeoutMs: number;

  constructor(private readonly source: GlanceTokenSource, private readonly options: GlanceClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 120_000;
  }

  /** `POST /v2/images`: a queued image with `fields` (name, visibility, os_hidden, properties, ...). */
  async createImage(fields: Record<string, unknown>): Promise<GlanceImage> {
    const res = await this.call<GlanceImage>('POST', '(new)', '/v2/images', { what: 'create image', data: fields, contentType: 'application/json' });
    return res.data;
  }

  async getImage(imageId: string): Promise<GlanceImage> {
    const res = await this.call<GlanceImage>('GET', imageId, `/v2/images/${enc(imageId)}`, { what: 'show image' });
    return res.data;
  }

  /** `GET /v2/images/{id}/file`, streamed. 204 (no data uploaded) is a GlanceError. */
  async download(imageId: string): Promise<ImageDownload> {
    const res = await this.call<Readable>('GET', imageId, `/v2/images/${enc(imageId)}/file`, {
      what: 'download image', responseType: 'stream', stream: true,
    });
    if (res.status === 204) {
      res.data.destroy();
      throw new GlanceError(`download image ${imageId}: Glance holds no data for it (HTTP 204)`, 204);
    }
    const guard = new IdleTimeout(this.idleTimeoutMs, () => new GlanceError(
      `download image ${imageId}: no data from Glance for ${seconds(this.idleTimeoutMs)} s`));
    pipeline(res.data, guard, () => { /* errors reach the consumer through guard */ });
    const length = Number(res.headers['content-length']);
    const md5 = res.headers['content-md5'];
    return {
      body: guard,
      ...(Number.isFinite(length) && res.headers['content-length'] !== undefined ? { contentLength: length } : {}),
      ...(typeof md5 === 'string' && md5 ? { contentMd5: md5 } : {}),
    };
  }

  async patch(imageId: string, ops: PatchOp[]): Promise<GlanceImage> {
    const res = await this.call<GlanceImage>('PATCH', imageId, `/v2/images/${enc(imageId)}`, {
      what: 'update image', data: ops, contentType: PATCH_CONTENT_TYPE,
    });
    return res.data;
  }

  /**
   * `PUT /v2/images/{id}/file` (204). `size` becomes Content-Length; without it the body is
   * sent chunked (glance-api runs standalone on Debian, which accepts that; glance.md §2.2).
   * The body cannot be re-sent, so a 401 here is not retried: make an authenticated call
   * (e.g. the PATCH before it) first.
   */
  async upload(imageId: string, data: Readable, size?: number): Promise<void> {
    const guard = new IdleTimeout(this.idleTimeoutMs, () => new GlanceError(
      `upload image ${imageId}: Glance took no data for ${seconds(this.idleTimeoutMs)} s`));
    pipeline(data, guard, () => { /* errors reach axios through guard */ });
    await this.call<unknown>('PUT', imageId, `/v2/images/${enc(imageId)}/file`, {
      what: 'upload image data', data: guard, contentType: 'application/octet-stream', retry: false, uploadBody: guard,
      ...(size !== undefined ? { headers: { 'Content-Length': String(size) } } : {}),
    });
  }

  /** `DELETE /v2/images/{id}`; an image that is already gone is not an error. */
  async deleteImage(imageId: string): Promise<void> {
    try {
      await this.call<unknown>('DELETE', imageId, `/v2/images/${enc(imageId)}`, { what: 'delete image' });
    } catch (err) {
      if (err instanceof ImageNotFound) return;
      throw err;
    }
  }

  /**
   * One request, retried once after a 401 when the token source can renew. JSON calls get a
   * total timeout; streamed responses a timeout until the headers arrive; uploads an idle
   * timeout on the body, then a timeout for the answer.
   */
  private async call<T>(method: Method, imageId: string, path: string, o: {
    what: string; data?: unknown; contentType?: string; responseType?: ResponseType; stream?: boolean;
    retry?: boolean; uploadBody?: Readable; headers?: Record<string, string>;
  }): Promise<AxiosResponse<T>> {
    const log = this.options.log;
    for (let attempt = 0; ; attempt++) {
      let base: string;
      let auth: Record<string, string>;
      try {
        base = await this.source.imageEndpoint();
        auth = await this.source.authHeaders();
      } catch (err) {
        throw new GlanceError(`${o.what} ${imageId}: no Glance endpoint or token (${this.source.kind}): ${(err as Error).message}`, undefined, { cause: err });
      }
      const controller = new AbortController();
      let timer: NodeJS.Timeout | null = null;
      const startTimer = (): void => { timer = setTimeout(() => controller.abort(), this.timeoutMs); };
      if (o.uploadBody) o.uploadBody.once('end', startTimer); else startTimer();
      const started = Date.now();
      let res: AxiosResponse<T>;
      try {
        res = await axios.request<T>({
          method,
          url: `${base}${path}`,
          headers: {
            ...auth,
            Accept: 'application/json',
            ...(o.contentType ? { 'Content-Type': o.contentType } : {}),
            ...(o.headers ?? {}),
          },
          data: o.data,
          responseType: o.responseType ?? 'json',
          validateStatus: () => true,
          signal: controller.signal,
          maxRedirects: 0,
          maxBodyLength: Infinity,
          maxContentLength: Infinity,
          decompress: !o.stream,
        });
      } catch (err) {
        o.uploadBody?.destroy();
        const why = controller.signal.aborted
          ? `no answer within ${seconds(this.timeoutMs)} s`
          : (err as Error).message;
        throw new GlanceError(`${o.what} ${imageId}: ${why}`, undefined, { cause: err });
      } finally {
        if (timer) clearTimeout(timer);
        o.uploadBody?.removeListener('end', startTimer);
      }
      log?.debug({ method, path, status: res.status, ms: Date.now() - started, attempt }, 'glance call');
      if (res.status >= 200 && res.status < 300) return res;
      o.uploadBody?.destroy();

      const body = o.stream ? await readSome(res.data as Readable) : res.data;
      if (res.status === 401 && attempt === 0 && o.retry !== false && this.source.unauthorized()) {
        log?.info({ imageId, what: o.what, kind: this.source.kind }, 'Glance answered 401; retrying once with a new token');
        continue;
      }
      if (res.status === 404) throw new ImageNotFound(imageId);
      const detail = errorText(body);
      const hint = res.status === 401 ? ` (the ${this.source.kind} token was rejected${this.source.kind === 'user' ? '; it may have expired' : ''})` : '';
      throw new GlanceError(`${o.what} ${imageId}: Glance answered HTTP ${res.status}${hint}${detail ? `: ${detail}` : ''}`, res.status);
    }
  }
}

function seconds(ms: number): string {
  return ms < 10_000 ? (ms / 1000).toFixed(1) : String(Math.round(ms / 1000));
}

function enc(id: string): string {
  return encodeURIComponent(id);
}
