/**
 * Delta snapshots against the local cloud, with the `openstack` CLI: a 10 MB image, a server
 * that writes 1 MB, `openstack server image create` uploads about that 1 MB (an OCI
 * layout naming its base, which `openstack image save` gives back); with neither image cached
 * any more, a server booted from the snapshot fetches the base from Glance first and sees the
 * change; a snapshot of that server chains; on the second compute host of the local cloud
 * (COMPUTE_HOSTS=2), which never had either image, a boot from the snapshot sees the change; a
 * corrupt or deleted base puts a boot in ERROR with a readable fault and leaves nothing behind.
 */
import { strict as assert } from 'node:assert';
import type Docker from 'dockerode';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxRootfs, makeTar, randomData, readTar, saveImage } from '../glance-bridge/images.js';
import {
  Created, allocations, cli, deleteWithCli, engine, engineImageTagged, execIn, importRootfsWith, inspectContainer, logRecords, waitForServer,
  waitForStatus,
} from '../../helpers/servers.js';
import { glanceStoreDir } from '../../helpers/glance-store.js';
import { workDir } from '../lifecycle/fixture.js';
import { twoHosts } from '../../helpers/two-hosts.js';

const RUN = `ncds-${Date.now().toString(36)}`;
const MB = 1024 * 1024;

interface ImageShown { size: number; properties: Record<string, string> }

async function imageShow(id: string): Promise<ImageShown> {
  return JSON.parse(await cli(['image', 'show', id, '-f', 'json'])) as ImageShown;
}

/** The sha256 of a file in the server's container (on engine `on`), by busybox. */
async function sumIn(server: string, path: string, on: Docker = engine()): Promise<string> {
  const r = await execIn(server, ['/bin/busybox', 'sha256sum', path], on);
  assert.equal(r.exitCode, 0, r.output);
  return r.output.trim().split(/\s+/)[0];
}

