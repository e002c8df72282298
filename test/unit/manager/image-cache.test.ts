import { strict as assert } from 'node:assert';
import { ImageCacheManager } from '../../../src/nova-driver/manager/image-cache.js';
import { silentLogger } from '../../../src/common/log.js';

/** In-memory stand-ins: which images are cached, which containers use which image. */
function world(cached: string[], usedBy: Record<string, number>) {
  const released: string[] = [];
  const cache = {
    async cachedImageIds() { return cached.filter((c) => !released.includes(c)); },
    async releaseImage(id: string) { released.push(id); return 'removed'; },
  };
  const inUse = async (id: string) => (usedBy[id] ?? 0) > 0;
  return { cache, inUse, released, usedBy };
}

describe('image cache manager', () => {
  it('removes a cached image only after it has been unused for the minimum age', async () => {
    const w = world(['a', 'b'], { a: 1 });
    const m = new ImageCacheManager(w.cache, w.inUse, 10, silentLogger());
    assert.deepEqual(await m.run(0), []);
    assert.deepEqual(await m.run(9_000), []);
    assert.deepEqual(await m.run(10_000), ['b']);
    assert.deepEqual(w.released, ['b']);
  });

  it('restarts the clock when an image is used again, and keeps images in use', async () => {
    const w = world(['a'], { a: 0 });
    const m = new ImageCacheManager(w.cache, w.inUse, 10, silentLogger());
    await m.run(0);
    w.usedBy.a = 1;
    assert.deepEqual(await m.run(5_000), []);
    w.usedBy.a = 0;
    assert.deepEqual(await m.run(12_000), [], 'unused again only since 12 s');
    assert.deepEqual(await m.run(22_000), ['a']);
  });
});
