/**
 * The Glance bridge against the local cloud's real Glance (Debian's packages) and its real
 * engine (dockerd 20.10 or podman 4.3, as its compute host is configured): images built offline
 * from busybox-static, uploaded with the real `openstack image create`, imported by
 * ImageImporter, snapshotted back by SnapshotExporter.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import axios from 'axios';
import { computeConfValue, openrcEnv, openstack, waitFor } from '../../helpers/cloud.js';
import { silentLogger, createLogger } from '../../../src/common/log.js';
import type { KeystoneAuthGroup } from '../../../src/config/types.js';
import type { ContainerEngine } from '../../../src/runtime/types.js';
import { unqualified } from '../../../src/runtime/podman-engine.js';
import {
  ImageImporter, ImageImportFailed, ImageVerificationFailed, InvalidImageArchive, KeystoneSession, ServiceTokenSource,
  SnapshotExporter, SnapshotUploadFailed, UserTokenSource, GlanceClient, SNAPSHOT_PROPERTIES, type GlanceImageMeta,
  type GlanceTokenSource, type V2CatalogEntry,
} from '../../../src/glance-bridge/index.js';
import {
  busyboxRootfs, cloudEngine, commitChange, dockerClient, ENGINE_DRIVER, engineTmpDir, importRootfs, md5, ociFromDockerArchive, randomData, runIn,
  saveImage, sha512, withEntry,
} from './images.js';
import { glanceImage } from '../../helpers/servers.js';

const RUN = `nctgb-${Date.now().toString(36)}`;
const log = process.env.GB_TEST_LOG ? createLogger({ level: 'debug', name: 'glance-bridge-test' }) : silentLogger();

interface Uploaded { id: string; data: Buffer; name: string }

function authFromConf(section: string): KeystoneAuthGroup {
  const v = (k: string): string | undefined => computeConfValue(section, k);
  return {
    auth_type: v('auth_type') ?? 'password', auth_url: v('auth_url'), username: v('username'), password: v('password'),
    project_name: v('project_name'), user_domain_name: v('user_domain_name') ?? 'Default',
    project_domain_name: v('project_domain_name') ?? 'Default', region_name: v('region_name'),
    valid_interfaces: (v('valid_interfaces') ?? 'internal,public').split(',').map((s) => s.trim()), timeout: 30,
  };
}

function adminAuth(): KeystoneAuthGroup {
  const e = openrcEnv();
  return {
    auth_type: 'password', auth_url: e.OS_AUTH_URL, username: e.OS_USERNAME, password: e.OS_PASSWORD, project_name: e.OS_PROJECT_NAME,
    user_domain_name: e.OS_USER_DOMAIN_NAME ?? 'Default', project_domain_name: e.OS_PROJECT_DOMAIN_NAME ?? 'Default',
    region_name: e.OS_REGION_NAME, valid_interfaces: ['public'], timeout: 30,
  };
}

/** The v3 catalog of a token in the v2 shape nova-api puts into RPC contexts. */
function v2Catalog(catalog: Array<{ type: string; name?: string; endpoints: Array<{ interface: string; region?: string | null; url: string }> }>): V2CatalogEntry[] {
  return catalog.map((e) => {
    const byRegion = new Map<string, V2CatalogEntry['endpoints'][number]>();
    for (const ep of e.endpoints) {
      const r = ep.region ?? '';
      const row = byRegion.get(r) ?? { region: ep.region ?? null };
      if (ep.interface === 'public') row.publicURL = ep.url;
      if (ep.interface === 'internal') row.internalURL = ep.url;
      if (ep.interface === 'admin') row.adminURL = ep.url;
      byRegion.set(r, row);
    }
    return { type: e.type, ...(e.name ? { name: e.name } : {}), endpoints: [...byRegion.values()] };
  });
}