describe('delta snapshots: only the change goes to Glance, the chain comes back at boot', function () {
  this.timeout(600_000);
  const c = new Created();
  let base: string;
  let snap: string;
  let child: string;
  let written: string;

  /** Deletes the servers and takes the images out of the engine's cache: a boot must fetch from Glance. */
  async function evict(...ids: string[]): Promise<void> {
    for (const s of [...c.servers]) {
      await deleteWithCli(s);
      c.servers.delete(s);
    }
    for (const id of ids) {
      await engine().getImage(`glance-image:${id}`).remove().catch(() => undefined);
      assert.equal(await engineImageTagged(`glance-image:${id}`), false, `${id} still cached`);
    }
  }

  before(async () => {
    // 10 MB: busybox and 8 MB of random data, one layer
    const rootfs = await readTar(await busyboxRootfs());
    const tenMb = await makeTar([...rootfs, { name: 'opt/', type: 'directory' }, { name: 'opt/ballast', data: randomData(8 * MB) }]);
    const ref = `${RUN}-ten:v1`;
    await importRootfsWith(tenMb, ref, ['CMD ["/bin/sh", "-c", "exec sleep 1000000"]']);
    const archive = await saveImage(engine(), ref);
    await engine().getImage(ref).remove({ force: true });
    base = await c.uploadImage(`${RUN}-ten`, archive);
  });

  /** The second host's engine, once a test booted there: what it cached goes after the servers. */
  let secondEngine: Docker | undefined;

  after(async function () {
    this.timeout(180_000);
    await c.cleanup();
    for (const id of [base, snap]) await secondEngine?.getImage(`glance-image:${id}`).remove().catch(() => undefined);
  });

  it('a 1 MB change: about 1 MB uploaded, as an OCI layout that names its base', async () => {
    const server = await c.boot(`${RUN}-src`, { image: base });
    await waitForStatus(server, 'ACTIVE');
    const w = await execIn(server, ['/bin/busybox', 'sh', '-c', `/bin/busybox head -c ${MB} /dev/urandom > /root/mb`]);
    assert.equal(w.exitCode, 0, w.output);
    written = await sumIn(server, '/root/mb');

    const t0 = Date.now();
    snap = await c.snapshot(server, `${RUN}-snap`);
    const ms = Date.now() - t0;
    const shown = await imageShow(snap);
    const baseSize = (await imageShow(base)).size;
    console.log(`      snapshot ${snap}: ${shown.size} bytes uploaded (the image ${baseSize}), server image create to active ${ms} ms`);
    assert.equal(shown.properties.nova_container_base_image, base);
    assert.equal(shown.properties.nova_container_delta_depth, '1');

    const file = join(workDir(), `${RUN}-snap.tar`);
    c.files.add(file);
    await cli(['image', 'save', '--file', file, snap]);
    const entries = await readTar(readFileSync(file));
    const index = JSON.parse(entries.find((e) => e.name === 'index.json')!.data!.toString()) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse(entries.find((e) => e.name === `blobs/sha256/${index.manifests[0].digest.slice(7)}`)!.data!.toString()) as {
      layers: Array<{ digest: string; size: number }>; annotations: Record<string, string>;
    };
    assert.equal(manifest.annotations['org.openstack.nova-container.base-image'], base);
    const present = manifest.layers.filter((l) => entries.some((e) => e.name === `blobs/sha256/${l.digest.slice(7)}`));
    assert.equal(present.length, 1, 'only the snapshot\'s own layer is in the upload');
    assert.ok(manifest.layers.length > 1, 'the base\'s layers are named, not carried');
    const layerBytes = present[0].size;
    const rest = entries.filter((e) => e.type === 'file' && e.name !== `blobs/sha256/${present[0].digest.slice(7)}`).reduce((n, e) => n + e.data!.length, 0);
    console.log(`      layer ${layerBytes} bytes for ${MB} written; config, manifest and index ${rest} bytes`);
    assert.ok(layerBytes <= 1.1 * MB, `the layer is ${layerBytes} bytes for a ${MB}-byte change`);
    assert.ok(shown.size <= 1.1 * MB + rest + 10 * 512, `${shown.size} bytes uploaded`);
  });

  it('with neither image cached, a server booted from the snapshot fetches the base, then the delta, and sees the change', async () => {
    await evict(base, snap);
    const baseImports = logRecords('imported Glance image', { glanceImageId: base }).length;
    child = await c.boot(`${RUN}-child`, { image: snap });
    await waitForStatus(child, 'ACTIVE', 120_000);
    assert.equal(await sumIn(child, '/root/mb'), written);
    assert.equal(logRecords('imported Glance image', { glanceImageId: base }).length, baseImports + 1, 'the base was downloaded again');
    const delta = logRecords('imported Glance image', { glanceImageId: snap }).pop();
    assert.equal(delta?.baseImage, base);
    assert.equal(delta?.layersFromBase, 1);
  });

  it('a snapshot of that server stands on the snapshot, and a boot with nothing cached assembles all three', async () => {
    const w = await execIn(child, ['/bin/busybox', 'sh', '-c', 'echo second-generation > /root/second']);
    assert.equal(w.exitCode, 0, w.output);
    const snap2 = await c.snapshot(child, `${RUN}-snap2`);
    const shown = await imageShow(snap2);
    assert.equal(shown.properties.nova_container_base_image, snap, 'nova-api copied the first snapshot\'s properties; the upload set its own');
    assert.equal(shown.properties.nova_container_delta_depth, '2');
    assert.ok(shown.size < MB / 2, `${shown.size} bytes for a one-line change`);

    await evict(base, snap, snap2);
    const grandchild = await c.boot(`${RUN}-grandchild`, { image: snap2 });
    await waitForStatus(grandchild, 'ACTIVE', 120_000);
    assert.equal(await sumIn(grandchild, '/root/mb'), written);
    assert.equal((await execIn(grandchild, ['cat', '/root/second'])).output.trim(), 'second-generation');
  });

  it('on the second host, which never had either image, a server booted from the snapshot fetches both and sees the change', async () => {
    const { second, engine2 } = await twoHosts();
    secondEngine = engine2;
    const cached = async (id: string) => (await engine2.getImage(`glance-image:${id}`).inspect().catch(() => null)) !== null;
    assert.deepEqual([await cached(base), await cached(snap)], [false, false], 'the second host has neither image');
    // the second host takes servers of project moves only (devstack/lib/compute_hosts.sh): both images shown to it
    for (const id of [base, snap]) await cli(['image', 'set', '--public', id]);
    const there = await c.boot(`${RUN}-second`, { image: snap, host: second.name, rc: 'movesrc' });
    const s = await waitForStatus(there, 'ACTIVE', 120_000);
    assert.equal(s['OS-EXT-SRV-ATTR:host'], second.name);
    assert.equal(await sumIn(there, '/root/mb', engine2), written);
    assert.deepEqual([await cached(base), await cached(snap)], [true, true], 'both fetched from Glance');
  });

  async function bootFails(fault: RegExp): Promise<void> {
    await evict(base, snap);
    const id = await c.boot(`${RUN}-bad`, { image: snap });
    await waitForServer(id, 'ERROR', (x) => x?.status === 'ERROR', 120_000);
    const shown = JSON.parse(await cli(['server', 'show', id, '-f', 'json'])) as { fault?: { message: string } };
    console.log(`      fault: ${shown.fault?.message}`);
    assert.match(shown.fault?.message ?? '', fault);
    assert.equal(await inspectContainer(id), null, 'no container');
    assert.equal(await engineImageTagged(`glance-image:${snap}`), false, 'the snapshot is not cached');
    assert.equal(await engineImageTagged(`glance-image:${base}`), false, 'nor its base');
    assert.deepEqual(await allocations(id), {}, 'the allocation was given back');
  }

  it('a corrupt base (its bytes changed in Glance\'s store): ERROR with the base\'s verification failure, nothing left', async () => {
    const file = join(glanceStoreDir(), base);
    const stored = readFileSync(file);
    const original = Buffer.from(stored);
    for (let i = 0; i < 16; i++) stored[(stored.length >> 1) + i] ^= 0xff;
    writeFileSync(file, stored);
    try {
      await bootFails(new RegExp(`its base image ${base} failed \\(download\\): Image ${base} failed verification`));
    } finally {
      writeFileSync(file, original);
    }
  });

  it('a base deleted from Glance: ERROR with a fault that says so, nothing left', async () => {
    await cli(['image', 'delete', base]);
    c.images.delete(base);
    await bootFails(new RegExp(`Delta snapshot ${snap} needs base image ${base}, which Glance does not show this project \\(deleted\\?\\)`));
  });
});
