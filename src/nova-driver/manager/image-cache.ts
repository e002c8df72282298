/**
 * Nova's image cache manager for container images ([image_cache] options, same names and
 * defaults as nova.conf): a cached Glance image that no container on the engine uses for
 * remove_unused_original_minimum_age_seconds is removed (its layers go with it unless
 * another image shares them). A container holds its image's cache entry for as long as it
 * exists, so deleting an instance drops its reference; the image itself stays cached for the
 * next boot until it has been unused long enough.
 */
import type { Logger } from '../../common/log.js';

export interface CachedImages {
  cachedImageIds(): Promise<string[]>;
  releaseImage(glanceImageId: string): Promise<string>;
}

export class ImageCacheManager {
  /** Glance id -> when it was first seen unused (ms since epoch). */
  private readonly unusedSince = new Map<string, number>();

  /** `inUse`: whether any container on the engine (of any compute host sharing it) runs the image. */
  constructor(private readonly cache: CachedImages, private readonly inUse: (glanceImageId: string) => Promise<boolean>,
    private readonly minAgeSeconds: number, private readonly log: Logger) {}

  /** One pass; returns the Glance ids whose cached image was released. */
  async run(now = Date.now()): Promise<string[]> {
    const released: string[] = [];
    const cached = await this.cache.cachedImageIds();
    for (const id of [...this.unusedSince.keys()]) if (!cached.includes(id)) this.unusedSince.delete(id);
    for (const id of cached) {
      if (await this.inUse(id)) {
        this.unusedSince.delete(id);
        continue;
      }
      const since = this.unusedSince.get(id) ?? now;
      this.unusedSince.set(id, since);
      if (now - since < this.minAgeSeconds * 1000) continue;
      const result = await this.cache.releaseImage(id);
      this.unusedSince.delete(id);
      if (result !== 'in-use') released.push(id);
      this.log.info({ image: id, result }, 'released an unused cached image');
    }
    return released;
  }
}
