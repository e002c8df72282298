import { strict as assert } from 'node:assert';
import { Readable } from 'node:stream';
import { ImageNotFound, SnapshotUploadFailed, findImageNotFound } from '../../../src/glance-bridge/errors.js';
import { SnapshotExporter, SNAPSHOT_PROPERTIES, snapshotProperties, type SnapshotTarget } from '../../../src/glance-bridge/exporter.js';
import type { GlanceImage, PatchOp } from '../../../src/glance-bridge/glance-client.js';
import type { GlanceTokenSource } from '../../../src/glance-bridge/token-source.js';
import { collect, FakeEngine, md5, sha512 } from './helpers.js';

const SOURCE = {} as GlanceTokenSource;
const LAYERS = [`sha256:${'a'.repeat(64)}`, `sha256:${'b'.repeat(64)}`];

class FakeTarget implements SnapshotTarget {
  image: GlanceImage = { id: 'snap', status: 'queued', disk_format: null, container_format: null, min_ram: 0 };
  patches: PatchOp[][] = [];
  uploaded: Buffer | null = null;
  recordWrongChecksum = false;

  async getImage(id: string): Promise<GlanceImage> {
    if (id !== this.image.id) throw new ImageNotFound(id);
    return { ...this.image };
  }
  async patch(_id: string, ops: PatchOp[]): Promise<GlanceImage> {
    this.patches.push(ops);
    for (const op of ops) if (op.op !== 'remove') this.image[op.path.slice(1)] = op.value;
    return { ...this.image };
  }
  async upload(_id: string, data: Readable): Promise<void> {
    this.uploaded = await collect(data);
    Object.assign(this.image, {
      status: 'active', size: this.uploaded.length, checksum: this.recordWrongChecksum ? md5('x') : md5(this.uploaded),
      os_hash_algo: 'sha512', os_hash_value: sha512(this.uploaded),
    });
  }
}

function setup(): { engine: FakeEngine; target: FakeTarget; exporter: SnapshotExporter } {
  const engine = new FakeEngine();
  engine.images.set('sha256:img', { id: 'sha256:img', tags: new Set(['snap-repo:1']), layers: LAYERS });
  engine.saveImage = async () => Readable.from([Buffer.from('docker save output')]);
  const target = new FakeTarget();
  return { engine, target, exporter: new SnapshotExporter(engine.asEngine(), { clientFor: () => target }) };
}

describe('glance-bridge SnapshotExporter (fakes)', () => {
  it('builds compact properties that fit Glance\'s 255 characters', () => {
    const p = snapshotProperties('sha256:img', LAYERS, { parentImageId: 'parent-id', properties: { image_location: 'snapshot' } });
    assert.equal(p[SNAPSHOT_PROPERTIES.parent], 'parent-id');
    assert.equal(p[SNAPSHOT_PROPERTIES.layerCount], '2');
    assert.match(p[SNAPSHOT_PROPERTIES.layersDigest], /^[0-9a-f]{64}$/);
    assert.equal(p[SNAPSHOT_PROPERTIES.topLayer], LAYERS[1]);
    assert.equal(p.image_location, 'snapshot');
    const many = Array.from({ length: 500 }, (_, i) => `sha256:${String(i).padStart(64, '0')}`);
    assert.ok(Object.values(snapshotProperties('sha256:img', many, {})).every((v) => v.length <= 255));
    assert.throws(() => snapshotProperties('x', [], { properties: { status: 'active' } }), /reserved by Glance/);
    assert.throws(() => snapshotProperties('x', [], { properties: { long: 'x'.repeat(256) } }), /Glance allows 255/);
  });

  it('patches formats and properties, uploads the save stream, confirms active, tags the cache', async () => {
    const { engine, target, exporter } = setup();
    const r = await exporter.export(SOURCE, 'snap-repo:1', 'snap', { parentImageId: 'p' });
    assert.equal(target.patches.length, 1);
    const ops = target.patches[0];
    assert.deepEqual(ops.find((o) => o.path === '/disk_format'), { op: 'replace', path: '/disk_format', value: 'raw' });
    assert.deepEqual(ops.find((o) => o.path === '/container_format'), { op: 'replace', path: '/container_format', value: 'docker' });
    assert.deepEqual(ops.find((o) => o.path === `/${SNAPSHOT_PROPERTIES.parent}`), { op: 'add', path: `/${SNAPSHOT_PROPERTIES.parent}`, value: 'p' });
    assert.equal(target.uploaded?.toString(), 'docker save output');
    assert.equal(r.size, 18);
    assert.equal(r.checksum, md5('docker save output'));
    assert.equal(r.engineImageId, 'sha256:img');
    assert.ok(engine.images.get('sha256:img')!.tags.has('glance-image:snap'));
    assert.deepEqual(exporter.stats(), { uploads: 1, uploadedBytes: 18, failures: 0 });
  });

  it('says which step failed', async () => {
    const { target, exporter } = setup();
    const missing = await exporter.export(SOURCE, 'nope', 'snap').catch((e: unknown) => e);
    assert.ok(missing instanceof SnapshotUploadFailed && missing.stage === 'inspect');
    const gone = await exporter.export(SOURCE, 'snap-repo:1', 'deleted-by-user').catch((e: unknown) => e);
    assert.ok(gone instanceof SnapshotUploadFailed && gone.stage === 'prepare');
    assert.ok(findImageNotFound(gone), 'the manager can tell the user deleted the image');
    target.recordWrongChecksum = true;
    const bad = await exporter.export(SOURCE, 'snap-repo:1', 'snap').catch((e: unknown) => e);
    assert.ok(bad instanceof SnapshotUploadFailed && bad.stage === 'confirm');
    assert.match(bad.message, /Glance recorded checksum [0-9a-f]{32}, we sent/);
    const again = await exporter.export(SOURCE, 'snap-repo:1', 'snap').catch((e: unknown) => e);
    assert.match(String(again), /failed \(prepare\): the Glance image is active; only a queued image can take data/);
    assert.equal(exporter.stats().failures, 4);
  });
});
