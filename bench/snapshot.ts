/**
 * Snapshot benchmark against the local cloud (issue: delta snapshots). A 10 MB image (busybox
 * and 8 MB of random data), a server booted from it that writes 1 MB of random data, then
 * SNAPSHOTS snapshots through Nova (`POST /servers/{id}/action createImage`, polled every 50 ms
 * until Glance has the image active, as `openstack server image create --wait` waits): each is
 * a delta over the server's image. Beside them, in the same run and on the same engine image,
 * the glance-bridge's exporter uploads that image whole and as a delta into new Glance images:
 * the bytes and times of a whole upload against a delta's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotExporter } from '../src/glance-bridge/exporter.js';
import { silentLogger } from '../src/common/log.js';
import { execIn } from '../test/helpers/servers.js';
import { cloudEngine, dockerClient } from '../test/integration/glance-bridge/images.js';
import { deleteBenchImage, session, sleep, sleeperImage, waitStatus } from './cloud.js';

const SNAPSHOTS = Number(process.env.BENCH_SNAPSHOTS ?? 5);
const MB = 1024 * 1024;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function snapshotBench(): Promise<Record<string, number | string>> {
  const { nova, glance, glanceSource } = await session();
  const docker = dockerClient();
  const tag = `bench-snap-${Date.now()}`;
  const image = await sleeperImage(glance, docker, tag, 8 * MB);
  const images: string[] = [image.id];
  const stateDir = mkdtempSync(join(tmpdir(), `${tag}-`));
  const flavor = ((await nova.get('/flavors')).data.flavors as { id: string; name: string }[]).find((f) => f.name === 'm1.tiny')!;
  let server: string | undefined;

  /** Glance's size of an image once it is active (polled every 50 ms). */
  async function activeSize(id: string): Promise<number> {
    for (;;) {
      const r = await glance.get(`/v2/images/${id}`, { validateStatus: () => true });
      if (r.data?.status === 'active') return Number(r.data.size);
      if (r.status === 404 || ['killed', 'deleted'].includes(r.data?.status)) throw new Error(`snapshot ${id} is ${r.data?.status ?? 'gone'}`);
      await sleep(50);
    }
  }

  async function queued(name: string): Promise<string> {
    const id = String((await glance.post('/v2/images', { name })).data.id);
    images.push(id);
    return id;
  }

  try {
    server = String((await nova.post('/servers', { server: { name: tag, imageRef: image.id, flavorRef: flavor.id, networks: 'none' } })).data.server.id);
    await waitStatus(nova, server, 'ACTIVE');
    const w = await execIn(server, ['/bin/busybox', 'sh', '-c', `/bin/busybox head -c ${MB} /dev/urandom > /root/mb`]);
    if (w.exitCode !== 0) throw new Error(`writing 1 MB in the server failed: ${w.output}`);

    const viaNova: number[] = [];
    const novaBytes: number[] = [];
    let snapId = '';
    for (let i = 0; i < SNAPSHOTS; i++) {
      const t0 = performance.now();
      const r = await nova.post(`/servers/${server}/action`, { createImage: { name: `${tag}-${i}` } }, { headers: { 'X-OpenStack-Nova-API-Version': '2.45' } });
      snapId = String(r.data.image_id);
      images.push(snapId);
      novaBytes.push(await activeSize(snapId));
      viaNova.push(performance.now() - t0);
      // the server's task_state clears right after the upload; the next snapshot needs it clear
      for (;;) {
        const s = (await nova.get(`/servers/${server}`)).data.server as Record<string, unknown>;
        if (s['OS-EXT-STS:task_state'] === null) break;
        await sleep(50);
      }
    }

    // The last snapshot's engine image (cached under its Glance id), uploaded again by the exporter: whole, and as a delta.
    const engine = cloudEngine(stateDir, 300_000);
    // each upload is tagged glance-image:<its id>, as a snapshot is; the finally below removes them
    const whole = new SnapshotExporter(engine, { deltaDepth: 0, log: silentLogger() });
    const delta = new SnapshotExporter(engine, { deltaDepth: 8, spoolDir: stateDir, log: silentLogger() });
    const wholeMs: number[] = [];
    const deltaMs: number[] = [];
    let wholeBytes = 0;
    let deltaBytes = 0;
    for (let i = 0; i < SNAPSHOTS; i++) {
      const w1 = await whole.export(glanceSource, `glance-image:${snapId}`, await queued(`${tag}-whole-${i}`), { parentImageId: image.id });
      wholeMs.push(w1.uploadMs);
      wholeBytes = w1.size;
      const d1 = await delta.export(glanceSource, `glance-image:${snapId}`, await queued(`${tag}-delta-${i}`), { parentImageId: image.id });
      if (!d1.delta) throw new Error('the exporter uploaded the whole image where a delta was expected');
      deltaMs.push(d1.uploadMs);
      deltaBytes = d1.size;
    }
    return {
      snapshots: SNAPSHOTS,
      image_bytes: Number((await glance.get(`/v2/images/${image.id}`)).data.size),
      changed_bytes: MB,
      // createImage -> the Glance image active, through Nova and this host (commit, save, upload)
      snapshot_via_nova_median_ms: median(viaNova),
      // the goal of a delta snapshot of this size: 3 s (<= 1 is met)
      ratio_snapshot_via_nova_to_3s_goal: median(viaNova) / 3000,
      snapshot_via_nova_bytes: median(novaBytes),
      ratio_snapshot_bytes_to_changed: median(novaBytes) / MB,
      // the exporter alone on the same engine image: save and upload
      export_delta_median_ms: median(deltaMs),
      export_delta_bytes: deltaBytes,
      export_whole_median_ms: median(wholeMs),
      export_whole_bytes: wholeBytes,
      ratio_delta_to_whole_ms: median(deltaMs) / median(wholeMs),
      ratio_delta_to_whole_bytes: deltaBytes / wholeBytes,
    };
  } finally {
    if (server) {
      await nova.delete(`/servers/${server}`).catch(() => undefined);
      await waitStatus(nova, server, 'GONE').catch(() => undefined);
    }
    for (const id of images) await deleteBenchImage(glance, docker, id);
    rmSync(stateDir, { recursive: true, force: true });
  }
}
