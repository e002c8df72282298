/**
 * Images at boot: two servers booted at once from a new image download it once; an image
 * removed from the engine behind the host's back (on dockerd the sandboxes' image too) is made
 * present again by the next boot; a bad image puts the server in ERROR with a fault that says
 * what is wrong, and leaves no container, no cached image and no temp files in the engine, and
 * no Placement allocation.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomData, withEntry } from '../glance-bridge/images.js';
import {
  Created, SANDBOXED, allocations, cli, deleteWithCli, engine, engineImageTagged, engineTmp, getServer, inspectContainer, logRecords, newEngineTmpEntries,
  sandboxNameOf, sleep, waitForServer, waitForStatus, type Server,
} from '../../helpers/servers.js';
import { glanceStoreDir } from '../../helpers/glance-store.js';
import { RUN, newImageOfArchive, testArchive } from './fixture.js';

describe('lifecycle: images at boot', function () {
  this.timeout(300_000);
  const c = new Created();

  after(async function () {
    this.timeout(180_000);
    await c.cleanup();
  });

  it('two servers booted at once (--min 2 --max 2) from a new image: one download', async () => {
    const image = await newImageOfArchive(c, 'twice');
    const imported = (): number => logRecords('imported Glance image', { glanceImageId: image.id }).length;
    assert.equal(imported(), 0, 'not imported before');
    const t0 = Date.now();
    const ids = await c.bootMany(`${RUN}-twice`, 2, { image: image.id });
    // watch both builds: did their spawns overlap?
    let overlapped = false;
    const seen = new Map<string, Server | null>();
    for (;;) {
      for (const id of ids) seen.set(id, await getServer(id));
      const states = [...seen.values()];
      if (states.every((s) => s?.['OS-EXT-STS:task_state'] === 'spawning')) overlapped = true;
      if (states.every((s) => s?.status === 'ACTIVE' || s?.status === 'ERROR') || Date.now() - t0 > 120_000) break;
      await sleep(100);
    }
    for (const id of ids) await waitForStatus(id, 'ACTIVE', 1000);
    console.log(`      both ACTIVE ${Date.now() - t0} ms after the CLI call started; spawns seen overlapping: ${overlapped}`);
    assert.equal(imported(), 1, 'exactly one "imported Glance image" for the image');
    const [a, b] = await Promise.all(ids.map((id) => inspectContainer(id)));
    assert.equal(a?.State.Status, 'running');
    assert.equal(b?.State.Status, 'running');
    assert.equal(a?.Image, b?.Image, 'both containers run the same engine image');
  });

  it('an image removed from the engine behind the host\'s back (and on dockerd the sandboxes\' image): the next boot, refused at its create, makes it present again and goes ACTIVE', async () => {
    const image = await newImageOfArchive(c, 'removed');
    const imported = (): number => logRecords('imported Glance image', { glanceImageId: image.id }).length;
    const first = await c.boot(`${RUN}-removed-1`, { image: image.id });
    await waitForStatus(first, 'ACTIVE');
    const sandboxImage = SANDBOXED ? (await engine().getContainer(sandboxNameOf(first)).inspect()).Config.Image : null;
    await deleteWithCli(first);
    // the cache keeps an image nobody uses for a day: only a hand takes it away now
    await engine().getImage(`glance-image:${image.id}`).remove();
    assert.equal(await engineImageTagged(`glance-image:${image.id}`), false);
    // other servers' sandboxes may run it: dockerd then only untags it
    if (sandboxImage) await engine().getImage(sandboxImage).remove({ force: true });
    const sandboxRemakes = (): number => logRecords('the engine refused the sandbox\'s create for want of its image: making it again').length;
    const remadeBefore = sandboxRemakes();
    const second = await c.boot(`${RUN}-removed-2`, { image: image.id });
    await waitForStatus(second, 'ACTIVE');
    assert.equal(logRecords('the engine refused the create for want of the image: making it present again', { image: image.id }).length, 1);
    if (sandboxImage) {
      assert.equal(sandboxRemakes(), remadeBefore + 1);
      assert.equal(await engineImageTagged(sandboxImage), true);
    }
    assert.equal(imported(), 2, 'downloaded again');
    assert.equal((await inspectContainer(second))?.State.Status, 'running');
    assert.equal(await engineImageTagged(`glance-image:${image.id}`), true);
  });

  describe('a bad image: ERROR with a readable fault, nothing left behind', () => {
    const cases: { label: string; make: () => Promise<{ id: string; after?: () => void }>; fault: RegExp }[] = [
      {
        label: 'not a tar',
        make: async () => ({ id: await c.uploadImage(`${RUN}-not-a-tar`, randomData(300_000)) }),
        fault: /not a \(complete\) tar archive/,
      },
      {
        label: 'a tar that is no image (a plain rootfs)',
        make: async () => ({ id: await c.uploadImage(`${RUN}-rootfs`, (await testArchive()).rootfs) }),
        fault: /neither manifest\.json/,
      },
      {
        label: 'a checksum mismatch (the bytes in Glance\'s store were changed after the upload)',
        make: async () => {
          const { archive, rootfs } = await testArchive();
          const id = await c.uploadImage(`${RUN}-corrupt`, archive);
          // Flip bytes inside the busybox binary (file content, not a tar header), same size.
          const probe = rootfs.subarray(rootfs.length >> 1, (rootfs.length >> 1) + 64);
          const at = archive.indexOf(probe);
          assert.ok(at > 0, 'the busybox bytes are in the archive');
          const file = join(glanceStoreDir(), id);
          const stored = readFileSync(file);
          assert.equal(stored.length, archive.length, 'the store holds the upload as is');
          for (let i = 0; i < 16; i++) stored[at + i] ^= 0xff;
          writeFileSync(file, stored);
          return { id };
        },
        fault: /failed verification/,
      },
      {
        label: 'an archive entry named ../...',
        make: async () => {
          const evil = `/tmp/${RUN}-evil`;
          const data = await withEntry((await testArchive()).archive, { name: `../../../../..${evil}`, data: Buffer.from('escaped') });
          return { id: await c.uploadImage(`${RUN}-dotdot`, data), after: () => assert.ok(!existsSync(evil), `${evil} was written`) };
        },
        fault: /leaves the archive/,
      },
    ];

    for (const k of cases) {
      it(k.label, async () => {
        const { id: imageId, after: check } = await k.make();
        const tmpBefore = engineTmp();
        const id = await c.boot(`${RUN}-bad`, { image: imageId });
        const s = await waitForServer(id, 'ERROR', (x) => x?.status === 'ERROR', 120_000);
        assert.equal(s?.['OS-EXT-STS:task_state'], null);
        const shown = JSON.parse(await cli(['server', 'show', id, '-f', 'json'])) as { status: string; fault?: { message: string; code: number } };
        assert.equal(shown.status, 'ERROR');
        assert.ok(shown.fault, 'openstack server show has a fault');
        console.log(`      fault: ${shown.fault.message}`);
        assert.match(shown.fault.message, k.fault);
        assert.equal(await inspectContainer(id), null, 'no container');
        assert.equal(await engineImageTagged(`glance-image:${imageId}`), false, 'no engine image tagged glance-image:<id>');
        assert.deepEqual(await newEngineTmpEntries(tmpBefore), [], 'no temp dirs left in the engine\'s tmp');
        assert.deepEqual(await allocations(id), {}, 'the allocation was given back');
        check?.();
      });
    }
  });
});
