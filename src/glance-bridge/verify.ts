/**
 * Checks image data against what Glance recorded while it streams: byte count, multihash
 * (`os_hash_algo`/`os_hash_value`, sha512 by default) and legacy MD5 `checksum`. Bytes pass
 * through as they come, but the stream's end is held back until every check passed: on a
 * mismatch the stream errors instead of ending, so whatever consumes it (the engine's image
 * load) sees a truncated input and registers nothing.
 */
import { createHash, getHashes, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ImageVerificationFailed } from './errors.js';

export interface ExpectedDigests {
  /** Exact byte count, when known (image `size`, Content-Length). */
  size?: number;
  /** Legacy `checksum` (MD5, hex). */
  md5?: string;
  /** `os_hash_algo` as Glance names it (hashlib names: sha512, sha256, ...). */
  hashAlgo?: string;
  hashValue?: string;
}

/** Glance's hashlib names mapped to Node's, where they differ. */
function nodeAlgorithm(glanceAlgo: string): string {
  const a = glanceAlgo.toLowerCase();
  const m = /^sha3_(\d+)$/.exec(a);
  return m ? `sha3-${m[1]}` : a;
}

/** Throws when an expected digest cannot be checked (unknown algorithm). */
export function checkableDigests(e: ExpectedDigests, imageId: string): void {
  if (e.hashValue && e.hashAlgo && !getHashes().includes(nodeAlgorithm(e.hashAlgo))) {
    throw new ImageVerificationFailed(imageId, 'os_hash_algo', 'a supported hash algorithm', e.hashAlgo);
  }
}

export function hasDigest(e: ExpectedDigests): boolean {
  return !!(e.md5 || (e.hashAlgo && e.hashValue));
}

export class VerifyingStream extends Transform {
  /** The verification failure, kept so the reader learns it even if it stopped listening. */
  failure: ImageVerificationFailed | null = null;
  private readonly hashes: Array<{ what: string; hash: Hash; expected: string }> = [];
  /** Bytes that passed so far. */
  bytes = 0;

  constructor(private readonly imageId: string, private readonly expected: ExpectedDigests) {
    super();
    checkableDigests(expected, imageId);
    if (expected.hashAlgo && expected.hashValue) {
      this.hashes.push({ what: `${expected.hashAlgo} (os_hash_value)`, hash: createHash(nodeAlgorithm(expected.hashAlgo)), expected: expected.hashValue.toLowerCase() });
    }
    if (expected.md5) this.hashes.push({ what: 'md5 checksum', hash: createHash('md5'), expected: expected.md5.toLowerCase() });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.expected.size !== undefined && this.bytes > this.expected.size) {
      cb(new ImageVerificationFailed(this.imageId, 'size', `${this.expected.size} bytes`, `more than ${this.expected.size} bytes`));
      return;
    }
    for (const h of this.hashes) h.hash.update(chunk);
    cb(null, chunk);
  }

  /** Runs when the input ended; `cb()` lets the end through, `cb(err)` turns it into an error. */
  override _flush(cb: TransformCallback): void {
    if (this.expected.size !== undefined && this.bytes !== this.expected.size) {
      this.failure = new ImageVerificationFailed(this.imageId, 'size', `${this.expected.size} bytes`, `${this.bytes} bytes`);
      cb(this.failure);
      return;
    }
    for (const h of this.hashes) {
      const actual = h.hash.digest('hex');
      if (actual !== h.expected) {
        this.failure = new ImageVerificationFailed(this.imageId, h.what, h.expected, actual);
        cb(this.failure);
        return;
      }
    }
    cb();
  }
}

/** Digests computed over data that passes (for uploads: what Glance should record). */
export class DigestingStream extends Transform {
  private readonly md5 = createHash('md5');
  private readonly sha512 = createHash('sha512');
  bytes = 0;
  result: { md5: string; sha512: string; bytes: number } | null = null;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.md5.update(chunk);
    this.sha512.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.result = { md5: this.md5.digest('hex'), sha512: this.sha512.digest('hex'), bytes: this.bytes };
    cb();
  }
}