describe(`glance-bridge with the real Glance and ${ENGINE_DRIVER}`, function () {
  this.timeout(300_000);
  let docker: Docker;
  let engine: ContainerEngine;
  let service: GlanceTokenSource;
  let adminSession: KeystoneSession;
  let user: GlanceTokenSource;
  let workDir: string;
  const glanceIds: string[] = [];
  const localRefs: string[] = [];
  let archiveA: Buffer; let archiveB: Buffer; let rootfs: Buffer;
  let idA: string; let idB: string; // engine image ids (config digests)
  let gA: Uploaded; let gB: Uploaded; let gBmismatch: Uploaded; let gOci: Uploaded;
  let ociConfig: string;

  async function upload(label: string, data: Buffer, format = 'docker'): Promise<Uploaded> {
    const name = `${RUN}-${label}`;
    const file = join(workDir, `${label}.tar`);
    writeFileSync(file, data);
    const row = await openstack<{ id: string; status: string }>(['image', 'create', '--container-format', format, '--disk-format', 'raw', '--file', file, name]);
    glanceIds.push(row.id);
    // The CLI may print the record from before the upload finished.
    await waitFor(`image ${name} active`, async () => (await glanceImage(row.id))?.status === 'active', 60_000, 500);
    return { id: row.id, data, name };
  }

  /** Nova's build_and_run_instance image dict for an uploaded image (as Glance shows it). */
  async function meta(u: Uploaded): Promise<GlanceImageMeta> {
    const img = await new GlanceClient(service).getImage(u.id);
    return { ...img, properties: {} } as GlanceImageMeta;
  }

  /** Image ids and the tags of dangling (untagged) or glance-image images, and the engine's tmp dir. */
  async function engineState(): Promise<{ images: Map<string, string[]>; tmp: string[] }> {
    const list = await docker.listImages({ all: true });
    return { images: new Map(list.map((i) => [i.Id, (i.RepoTags ?? []).map(unqualified)])), tmp: readdirSync(engineTmpDir()) };
  }

  async function assertNothingLeft(before: Awaited<ReturnType<typeof engineState>>, glanceId: string, label: string): Promise<void> {
    const after = await engineState();
    const added = [...after.images.keys()].filter((id) => !before.images.has(id));
    const leftovers = added.filter((id) => (after.images.get(id) ?? []).every((t) => t === '<none>:<none>' || t.startsWith('glance-image:')));
    assert.deepEqual(leftovers, [], `${label}: images left in the engine`);
    assert.equal(await engine.inspectImage(`glance-image:${glanceId}`), null, `${label}: a cache tag was left`);
    // dockerd removes its docker-import-* dir when its handler sees the cut request body,
    // which may be just after our call returned; podman its upload when its load ends.
    const t0 = Date.now();
    await waitFor(`${label}: the engine's tmp dir back to ${JSON.stringify(before.tmp)}`,
      async () => JSON.stringify(readdirSync(engineTmpDir())) === JSON.stringify(before.tmp), 10_000, 50).catch(() => undefined);
    assert.deepEqual(readdirSync(engineTmpDir()), before.tmp, `${label}: temp files left in the engine's tmp dir`);
    if (after.tmp.length !== before.tmp.length) console.log(`      (${ENGINE_DRIVER} removed its temp files ${Date.now() - t0} ms after the failure)`);
    assert.deepEqual(readdirSync(tmpdir()).filter((f) => /docker-import|glance/.test(f)), [], `${label}: temp files in ${tmpdir()}`);
  }

  /**
   * The engine's disk use: the layer store's total (dockerd's df; podman's is always 0, so
   * null) and each image's size, size shared with other images and (podman) its own.
   */
  async function layerStore(): Promise<{ total: number | null; images: Map<string, { size: number; shared: number; unique?: number }> }> {
    if (ENGINE_DRIVER === 'podman') {
      const df = await new Promise<{ Images: Array<{ ImageID: string; Size: number; SharedSize: number; UniqueSize: number }> }>((resolve, reject) => {
        docker.modem.dial({ path: '/v4.0.0/libpod/system/df', method: 'GET', statusCodes: { 200: true, 500: 'server error' } },
          (err, data) => (err ? reject(err) : resolve(data as never)));
      });
      return { total: null, images: new Map(df.Images.map((i) => [i.ImageID, { size: i.Size, shared: i.SharedSize, unique: i.UniqueSize }])) };
    }
    const df = await docker.df() as { LayersSize: number; Images: Array<{ Id: string; SharedSize: number; Size: number }> };
    return { total: df.LayersSize, images: new Map(df.Images.map((i) => [i.Id.replace(/^sha256:/, ''), { size: i.Size, shared: i.SharedSize }])) };
  }

  before(async function () {
    this.timeout(300_000);
    workDir = mkdtempSync(join(tmpdir(), `${RUN}-`));
    engine = cloudEngine(join(workDir, 'engine-state'), 120_000);
    docker = dockerClient();
    await engine.info().catch((err: unknown) => {
      throw new Error(`the local cloud's ${ENGINE_DRIVER} is not up (./devstack/local-cloud.sh up): ${String(err)}`);
    });
    service = new ServiceTokenSource(new KeystoneSession(authFromConf('glance'), log));
    adminSession = new KeystoneSession(adminAuth(), log);
    const tok = await adminSession.getToken();
    user = new UserTokenSource({ authToken: tok.id, serviceCatalog: v2Catalog(tok.catalog as never), interfaces: ['public'] });

    // Image A: busybox rootfs; image B: A plus one committed layer.
    rootfs = await busyboxRootfs();
    idA = await importRootfs(docker, rootfs, `${RUN}-a`, 'v1');
    localRefs.push(`${RUN}-a:v1`);
    idB = await commitChange(docker, `${RUN}-a:v1`, 'echo layer-b > /etc/layer-b', `${RUN}-b`, 'v1');
    localRefs.push(`${RUN}-b:v1`);
    archiveA = await saveImage(docker, idA);
    archiveB = await saveImage(docker, idB);
    const oci = await ociFromDockerArchive(archiveB);
    ociConfig = oci.configDigest;
    // The engine starts without them: every import below really loads.
    await docker.getImage(idB).remove({ force: true });
    await docker.getImage(idA).remove({ force: true });

    [gA, gB, gBmismatch, gOci] = await Promise.all([
      upload('a', archiveA), upload('b', archiveB), upload('b-mismatch', archiveB), upload('oci-b', oci.oci),
    ]);
  });

  after(async function () {
    this.timeout(120_000);
    const importer = new ImageImporter(engine, { log });
    for (const id of glanceIds) {
      await importer.releaseImage(id).catch(() => undefined);
      await engine.removeImage(`glance-image:${id}`).catch(() => undefined);
    }
    for (const ref of [...localRefs].reverse()) await engine.removeImage(ref).catch(() => undefined);
    for (const id of [idB, idA]) if (id) await engine.removeImage(id).catch(() => undefined);
    const glance = new GlanceClient(service);
    for (const id of glanceIds) await glance.deleteImage(id).catch((err: unknown) => console.error(`could not delete Glance image ${id}: ${String(err)}`));
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('an OCI image layout (gzip layers) loads through the on-the-fly conversion to a docker archive', async () => {
    const importer = new ImageImporter(engine, { log });
    const t0 = Date.now();
    const r = await importer.ensureImage(user, await meta(gOci));
    console.log(`      OCI import of ${gOci.data.length} bytes: ${Date.now() - t0} ms`);
    assert.equal(r.downloaded, true);
    assert.equal(r.imageId, ociConfig, 'the engine image id is the OCI config digest');
    assert.equal(r.imageId, idB, 'the same image as the docker archive it came from');
    assert.equal(r.layers.length, 2);
    assert.match(await runIn(docker, r.ref, ['/bin/cat', '/etc/layer-b']), /layer-b/);
    assert.equal(await importer.releaseImage(gOci.id), 'removed');
    assert.equal(await engine.inspectImage(idB), null);
  });

  it('a checksum mismatch (good data, wrong os_hash_value) downloads everything, then aborts the load: nothing registered', async () => {
    const importer = new ImageImporter(engine, { log });
    const before = await engineState();
    const dict = { ...await meta(gBmismatch), os_hash_value: sha512('not the data') };
    const err = await importer.ensureImage(service, dict).catch((e: unknown) => e);
    assert.ok(err instanceof ImageImportFailed, String(err));
    assert.ok(err.cause instanceof ImageVerificationFailed, String(err.cause));
    console.log(`      ${err.message.slice(0, 160)}...`);
    assert.equal(importer.stats().downloadedBytes, archiveB.length, 'the whole image went through');
    assert.equal(await engine.inspectImage(idB), null, 'the image whose data fully reached the engine is not registered');
    await assertNothingLeft(before, gBmismatch.id, 'checksum mismatch');
    // A wrong md5 alone is caught the same way.
    const err2 = await importer.ensureImage(service, { ...await meta(gBmismatch), os_hash_algo: null, os_hash_value: null, checksum: md5('x') }).catch((e: unknown) => e);
    assert.match(String((err2 as Error).message), /md5 checksum is [0-9a-f]{32}, Glance recorded/);
    assert.equal(await engine.inspectImage(idB), null);
  });

  it('imports A (service token), then serves it from the cache without downloading', async () => {
    const importer = new ImageImporter(engine, { log });
    const t0 = Date.now();
    const first = await importer.ensureImage(service, await meta(gA));
    const ms = Date.now() - t0;
    assert.equal(first.downloaded, true);
    assert.equal(first.imageId, idA);
    assert.equal(first.ref, `glance-image:${gA.id}`);
    const info = await engine.inspectImage(first.ref);
    assert.deepEqual(info?.tags, [`glance-image:${gA.id}`], 'only our cache tag: the archive\'s RepoTags were not applied');
    const t1 = Date.now();
    const second = await importer.ensureImage(service, await meta(gA));
    const ms2 = Date.now() - t1;
    assert.equal(second.downloaded, false);
    assert.equal(second.imageId, idA);
    assert.deepEqual(importer.stats().downloads, 1);
    console.log(`      import of A (${gA.data.length} bytes): ${ms} ms; cached second call: ${ms2} ms`);
    assert.equal((await runIn(docker, first.ref, ['/bin/echo', 'hello'])).trim(), 'hello');
  });

  it('two concurrent imports of B download once; B\'s base layer is stored once (shared with A)', async () => {
    const importer = new ImageImporter(engine, { log });
    const store0 = await layerStore();
    const t0 = Date.now();
    const [r1, r2] = await Promise.all([importer.ensureImage(service, await meta(gB)), importer.ensureImage(user, await meta(gB))]);
    const ms = Date.now() - t0;
    assert.equal(importer.stats().downloads, 1, 'one download for two calls');
    assert.equal(importer.stats().downloadedBytes, archiveB.length);
    assert.deepEqual([r1.downloaded, r2.downloaded].sort(), [false, true]);
    assert.equal(r1.imageId, idB);
    assert.equal(r2.imageId, idB);
    const a = await engine.inspectImage(`glance-image:${gA.id}`);
    assert.equal(r1.layers[0], a!.layers[0], 'B\'s base layer is A\'s layer');
    const store1 = await layerStore();
    const bRow = store1.images.get(idB.replace(/^sha256:/, ''))!;
    // podman reports no store total: what B holds alone is what the store grew by
    const growth = store1.total === null || store0.total === null ? bRow.unique! : store1.total - store0.total;
    console.log(`      concurrent import of B (${gB.data.length} bytes): ${ms} ms; layer store grew ${growth} bytes; B size ${bRow.size}, shared ${bRow.shared}`);
    assert.ok(growth < rootfs.length / 10, `the layer store grew by ${growth} bytes, less than a tenth of the busybox layer (${rootfs.length})`);
    assert.ok(bRow.shared >= rootfs.length / 2, `${ENGINE_DRIVER} reports the busybox layer as shared`);
  });

  describe('bad images fail readably and leave no image, tag or temp file', () => {
    const cases: Array<{ label: string; data: () => Promise<Buffer>; cls: new (...a: never[]) => Error; msg: RegExp }> = [
      { label: 'not-a-tar', data: async () => randomData(200_000), cls: InvalidImageArchive, msg: /not a \(complete\) tar archive/ },
      { label: 'rootfs-not-image', data: async () => rootfs, cls: InvalidImageArchive, msg: /neither manifest\.json \(docker save\) nor index\.json/ },
      { label: 'dotdot-entry', data: async () => withEntry(archiveB, { name: '../../../../tmp/evil', data: Buffer.from('x') }), cls: InvalidImageArchive, msg: /path that leaves the archive/ },
      { label: 'symlink-escape', data: async () => withEntry(archiveB, { name: 'evil', type: 'symlink', linkname: '../../../../etc/shadow' }), cls: InvalidImageArchive, msg: /points outside the archive/ },
    ];
    for (const c of cases) {
      it(c.label, async () => {
        const u = await upload(c.label, await c.data());
        const importer = new ImageImporter(engine, { log });
        const before = await engineState();
        const err = await importer.ensureImage(service, await meta(u)).catch((e: unknown) => e);
        assert.ok(err instanceof ImageImportFailed, `accepted: ${String(err)}`);
        assert.ok(err.cause instanceof c.cls, String(err.cause));
        assert.match(err.message, c.msg);
        assert.match(err.message, new RegExp(`^Import of image ${u.id} failed \\(download\\): Image ${u.id} holds no valid container image archive: `));
        console.log(`      ${err.message.replace(/^.*?: Image \S+ /, '')}`);
        await assertNothingLeft(before, u.id, c.label);
      });
    }
  });

  it('snapshot: commit a change, export to a queued image (no formats, as nova-api creates it), active, imports back with the change', async () => {
    const importer = new ImageImporter(engine, { log });
    const exporter = new SnapshotExporter(engine, { log });
    const base = await importer.ensureImage(service, await meta(gA));
    // The "instance": a container of A that writes a file; the caller commits it.
    const snapRepo = `${RUN}-snap`;
    const committed = await commitChange(docker, base.ref, 'echo snapshot-data > /root/snap.txt', snapRepo, 'v1');
    localRefs.push(`${snapRepo}:v1`);
    // nova-api: POST /v2/images with name and inherited properties, no disk/container format.
    const tok = await adminSession.getToken();
    const glanceUrl = (await adminSession.endpoint('image')).replace(/\/v2\/?$/, '');
    const created = await axios.post<{ id: string; status: string; disk_format: string | null }>(`${glanceUrl}/v2/images`,
      { name: `${RUN}-snapshot`, image_type: 'snapshot' }, { headers: { 'X-Auth-Token': tok.id } });
    glanceIds.push(created.data.id);
    assert.equal(created.data.status, 'queued');
    assert.equal(created.data.disk_format, null);

    const t0 = Date.now();
    const r = await exporter.export(user, `${snapRepo}:v1`, created.data.id, { parentImageId: gA.id, properties: { image_location: 'snapshot' } });
    console.log(`      snapshot upload of ${r.size} bytes: ${Date.now() - t0} ms`);
    assert.equal(r.engineImageId, committed);
    const shown = await openstack<Record<string, unknown>>(['image', 'show', created.data.id]);
    assert.equal(shown.status, 'active');
    assert.equal(shown.container_format, 'docker');
    assert.equal(shown.disk_format, 'raw');
    assert.equal(shown.checksum, r.checksum);
    assert.equal(shown.size, r.size);
    const props = shown.properties as Record<string, string>;
    assert.equal(props[SNAPSHOT_PROPERTIES.parent], gA.id);
    assert.equal(props[SNAPSHOT_PROPERTIES.imageId], committed);
    assert.equal(props[SNAPSHOT_PROPERTIES.layerCount], '2');
    assert.equal(props[SNAPSHOT_PROPERTIES.topLayer], r.layers[1]);
    assert.equal(props.image_location, 'snapshot');
    assert.equal(exporter.stats().uploads, 1);

    // Booting from the snapshot here is a cache hit (the exporter tagged it) ...
    assert.equal((await importer.ensureImage(service, await meta({ id: created.data.id, data: Buffer.alloc(0), name: '' }))).downloaded, false);
    // ... and on a host without it, a real download that holds the change.
    assert.equal(await importer.releaseImage(created.data.id), 'untagged'); // the committed tag still names it
    await engine.removeImage(`${snapRepo}:v1`);
    assert.equal(await engine.inspectImage(committed), null);
    const back = await importer.ensureImage(service, await meta({ id: created.data.id, data: Buffer.alloc(0), name: '' }));
    assert.equal(back.downloaded, true);
    assert.equal(back.imageId, committed, 'the same engine image id on re-import');
    assert.equal((await runIn(docker, back.ref, ['/bin/cat', '/root/snap.txt'])).trim(), 'snapshot-data');
  });

  it('exporting into an image that is not queued fails with a clear error', async () => {
    const exporter = new SnapshotExporter(engine, { log });
    const err = await exporter.export(service, `glance-image:${gA.id}`, gA.id).catch((e: unknown) => e);
    assert.ok(err instanceof SnapshotUploadFailed);
    assert.equal(err.stage, 'prepare');
    assert.match(err.message, new RegExp(`Snapshot upload to image ${gA.id} failed \\(prepare\\): the Glance image is active; only a queued image can take data`));
    const missing = await exporter.export(service, 'no-such-image:x', gA.id).catch((e: unknown) => e);
    assert.match(String((missing as Error).message), /failed \(inspect\): no image no-such-image:x in the container engine/);
  });
});
