import { strict as assert } from 'node:assert';
import {
  ImageImportFailed, ImageNotFound, ImageNotUsable, ImageVerificationFailed, InvalidImageArchive,
} from '../../../src/glance-bridge/errors.js';
import type { GlanceImage, ImageDownload } from '../../../src/glance-bridge/glance-client.js';
import { ImageImporter, type GlanceImageMeta, type ImageSource } from '../../../src/glance-bridge/importer.js';
import type { GlanceTokenSource } from '../../../src/glance-bridge/token-source.js';
import { KeyedSerializer } from '../../../src/glance-bridge/keyed-serializer.js';
import { chunked, dockerArchive, FakeEngine, layerTar, md5, ociArchive, sha512 } from './helpers.js';

const SOURCE: GlanceTokenSource = {
  kind: 'service',
  authHeaders: async () => ({ 'X-Auth-Token': 't' }),
  imageEndpoint: async () => 'http://glance',
  unauthorized: () => false,
};

class FakeGlance implements ImageSource {
  data = new Map<string, Buffer>();
  downloads = 0;
  delayMs = 0;

  async getImage(id: string): Promise<GlanceImage> {
    const d = this.data.get(id);
    if (!d) throw new ImageNotFound(id);
    return { id, status: 'active', size: d.length, checksum: md5(d), os_hash_algo: 'sha512', os_hash_value: sha512(d) };
  }

  async download(id: string): Promise<ImageDownload> {
    const d = this.data.get(id);
    if (!d) throw new ImageNotFound(id);
    this.downloads++;
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    return { body: chunked(d, 1024), contentLength: d.length, contentMd5: md5(d) };
  }
}

function meta(id: string, data: Buffer, over: Partial<GlanceImageMeta> = {}): GlanceImageMeta {
  return {
    id, status: 'active', container_format: 'docker', disk_format: 'raw', size: data.length,
    checksum: md5(data), os_hash_algo: 'sha512', os_hash_value: sha512(data), properties: {}, ...over,
  };
}

function setup(): { engine: FakeEngine; glance: FakeGlance; importer: ImageImporter } {
  const engine = new FakeEngine();
  const glance = new FakeGlance();
  const importer = new ImageImporter(engine.asEngine(), { clientFor: () => glance });
  return { engine, glance, importer };
}

const ID = '11111111-2222-3333-4444-555555555555';

