/**
 * nova-container killed (SIGKILL) in the middle of a build, while it downloads a large image,
 * then started again with `./devstack/local-cloud.sh restart-compute`: within a minute the
 * server is ACTIVE or ERROR, never stuck in BUILD, its allocation matches its state, and no
 * container is left whose server does not exist. Killed while it uploads a snapshot: the
 * server ACTIVE again, nothing of the snapshot left in Glance or the engine, also when the
 * server is deleted while its host is down.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { BUSYBOX, makeTar, randomData, saveImage, type TarItem } from '../glance-bridge/images.js';
import {
  Created, alivePid, allocations, cli, containerNameOf, deleteWithCli, engine, engineImageTagged, engineTmp, execIn, getServer, glanceImage, importRootfsWith, inspectContainer, isAlive,
  logRecords, newEngineTmpEntries, novaContainerPid, orphanContainers, restartCompute, sleep, summary, waitForServer, type Server,
} from '../../helpers/servers.js';
import { localCloud } from '../../helpers/cloud.js';
import { RUN } from './fixture.js';
import { setComputeService } from '../../helpers/rest.js';

/** Size of the random layer that widens the window of the download. */
const BIG_BYTES = 100 * 1024 * 1024;

async function bigArchive(): Promise<Buffer> {
  const items: TarItem[] = ['bin/', 'tmp/', 'proc/', 'sys/', 'dev/', 'root/'].map((name) => ({ name, type: 'directory' as const }));
  items.push({ name: 'bin/busybox', data: readFileSync(BUSYBOX), mode: 0o755 });
  for (const a of ['sh', 'sleep', 'echo']) items.push({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' });
  items.push({ name: 'big.bin', data: randomData(BIG_BYTES) });
  const ref = `${RUN}-big:v1`;
  await importRootfsWith(await makeTar(items), ref, ['CMD ["/bin/sh", "-c", "echo big; exec sleep 1000000"]']);
  const saved = await saveImage(engine(), ref);
  await engine().getImage(ref).remove({ force: true });
  return saved;
}

/** Orphans seen twice 2 s apart (a container of a server another test deletes right now is not one). */
async function lastingOrphans(): Promise<string[]> {
  const first = await orphanContainers();
  if (first.length === 0) return [];
  await sleep(2000);
  const second = await orphanContainers();
  return first.filter((n) => second.includes(n));
}

describe('lifecycle: nova-container killed mid-build', function () {
  this.timeout(600_000);
  const c = new Created();
  let imageId: string;

  before(async function () {
    this.timeout(300_000);
    imageId = await c.uploadImage(`${RUN}-big`, await bigArchive());
  });

  after(async function () {
    this.timeout(300_000);
    // whatever happened, the compute host runs again before anything else
    if (!alivePid()) await localCloud('restart-compute');
    await c.cleanup();
  });

  it('ends ACTIVE or ERROR within a minute of the restart, allocation consistent, no orphan container', async () => {
    const pid = novaContainerPid();
    assert.ok(isAlive(pid), `nova-container (pid ${pid}) runs`);
    const tmpBefore = engineTmp();
    const orphansBefore = await lastingOrphans();
    const id = await c.boot(`${RUN}-crash`, { image: imageId });

    // Kill at the first sight of the spawn (the image download runs in it).
    let seen: Server | null = null;
    const t0 = Date.now();
    for (;;) {
      const s = await getServer(id);
      if (s?.['OS-EXT-STS:task_state'] === 'spawning') { seen = s; break; }
      if (s?.status !== 'BUILD') assert.fail(`the build ended before it could be interrupted: ${summary(s)}`);
      if (Date.now() - t0 > 120_000) assert.fail(`no spawning within 120 s: ${summary(s)}`);
      await sleep(100);
    }
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    while (isAlive(pid)) await sleep(20);
    const importedBeforeKill = logRecords('imported Glance image', { glanceImageId: imageId }).length > 0;
    console.log(`      killed nova-container (pid ${pid}) ${Date.now() - t0} ms after server create returned, in ${summary(seen)}, host ${seen['OS-EXT-SRV-ATTR:host']}; ` +
      `the image import had ${importedBeforeKill ? '' : 'not '}finished`);
    assert.equal(await getServer(id).then((s) => s?.status), 'BUILD', 'still BUILD while the host is down');

    const newPid = await restartCompute(pid);
    const restartMs = Date.now() - killedAt;
    console.log(`      nova-container runs again as pid ${newPid}`);

    const final = await waitForServer(id, 'ACTIVE or ERROR', (s) => (s?.status === 'ACTIVE' || s?.status === 'ERROR') && !s['OS-EXT-STS:task_state'],
      Math.max(1000, 60_000 - (Date.now() - killedAt)), 200) as Server;
    const settledMs = Date.now() - killedAt;
    console.log(`      restart-compute took ${restartMs} ms; the server was ${summary(final)} ${settledMs} ms after the kill`);
    assert.ok(settledMs <= 60_000);

    // It stays so (a build redelivered after the restart would change it).
    await sleep(5000);
    const later = await getServer(id);
    assert.equal(later?.status, final.status, `still ${final.status} 5 s later: ${summary(later)}`);

    const container = await inspectContainer(id);
    const alloc = await allocations(id);
    if (final.status === 'ERROR') {
      assert.match(final.fault?.message ?? '', /interrupted by a restart of the compute service/);
      assert.equal(container, null, 'an ERROR build keeps no container');
      assert.deepEqual(alloc, {}, 'an ERROR build holds no allocation');
    } else {
      assert.equal(container?.State.Status, 'running');
      assert.equal(Object.keys(alloc).length, 1, 'an ACTIVE server holds its allocation');
    }
    assert.deepEqual((await lastingOrphans()).filter((n) => !orphansBefore.includes(n)), [], 'no nova-* container without a server');
    assert.deepEqual(await newEngineTmpEntries(tmpBefore), [], 'the cut load left nothing in the engine\'s tmp dir');
    if (!importedBeforeKill) assert.equal(await engineImageTagged(`glance-image:${imageId}`), false, 'the cut import registered nothing under the cache tag');
    const dangling = await engine().listImages({ filters: { dangling: ['true'] } });
    if (dangling.length) console.log(`      (dangling engine images now: ${dangling.map((i) => i.Id.slice(7, 19)).join(', ')})`);
  });

  /** Boots a server, starts a snapshot of it and kills nova-container while it uploads. */
  async function cutSnapshot(name: string): Promise<{ id: string; snap: string; pid: number }> {
    const id = await c.boot(name, { image: imageId });
    await waitForServer(id, 'ACTIVE', (s) => s?.status === 'ACTIVE' && !s['OS-EXT-STS:task_state'], 120_000);
    // 100 MB the snapshot must carry: the upload takes long enough to be cut
    const wrote = await execIn(id, ['sh', '-c', `head -c ${BIG_BYTES} /dev/urandom > /root/junk`]);
    assert.equal(wrote.exitCode, 0, wrote.output);
    const pid = novaContainerPid();
    const snap = (await cli(['server', 'image', 'create', '--name', `${name}-image`, id, '-f', 'value', '-c', 'id'])).trim();
    assert.match(snap, /^[0-9a-f-]{36}$/);
    c.images.add(snap);
    await waitForServer(id, 'image_uploading', (s) => {
      if (!s?.['OS-EXT-STS:task_state']) assert.fail(`the snapshot ended before it could be cut: ${summary(s)}`);
      return s['OS-EXT-STS:task_state'] === 'image_uploading';
    }, 120_000, 50);
    process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(20);
    assert.equal((await captures(id)).length, 1, 'the cut snapshot left its capture in the engine');
    console.log(`      killed nova-container (pid ${pid}) while it uploaded snapshot ${snap}, then Glance had it ${(await glanceImage(snap))?.status}`);
    return { id, snap, pid };
  }

  const captures = async (id: string) => (await engine().listImages({ filters: { reference: ['nova-snapshot:*'] } }))
    .flatMap((i) => i.RepoTags ?? []).filter((t) => t.includes(`nova-snapshot:${id}.`));

  it('killed mid-snapshot: at the restart the task is cleared, the unfinished Glance image deleted, the capture dropped from the engine', async () => {
    const { id, snap, pid } = await cutSnapshot(`${RUN}-crash-snap`);
    await restartCompute(pid);
    const final = await waitForServer(id, 'no task', (s) => !!s && !s['OS-EXT-STS:task_state'], 60_000, 200) as Server;
    assert.equal(final.status, 'ACTIVE', summary(final));
    assert.equal((await inspectContainer(id))?.State.Status, 'running');
    assert.equal(await glanceImage(snap), null, 'the unfinished snapshot image is deleted');
    assert.deepEqual(await captures(id), [], 'its capture is gone from the engine');
    assert.equal(logRecords('a capture cut short by the stop: dropped, its unfinished Glance image deleted', { instance: id, image: snap }).length, 1);
  });

  it('killed mid-snapshot, the server deleted while its host is down: at the restart its capture and unfinished image go too', async () => {
    const { id, snap, pid } = await cutSnapshot(`${RUN}-crash-snap-gone`);
    const host = (await getServer(id))?.['OS-EXT-SRV-ATTR:host'];
    assert.ok(host, 'the server has a host');
    const forceDown = (down: boolean) => setComputeService(host, { forced_down: down });
    await forceDown(true);
    try {
      // nova-api deletes a server of a host that is down by itself (its local delete)
      await deleteWithCli(id);
      c.servers.delete(id);
    } finally {
      await forceDown(false);
    }
    try {
      const restarted = Date.now();
      const now = await restartCompute(pid);
      const reconciled = () => logRecords('start-up reconciliation done').some((r) => r.pid === now && Number(r.time) >= restarted);
      for (const until = Date.now() + 60_000; !reconciled(); await sleep(200)) {
        if (Date.now() > until) assert.fail('the restarted service did not finish its start-up reconciliation within a minute');
      }
      assert.equal(await glanceImage(snap), null, 'the unfinished snapshot image is deleted');
      assert.deepEqual(await captures(id), [], 'its capture is gone from the engine');
      assert.equal(logRecords('a capture cut short by the stop: dropped, its unfinished Glance image deleted', { instance: id, image: snap }).length, 1);
    } finally {
      // the deleted server's container is an orphan, which a cloud with [container] remove_orphans has removed already
      await engine().getContainer(containerNameOf(id)).remove({ force: true }).catch(() => undefined);
    }
  });
});
