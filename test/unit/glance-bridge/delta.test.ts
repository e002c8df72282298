import { strict as assert } from 'node:assert';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BASE_IMAGE_PROPERTY, DELTA_ANNOTATIONS, DELTA_DEPTH_PROPERTY } from '../../../src/glance-bridge/delta-archive.js';
import { ImageImportFailed, ImageNotFound } from '../../../src/glance-bridge/errors.js';
import { SnapshotExporter, type SnapshotTarget } from '../../../src/glance-bridge/exporter.js';
import type { GlanceImage, ImageDownload, PatchOp } from '../../../src/glance-bridge/glance-client.js';
import { ImageImporter, type GlanceImageMeta, type ImageSource } from '../../../src/glance-bridge/importer.js';
import type { GlanceTokenSource } from '../../../src/glance-bridge/token-source.js';
import { chunked, collect, dockerArchive, FakeEngine, layerTar, md5, readTar, sha256, sha512, type SyntheticImage } from './helpers.js';

const SOURCE = {} as GlanceTokenSource;
const BASE = 'base0000-0000-0000-0000-000000000000';
const SNAP = 'snap1111-0000-0000-0000-000000000000';
const SNAP2 = 'snap2222-0000-0000-0000-000000000000';

/** One Glance for every host: records, data, and the calls an importer and an exporter make. */
class FakeGlance implements ImageSource, SnapshotTarget {
  records = new Map<string, GlanceImage>();
  data = new Map<string, Buffer>();
  downloads: string[] = [];

  put(id: string, data: Buffer, props: Record<string, string> = {}): void {
    this.data.set(id, data);
    this.records.set(id, {
      id, status: 'active', container_format: 'docker', disk_format: 'raw', size: data.length,
      checksum: md5(data), os_hash_algo: 'sha512', os_hash_value: sha512(data), ...props,
    });
  }

  queue(id: string, inherited: Record<string, string> = {}): void {
    this.records.set(id, { id, status: 'queued', container_format: null, disk_format: null, ...inherited });
  }

  async getImage(id: string): Promise<GlanceImage> {
    const r = this.records.get(id);
    if (!r) throw new ImageNotFound(id);
    return { ...r };
  }

  async patch(id: string, ops: PatchOp[]): Promise<GlanceImage> {
    const r = await this.getImage(id);
    for (const op of ops) {
      if (op.op === 'remove') delete r[op.path.slice(1)];
      else r[op.path.slice(1)] = op.value;
    }
    this.records.set(id, r);
    return r;
  }

  async upload(id: string, body: Readable): Promise<void> {
    const data = await collect(body);
    this.put(id, data, Object.fromEntries(Object.entries((await this.getImage(id))).filter(([, v]) => typeof v === 'string')) as Record<string, string>);
    Object.assign(this.records.get(id)!, { status: 'active', size: data.length, checksum: md5(data), os_hash_value: sha512(data) });
  }

  async download(id: string): Promise<ImageDownload> {
    const d = this.data.get(id);
    if (!d) throw new ImageNotFound(id);
    this.downloads.push(id);
    return { body: chunked(d, 4096), contentLength: d.length, contentMd5: md5(d) };
  }

  /** Nova's image dict for a build: extra properties nested. */
  meta(id: string): GlanceImageMeta {
    const { id: _id, status, container_format, disk_format, size, checksum, os_hash_algo, os_hash_value, ...properties } = this.records.get(id)!;
    return { id, status, container_format, disk_format, size, checksum, os_hash_algo, os_hash_value, properties };
  }
}

interface Host { engine: FakeEngine; importer: ImageImporter; exporter: SnapshotExporter }

function host(glance: FakeGlance, spoolDir: string, deltaDepth = 8): Host {
  const engine = new FakeEngine();
  return {
    engine,
    importer: new ImageImporter(engine.asEngine(), { clientFor: () => glance }),
    exporter: new SnapshotExporter(engine.asEngine(), { clientFor: () => glance, deltaDepth, spoolDir }),
  };
}

/** A committed container on `h`: the image the engine's save gives as `saved`. */
function commit(h: Host, image: SyntheticImage, saved: Buffer = image.archive): void {
  h.engine.images.set(image.configDigest, { id: image.configDigest, tags: new Set(['nova-snapshot:x']), layers: image.diffIds });
  h.engine.saveImage = async () => chunked(saved, 4096);
}

