/**
 * The shared test image of the lifecycle tests, built offline: a busybox rootfs (Debian's
 * busybox-static) imported into the cloud's engine with a CMD that prints a marker line,
 * prints its environment and sleeps; `docker save`d, then removed from the engine so that a
 * boot must download it from Glance; uploaded with
 * `openstack image create --container-format docker --disk-format raw --file ... --public`.
 *
 * Built once per mocha run; the Glance image is deleted by a root-level `after` hook (this
 * module registers it when a spec file first imports it), so every lifecycle file can use it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxRootfs, saveImage } from '../glance-bridge/images.js';
import { Created, engine, importRootfsWith } from '../../helpers/servers.js';

// with the process id: npm test runs two test processes at once (test/run-all.sh), which can start in the same millisecond
export const RUN = `nclc-${Date.now().toString(36)}-${process.pid.toString(36)}`;
export const MARKER = `NOVA-CONTAINER-MARKER-${RUN}`;
/** What the image's CMD runs. */
export const IMAGE_SCRIPT = `echo ${MARKER}; env; exec sleep 1000000`;

export interface TestArchive { archive: Buffer; rootfs: Buffer; engineImageId: string }
export interface TestImage { id: string; name: string }

const shared = new Created();
let dir: string | undefined;
let archive: Promise<TestArchive> | undefined;
let image: Promise<TestImage> | undefined;

/** A scratch directory for upload files and user data, removed after the run. */
export function workDir(): string {
  dir ??= mkdtempSync(join(tmpdir(), `${RUN}-`));
  return dir;
}

/** The `docker save` archive of the marker image; the engine no longer has the image. */
export function testArchive(): Promise<TestArchive> {
  archive ??= (async () => {
    const rootfs = await busyboxRootfs();
    const ref = `${RUN}-busybox:v1`;
    const engineImageId = await importRootfsWith(rootfs, ref, [`CMD ["/bin/sh", "-c", "${IMAGE_SCRIPT}"]`]);
    const saved = await saveImage(engine(), ref);
    await engine().getImage(ref).remove({ force: true });
    return { archive: saved, rootfs, engineImageId };
  })();
  archive.catch(() => { archive = undefined; });
  return archive;
}

/** The marker image in Glance (public), shared by the lifecycle tests. */
export function sharedImage(): Promise<TestImage> {
  image ??= (async () => {
    const name = `${RUN}-busybox`;
    const id = await shared.uploadImage(name, (await testArchive()).archive);
    return { id, name };
  })();
  image.catch(() => { image = undefined; });
  return image;
}

/** One more Glance image of the same archive (a new Glance id: a new download), owned by `c`. */
export async function newImageOfArchive(c: Created, label: string): Promise<TestImage> {
  const name = `${RUN}-${label}`;
  return { id: await c.uploadImage(name, (await testArchive()).archive), name };
}

after(async function () {
  this.timeout(180_000);
  await shared.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});