describe('glance-bridge ImageImporter (fake engine and Glance)', () => {
  it('imports, tags glance-image:<id>, and serves the second call from the cache', async () => {
    const { engine, glance, importer } = setup();
    const img = await dockerArchive([await layerTar('a', 'b')]);
    glance.data.set(ID, img.archive);
    const first = await importer.ensureImage(SOURCE, meta(ID, img.archive));
    assert.deepEqual(first, { ref: `glance-image:${ID}`, imageId: img.configDigest, layers: img.diffIds, downloaded: true, bytes: img.archive.length, downloadedIds: [ID] });
    assert.deepEqual(engine.images.get(img.configDigest)!.tags, new Set([`glance-image:${ID}`]));
    const second = await importer.ensureImage(SOURCE, meta(ID, img.archive));
    assert.equal(second.downloaded, false);
    assert.deepEqual(second.downloadedIds, []);
    assert.equal(second.imageId, img.configDigest);
    assert.equal(glance.downloads, 1);
    const s = importer.stats();
    assert.equal(s.downloads, 1);
    assert.equal(s.downloadedBytes, img.archive.length);
    assert.equal(s.cacheHits, 1);
  });

  it('an image it loaded or found is known present: the engine is not asked again until a create refuses it (recheck) or it is released', async () => {
    const { engine, glance, importer } = setup();
    const img = await dockerArchive([await layerTar('a', 'b')]);
    glance.data.set(ID, img.archive);
    await importer.ensureImage(SOURCE, meta(ID, img.archive));
    const asked = engine.inspects;
    const again = await importer.ensureImage(SOURCE, meta(ID, img.archive));
    assert.deepEqual(again, { ref: `glance-image:${ID}`, imageId: img.configDigest, layers: img.diffIds, downloaded: false, bytes: 0, downloadedIds: [] });
    assert.equal(engine.inspects, asked, 'no engine round trip');
    assert.equal(importer.stats().cacheHits, 1);

    await engine.removeImage(`glance-image:${ID}`); // behind its back
    assert.equal((await importer.ensureImage(SOURCE, meta(ID, img.archive))).downloaded, false, 'still taken as present');
    const rechecked = await importer.ensureImage(SOURCE, meta(ID, img.archive), true);
    assert.equal(rechecked.downloaded, true);
    assert.equal(glance.downloads, 2);
    assert.ok(await engine.inspectImage(`glance-image:${ID}`));

    // a release forgets it; an ensure called while the release runs waits for it, then downloads
    const released = importer.releaseImage(ID);
    const during = importer.ensureImage(SOURCE, meta(ID, img.archive));
    assert.equal(await released, 'removed');
    assert.equal((await during).downloaded, true);
    assert.equal(glance.downloads, 3);
    assert.ok(await engine.inspectImage(`glance-image:${ID}`));

    // found in the engine (loaded by an earlier run of the service): known from then on
    const fresh = new ImageImporter(engine.asEngine(), { clientFor: () => glance });
    assert.equal((await fresh.ensureImage(SOURCE, meta(ID, img.archive))).downloaded, false);
    const found = engine.inspects;
    await fresh.ensureImage(SOURCE, meta(ID, img.archive));
    assert.equal(engine.inspects, found);
    assert.equal(glance.downloads, 3);
  });

  it('a recheck does not join an import that found the image just before it was removed: it looks again and downloads', async () => {
    const { engine, glance, importer } = setup();
    const img = await dockerArchive([await layerTar('a', 'b')]);
    glance.data.set(ID, img.archive);
    await importer.ensureImage(SOURCE, meta(ID, img.archive));
    const fresh = new ImageImporter(engine.asEngine(), { clientFor: () => glance }); // knows nothing present
    const inspect = engine.inspectImage.bind(engine);
    let found!: () => void;
    const foundIt = new Promise<void>((r) => { found = r; });
    let hold!: () => void;
    const held = new Promise<void>((r) => { hold = r; });
    let first = true;
    engine.inspectImage = async (ref: string) => {
      const info = await inspect(ref);
      if (first) { // the running import, once it found the image
        first = false;
        found();
        await held;
      }
      return info;
    };
    const running = fresh.ensureImage(SOURCE, meta(ID, img.archive));
    await foundIt;
    await engine.removeImage(`glance-image:${ID}`); // behind its back, after the running import looked
    const rechecked = fresh.ensureImage(SOURCE, meta(ID, img.archive), true);
    hold();
    assert.equal((await running).downloaded, false, 'the running import found it');
    // the recheck's import, run once the first is over, is the one a call made meanwhile joins
    const meanwhile = fresh.ensureImage(SOURCE, meta(ID, img.archive));
    assert.equal(fresh.stats().joined, 1);
    assert.equal((await rechecked).downloaded, true, 'the recheck looked again');
    assert.equal((await meanwhile).ref, `glance-image:${ID}`);
    assert.equal(glance.downloads, 2);
    assert.ok(await engine.inspectImage(`glance-image:${ID}`));
    assert.equal(fresh.stats().inFlight, 0, 'forgotten once done');
  });

  it('concurrent calls for one image share a single download (single flight)', async () => {
    const { engine, glance, importer } = setup();
    const img = await dockerArchive([await layerTar('a', 'b')]);
    glance.data.set(ID, img.archive);
    glance.delayMs = 30;
    engine.loadDelayMs = 30;
    const results = await Promise.all(Array.from({ length: 5 }, () => importer.ensureImage(SOURCE, meta(ID, img.archive))));
    assert.equal(glance.downloads, 1);
    assert.equal(engine.loads, 1);
    assert.equal(results.filter((r) => r.downloaded).length, 1);
    assert.equal(results.filter((r) => r.joined).length, 4);
    assert.ok(results.every((r) => r.imageId === img.configDigest));
    assert.equal(importer.stats().joined, 4);
    assert.equal(importer.stats().inFlight, 0);
  });

  it('different images download in parallel; a failed flight is not cached', async () => {
    const { glance, importer } = setup();
    const a = await dockerArchive([await layerTar('a', '1')], { label: 'a' });
    const b = await ociArchive([await layerTar('b', '2')], { label: 'b' });
    const idB = '99999999-2222-3333-4444-555555555555';
    glance.data.set(ID, a.archive);
    glance.data.set(idB, b.archive);
    const bad = meta(ID, a.archive, { os_hash_value: sha512('wrong') });
    await assert.rejects(importer.ensureImage(SOURCE, bad), ImageImportFailed);
    const [ra, rb] = await Promise.all([importer.ensureImage(SOURCE, meta(ID, a.archive)), importer.ensureImage(SOURCE, meta(idB, b.archive))]);
    assert.equal(ra.downloaded, true);
    assert.equal(rb.imageId, b.configDigest);
    assert.equal(glance.downloads, 3);
    assert.equal(importer.stats().failures, 1);
  });

  it('a checksum mismatch registers nothing in the engine', async () => {
    const { engine, glance, importer } = setup();
    const img = await dockerArchive([await layerTar('a', 'x'.repeat(30_000))]);
    glance.data.set(ID, img.archive);
    const err = await importer.ensureImage(SOURCE, meta(ID, img.archive, { os_hash_value: sha512('wrong') })).catch((e: unknown) => e);
    assert.ok(err instanceof ImageImportFailed);
    assert.ok(err.cause instanceof ImageVerificationFailed);
    assert.equal(err.stage, 'download');
    assert.match(err.message, new RegExp(`^Import of image ${ID} failed \\(download\\): Image ${ID} failed verification: sha512 \\(os_hash_value\\) is [0-9a-f]+, Glance recorded`));
    assert.equal(engine.loads, 1);
    assert.equal(engine.images.size, 0);
  });

  it('md5 alone is enough; a wrong md5 fails', async () => {
    const { engine, glance, importer } = setup();
    const img = await dockerArchive([await layerTar('a', 'b')]);
    glance.data.set(ID, img.archive);
    const bad = meta(ID, img.archive, { os_hash_algo: null, os_hash_value: null, checksum: md5('x') });
    await assert.rejects(importer.ensureImage(SOURCE, bad), /md5 checksum is/);
    assert.equal(engine.images.size, 0);
  });

  it('asks Glance for the digests when the dict has none', async () => {
    const { glance, importer } = setup();
    const img = await dockerArchive([await layerTar('a', 'b')]);
    glance.data.set(ID, img.archive);
    const r = await importer.ensureImage(SOURCE, { id: ID });
    assert.equal(r.downloaded, true);
  });

  it('invalid archives fail readably and leave nothing', async () => {
    const { engine, glance, importer } = setup();
    glance.data.set(ID, Buffer.from('definitely not a tar archive'));
    const err = await importer.ensureImage(SOURCE, meta(ID, glance.data.get(ID)!)).catch((e: unknown) => e);
    assert.ok(err instanceof ImageImportFailed && err.cause instanceof InvalidImageArchive, String(err));
    assert.match(err.message, /not a \(complete\) tar archive/);
    assert.equal(engine.images.size, 0);
  });

  it('refuses images it cannot use before downloading', async () => {
    const { glance, importer } = setup();
    assert.throws(() => importer.ensureImage(SOURCE, { id: ID, status: 'queued' }), ImageNotUsable);
    assert.throws(() => importer.ensureImage(SOURCE, { id: ID, status: 'active', container_format: 'bare' }), /container_format bare is not one of docker, compressed, oci/);
    assert.throws(() => importer.ensureImage(SOURCE, { id: '../x', status: 'active' }), /not usable as an engine tag/);
    assert.equal(glance.downloads, 0);
  });

  it('a missing Glance image is ImageNotFound inside ImageImportFailed', async () => {
    const { importer } = setup();
    const err = await importer.ensureImage(SOURCE, { id: ID, status: 'active', checksum: md5('x') }).catch((e: unknown) => e);
    assert.ok(err instanceof ImageImportFailed && err.cause instanceof ImageNotFound);
  });

  it('an engine that fails early does not leave the pipeline hanging', async () => {
    const { engine, glance, importer } = setup();
    const img = await dockerArchive([await layerTar('a', 'x'.repeat(200_000))]);
    glance.data.set(ID, img.archive);
    engine.failLoad = new Error('engine says no');
    const started = Date.now();
    const err = await importer.ensureImage(SOURCE, meta(ID, img.archive)).catch((e: unknown) => e);
    assert.ok(err instanceof ImageImportFailed);
    assert.equal(err.stage, 'load');
    assert.match(err.message, /engine says no/);
    assert.ok(Date.now() - started < 2000);
  });

  it('releaseImage removes an unused image, keeps one a container uses, untags a shared one', async () => {
    const { engine, glance, importer } = setup();
    const img = await dockerArchive([await layerTar('a', 'b')]);
    const id2 = '22222222-2222-3333-4444-555555555555';
    glance.data.set(ID, img.archive);
    glance.data.set(id2, img.archive);
    await importer.ensureImage(SOURCE, meta(ID, img.archive));
    await importer.ensureImage(SOURCE, meta(id2, img.archive)); // same content, same engine image
    assert.equal(engine.images.size, 1);
    assert.equal(await importer.releaseImage(id2), 'untagged');
    engine.containers = [{ image: img.configDigest } as never];
    assert.equal(await importer.releaseImage(ID), 'in-use');
    engine.containers = [];
    assert.equal(await importer.releaseImage(ID), 'removed');
    assert.equal(engine.images.size, 0);
    assert.equal(await importer.releaseImage(ID), 'absent');
  });
});

describe('glance-bridge KeyedSerializer', () => {
  it('runs tasks of one key in order and of different keys concurrently', async () => {
    const s = new KeyedSerializer();
    const log: string[] = [];
    const task = (name: string, ms: number) => async () => {
      log.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${name}`);
    };
    await Promise.all([s.run('a', task('a1', 20)), s.run('a', task('a2', 1)), s.run('b', task('b1', 1))]);
    assert.deepEqual(log, ['start a1', 'start b1', 'end b1', 'end a1', 'start a2', 'end a2']);
    await assert.rejects(s.run('c', async () => { throw new Error('x'); }), /x/);
    assert.equal(await s.run('c', async () => 5), 5);
    await new Promise((r) => setImmediate(r));
    assert.equal(s.size, 0);
  });
});