describe('glance-bridge delta snapshots (fake engines and Glance)', () => {
  let spool: string;
  let glance: FakeGlance;
  let L1: Buffer;
  let L2: Buffer;
  let L3: Buffer;
  let base: SyntheticImage;
  let snap: SyntheticImage;

  beforeEach(async () => {
    spool = await mkdtemp(join(tmpdir(), 'delta-test-'));
    glance = new FakeGlance();
    // the base's layer big, the snapshot's own change small
    L1 = await layerTar('usr/lib/base', 'b'.repeat(200_000));
    L2 = await layerTar('data/change', 'c'.repeat(10_000));
    L3 = await layerTar('data/more', 'm'.repeat(5_000));
    base = await dockerArchive([L1], { label: 'base' });
    snap = await dockerArchive([L1, L2], { label: 'snap' });
    glance.put(BASE, base.archive);
  });

  afterEach(async () => {
    await rm(spool, { recursive: true, force: true });
  });

  /** Host A builds from BASE, commits snap and uploads it as SNAP. */
  async function snapshotOnA(saved?: Buffer, inherited: Record<string, string> = {}): Promise<{ a: Host; size: number }> {
    const a = host(glance, spool);
    await a.importer.ensureImage(SOURCE, glance.meta(BASE));
    commit(a, snap, saved);
    glance.queue(SNAP, inherited);
    const r = await a.exporter.export(SOURCE, 'nova-snapshot:x', SNAP, { parentImageId: BASE });
    return { a, size: r.size };
  }

  it('uploads only the layers above the instance\'s image, as an OCI layout naming its base', async () => {
    const a = host(glance, spool);
    await a.importer.ensureImage(SOURCE, glance.meta(BASE));
    commit(a, snap);
    glance.queue(SNAP);
    const r = await a.exporter.export(SOURCE, 'nova-snapshot:x', SNAP, { parentImageId: BASE });

    assert.deepEqual(r.delta, { baseImageId: BASE, depth: 1, carried: [snap.diffIds[1]] });
    const rec = await glance.getImage(SNAP);
    assert.equal(rec[BASE_IMAGE_PROPERTY], BASE);
    assert.equal(rec[DELTA_DEPTH_PROPERTY], '1');
    assert.equal(rec.container_format, 'docker');
    const entries = await readTar(glance.data.get(SNAP)!);
    const files = entries.filter((e) => e.type === 'file');
    const names = files.map((e) => e.name);
    for (const n of [`blobs/sha256/${sha256(L2)}`, `blobs/sha256/${snap.configDigest.slice(7)}`, 'index.json', 'oci-layout']) assert.ok(names.includes(n), n);
    assert.ok(!names.includes(`blobs/sha256/${sha256(L1)}`), 'not the base\'s layer');
    assert.equal(files.length, 5, 'oci-layout, index.json, manifest, config, one layer');
    const index = JSON.parse(entries.find((e) => e.name === 'index.json')!.data.toString()) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse(entries.find((e) => e.name === `blobs/sha256/${index.manifests[0].digest.slice(7)}`)!.data.toString()) as {
      layers: Array<{ digest: string; size: number }>; annotations: Record<string, string>;
    };
    assert.deepEqual(manifest.layers.map((l) => l.digest), snap.diffIds);
    assert.deepEqual(manifest.layers.map((l) => l.size), [L1.length, L2.length]);
    assert.equal(manifest.annotations[DELTA_ANNOTATIONS.baseImage], BASE);
    assert.ok(r.size < L2.length + 8 * 1024, `${r.size} bytes uploaded for a ${L2.length}-byte change`);
    assert.ok(r.size * 10 < snap.archive.length, 'far less than the whole image');
    assert.deepEqual(await readdir(spool).then((d) => Promise.all(d.map((x) => readdir(join(spool, x))))), [], 'no spool left');
  });

  it('skips unread a base layer the save names by digest (podman\'s form)', async () => {
    const podmanSave = await dockerArchive([L1, L2], { label: 'snap', digestNames: true, replace: new Map([[0, Buffer.from('never read')]]) });
    assert.equal(podmanSave.configDigest, snap.configDigest);
    const { size } = await snapshotOnA(podmanSave.archive);
    assert.equal((await glance.getImage(SNAP))[BASE_IMAGE_PROPERTY], BASE);
    assert.ok(size < L2.length + 8 * 1024);
  });

  it('boots a delta on a host that has neither image: the base from Glance, then the delta on it', async () => {
    await snapshotOnA();
    const b = host(glance, spool);
    const r = await b.importer.ensureImage(SOURCE, glance.meta(SNAP));
    assert.deepEqual(r.downloadedIds, [BASE, SNAP]);
    assert.equal(r.imageId, snap.configDigest, 'the same engine image as on the first host');
    assert.deepEqual(r.layers, snap.diffIds);
    assert.deepEqual(glance.downloads.slice(-2), [BASE, SNAP]);
    assert.ok((await b.engine.inspectImage(`glance-image:${BASE}`))!.tags.includes(`glance-image:${BASE}`));
  });

  it('boots a delta on a host whose engine lost the base it had imported: the base is looked for, not taken as known', async () => {
    await snapshotOnA();
    const b = host(glance, spool);
    await b.importer.ensureImage(SOURCE, glance.meta(BASE));
    await b.engine.removeImage(`glance-image:${BASE}`); // behind the importer's back
    const r = await b.importer.ensureImage(SOURCE, glance.meta(SNAP));
    assert.deepEqual(r.downloadedIds, [BASE, SNAP]);
    assert.equal(r.imageId, snap.configDigest);
  });

  it('chains: a snapshot of a booted delta stands on that delta, and a third host assembles all three', async () => {
    await snapshotOnA();
    const b = host(glance, spool);
    await b.importer.ensureImage(SOURCE, glance.meta(SNAP));
    const snap2 = await dockerArchive([L1, L2, L3], { label: 'snap2' });
    commit(b, snap2);
    // nova-api copies the instance's image properties to its snapshot
    glance.queue(SNAP2, { [BASE_IMAGE_PROPERTY]: BASE, [DELTA_DEPTH_PROPERTY]: '1' });
    const r = await b.exporter.export(SOURCE, 'nova-snapshot:x', SNAP2, { parentImageId: SNAP });
    assert.deepEqual(r.delta, { baseImageId: SNAP, depth: 2, carried: [snap2.diffIds[2]] });
    assert.equal((await glance.getImage(SNAP2))[BASE_IMAGE_PROPERTY], SNAP);

    const c = host(glance, spool);
    const got = await c.importer.ensureImage(SOURCE, glance.meta(SNAP2));
    assert.deepEqual(got.downloadedIds, [BASE, SNAP, SNAP2]);
    assert.deepEqual(got.layers, snap2.diffIds);
  });

  it('a layer that repeats (commits that changed nothing add the same empty layer): carried once, also when the base holds it, and the delta boots elsewhere', async () => {
    const same = await layerTar('etc/unchanged', '');
    const base2 = await dockerArchive([L1, same], { label: 'base2' });
    glance.put(BASE, base2.archive);
    const a = host(glance, spool);
    await a.importer.ensureImage(SOURCE, glance.meta(BASE));
    const repeated = await dockerArchive([L1, same, L2, same, same], { label: 'repeated' });
    commit(a, repeated);
    glance.queue(SNAP);
    const r = await a.exporter.export(SOURCE, 'nova-snapshot:x', SNAP, { parentImageId: BASE });
    assert.deepEqual(r.delta, { baseImageId: BASE, depth: 1, carried: [`sha256:${sha256(L2)}`, `sha256:${sha256(same)}`] });
    const names = (await readTar(glance.data.get(SNAP)!)).filter((e) => e.type === 'file').map((e) => e.name);
    assert.equal(new Set(names).size, names.length, `each entry once: ${names.join(', ')}`);
    const b = host(glance, spool);
    const got = await b.importer.ensureImage(SOURCE, glance.meta(SNAP));
    assert.deepEqual(got.downloadedIds, [BASE, SNAP]);
    assert.deepEqual(got.layers, repeated.diffIds);
  });

  it('a chain whose bottom image is gone: the fault names the delta that lost its base, once', async () => {
    await snapshotOnA();
    const b = host(glance, spool);
    await b.importer.ensureImage(SOURCE, glance.meta(SNAP));
    commit(b, await dockerArchive([L1, L2, L3], { label: 'snap2' }));
    glance.queue(SNAP2);
    await b.exporter.export(SOURCE, 'nova-snapshot:x', SNAP2, { parentImageId: SNAP });
    glance.records.delete(BASE);
    const c = host(glance, spool);
    const err = await c.importer.ensureImage(SOURCE, glance.meta(SNAP2)).catch((e: unknown) => e);
    assert.equal(String((err as Error).message), `Delta snapshot ${SNAP} needs base image ${BASE}, which Glance does not show this project (deleted?)`);
    assert.equal(c.engine.images.size, 0);
  });

  it('uploads the whole image past snapshot_delta_depth, dropping the base properties the snapshot inherited', async () => {
    await snapshotOnA();
    const b = host(glance, spool, 1);
    await b.importer.ensureImage(SOURCE, glance.meta(SNAP));
    const snap2 = await dockerArchive([L1, L2, L3], { label: 'snap2' });
    commit(b, snap2);
    glance.queue(SNAP2, { [BASE_IMAGE_PROPERTY]: BASE, [DELTA_DEPTH_PROPERTY]: '1' });
    const r = await b.exporter.export(SOURCE, 'nova-snapshot:x', SNAP2, { parentImageId: SNAP });
    assert.equal(r.delta, undefined);
    assert.equal(r.size, snap2.archive.length);
    const rec = await glance.getImage(SNAP2);
    assert.equal(BASE_IMAGE_PROPERTY in rec, false);
    assert.equal(DELTA_DEPTH_PROPERTY in rec, false);
    const c = host(glance, spool);
    assert.deepEqual((await c.importer.ensureImage(SOURCE, glance.meta(SNAP2))).downloadedIds, [SNAP2]);
  });

  it('uploads the whole image when asked to (shelve), though a delta could be made', async () => {
    const a = host(glance, spool);
    await a.importer.ensureImage(SOURCE, glance.meta(BASE));
    commit(a, snap);
    glance.queue(SNAP);
    const r = await a.exporter.export(SOURCE, 'nova-snapshot:x', SNAP, { parentImageId: BASE, whole: true });
    assert.equal(r.delta, undefined);
    assert.equal(r.size, snap.archive.length);
    assert.equal(BASE_IMAGE_PROPERTY in (await glance.getImage(SNAP)), false);
  });

  it('uploads the whole image when the save\'s layer is not what the image says (no delta from a save it cannot check)', async () => {
    const bad = await dockerArchive([L1, L2], { label: 'snap', digestNames: true, replace: new Map([[1, L3]]) });
    const { size } = await snapshotOnA(bad.archive, { [BASE_IMAGE_PROPERTY]: 'inherited', [DELTA_DEPTH_PROPERTY]: '3' });
    assert.equal(size, bad.archive.length);
    const rec = await glance.getImage(SNAP);
    assert.equal(BASE_IMAGE_PROPERTY in rec, false, 'the inherited base property removed');
    assert.equal(DELTA_DEPTH_PROPERTY in rec, false);
  });

  it('a base Glance no longer has: a readable failure, and nothing left in the engine', async () => {
    await snapshotOnA();
    glance.records.delete(BASE);
    const b = host(glance, spool);
    const err = await b.importer.ensureImage(SOURCE, glance.meta(SNAP)).catch((e: unknown) => e);
    assert.ok(err instanceof ImageImportFailed);
    assert.equal(err.message, `Delta snapshot ${SNAP} needs base image ${BASE}, which Glance does not show this project (deleted?)`);
    assert.equal(b.engine.images.size, 0);
  });

  it('a corrupt base: the base\'s verification failure, and nothing left in the engine', async () => {
    await snapshotOnA();
    const data = glance.data.get(BASE)!;
    data[data.length - 2000] ^= 1;
    const b = host(glance, spool);
    const err = await b.importer.ensureImage(SOURCE, glance.meta(SNAP)).catch((e: unknown) => e);
    assert.ok(err instanceof ImageImportFailed);
    assert.match(err.message, new RegExp(`^Delta snapshot ${SNAP}: its base image ${BASE} failed \\(download\\): Image ${BASE} failed verification`));
    assert.equal(b.engine.images.size, 0);
  });

  it('a base property pointing at another image: refused; that image, verified, stays cached for the cache\'s ageing', async () => {
    await snapshotOnA();
    const other = await dockerArchive([L3], { label: 'other' });
    glance.put('other', other.archive);
    glance.records.get(SNAP)![BASE_IMAGE_PROPERTY] = 'other';
    const b = host(glance, spool);
    const err = await b.importer.ensureImage(SOURCE, glance.meta(SNAP)).catch((e: unknown) => e);
    assert.ok(err instanceof ImageImportFailed);
    assert.match(err.message, /its layer 0 \(sha256:[0-9a-f]{64}\) is not layer 0 of its base image other/);
    assert.deepEqual(glance.downloads.slice(-2), ['other', SNAP]);
    assert.deepEqual([...b.engine.images.values()].map((i) => [...i.tags]), [['glance-image:other']], 'no image of the snapshot');
  });

  it('two boots at once of two images that name each other as base: both refused, neither waits forever', async () => {
    await snapshotOnA();
    glance.put('twin', snap.archive, { [BASE_IMAGE_PROPERTY]: SNAP });
    glance.records.get(SNAP)![BASE_IMAGE_PROPERTY] = 'twin';
    const b = host(glance, spool);
    const hang = new Promise((resolve) => setTimeout(() => resolve('hung'), 5000).unref());
    const results = await Promise.race([
      Promise.all([b.importer.ensureImage(SOURCE, glance.meta(SNAP)), b.importer.ensureImage(SOURCE, glance.meta('twin'))].map((p) => p.catch((e: unknown) => e))),
      hang,
    ]);
    assert.ok(Array.isArray(results), 'both boots ended');
    for (const r of results) assert.match(String(r), /chain of base images loops back to/);
    assert.equal(b.importer.stats().inFlight, 0);
  });

  it('a base this host has cached but the booting user cannot see in Glance: refused, not taken from the cache', async () => {
    await snapshotOnA();
    const b = host(glance, spool);
    await b.importer.ensureImage(SOURCE, glance.meta(BASE));
    glance.records.delete(BASE); // deleted, or another project's now: Glance answers 404 either way
    const err = await b.importer.ensureImage(SOURCE, glance.meta(SNAP)).catch((e: unknown) => e);
    assert.match(String(err), new RegExp(`Delta snapshot ${SNAP} needs base image ${BASE}, which Glance does not show this project`));
    assert.equal(await b.engine.inspectImage(`glance-image:${SNAP}`), null);
  });

  it('Glance refusing the properties: no save is left open, no spool left', async () => {
    const a = host(glance, spool);
    await a.importer.ensureImage(SOURCE, glance.meta(BASE));
    let saves = 0;
    commit(a, snap);
    const save = a.engine.saveImage.bind(a.engine);
    a.engine.saveImage = async () => { saves++; return save(); };
    glance.patch = async () => { throw new Error('409 Conflict'); };
    for (const deltaDepth of [8, 0]) {
      saves = 0;
      glance.queue(SNAP);
      const exporter = new SnapshotExporter(a.engine.asEngine(), { clientFor: () => glance, deltaDepth, spoolDir: spool });
      await assert.rejects(exporter.export(SOURCE, 'nova-snapshot:x', SNAP, { parentImageId: BASE }), /409 Conflict/);
      assert.equal(saves, deltaDepth ? 1 : 0, deltaDepth ? 'the delta read the save before the properties' : 'the whole image\'s save is not opened');
      assert.deepEqual(await readdir(spool), [], 'no spool left');
    }
  });

  it('a chain of bases that loops is refused before any download', async () => {
    await snapshotOnA();
    glance.records.get(BASE)![BASE_IMAGE_PROPERTY] = SNAP;
    const b = host(glance, spool);
    const before = glance.downloads.length;
    const err = await b.importer.ensureImage(SOURCE, glance.meta(SNAP)).catch((e: unknown) => e);
    assert.match(String(err), new RegExp(`chain of base images loops back to ${SNAP}`));
    assert.equal(glance.downloads.length, before);
    assert.equal(b.engine.images.size, 0);
  });
});
