/**
 * Boot benchmark against the local cloud: 20 sequential `POST /servers` from a cached image.
 * Reports, for each boot, the compute host's own time from the build cast's arrival to the
 * instance saved ACTIVE (nova-container's `instance built` log line), beside the engine's own
 * create+start of the same image with the same limits measured in the same run, one after each
 * build. The ratio of the medians is the overhead of being a Nova compute host. API-level
 * POST -> ACTIVE is reported for context: the bench waits for the build's log line and then
 * asks the API once, instead of polling it while the build runs (on this machine's two cores
 * nova-api's and MariaDB's work for a GET every 50 ms slowed the builds it measured: a median
 * of 174 ms against 153 ms with a poll a second, one run each). Then NET_BOOTS boots on the
 * Neutron network `private`: their build time beside the unnetworked one, and how much of it
 * is the wait for Neutron's network-vif-plugged (VIF plugged -> event delivered, from the same
 * log): the rest is our own part. Every build, networked or not, makes the workload's network namespace (on Docker a
 * sandbox container as well as the workload; on podman the workload's own, prepared before its
 * start); the engine's figure is the workload's create+start alone, and its network-first
 * figure the engine's own shortest way to that namespace (podman: create, init, start; dockerd:
 * a sandbox started while the workload joined to it is created, then the workload started).
 */
import type { AxiosInstance } from 'axios';
import type Docker from 'dockerode';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CLOUD_DIR, cloudSetting, iniValue } from '../test/helpers/cloud.js';
import { ENGINE_DRIVER, dockerClient } from '../test/integration/glance-bridge/images.js';
import { SANDBOX_REPO } from '../src/runtime/sandbox-image.js';
import { deleteBenchImage, engineCreateStartMs, engineNetworkFirstMs, engineRemapsUsers, median, session, sleep, sleeperImage, waitStatus } from './cloud.js';

const BOOTS = Number(process.env.BENCH_BOOTS ?? 20);
const NET_BOOTS = Number(process.env.BENCH_NET_BOOTS ?? 10);
const LOG = join(CLOUD_DIR, 'logs', 'nova-container.log');

interface LogLine { time: number; msg: string; build_ms?: number; event?: string; prepare_ms?: number; ports_wait_ms?: number; start_ms?: number }

function builtMs(lines: LogLine[]): number | null {
  return lines.find((l) => l.msg === 'instance built')?.build_ms ?? null;
}

/** VIF plugged -> network-vif-plugged delivered: the time the build waited for Neutron. */
function vifWaitMs(lines: LogLine[]): number | null {
  const plugged = lines.filter((l) => l.msg === 'VIF plugged').pop()?.time;
  const delivered = lines.find((l) => l.msg === 'external instance event delivered' && l.event === 'network-vif-plugged')?.time;
  return plugged !== undefined && delivered !== undefined ? delivered - plugged : null;
}

/** The network sandbox image the compute host made (src/runtime/sandbox-image.ts). */
async function builtSandboxImage(docker: Docker): Promise<string> {
  const tag = (await docker.listImages({ filters: { reference: [SANDBOX_REPO] } }))[0]?.RepoTags?.[0];
  if (!tag) throw new Error(`the engine has no ${SANDBOX_REPO} image: no server was built on this host yet`);
  return tag;
}

/** The driver's split of the spawn: workload and its network namespace made, workload started (its 'workload started in its network' line). */
interface SpawnSplit { prepareMs: number; portsWaitMs: number; startMs: number }

function spawnSplit(lines: LogLine[]): SpawnSplit | null {
  const l = lines.find((x) => x.msg === 'workload started in its network');
  if (l?.prepare_ms === undefined || l.ports_wait_ms === undefined || l.start_ms === undefined) return null;
  return { prepareMs: l.prepare_ms, portsWaitMs: l.ports_wait_ms, startMs: l.start_ms };
}

/**
 * Waits for the server's `instance built` line in the compute's log, read from byte `from` on
 * (a local file: no load on the cloud), asking the API once a second whether the build failed;
 * then asks once more for ACTIVE. Returns the server's lines up to that one (its build's).
 */
async function waitBuilt(nova: AxiosInstance, id: string, from: number): Promise<LogLine[]> {
  const fd = openSync(LOG, 'r');
  const mine: LogLine[] = [];
  try {
    let offset = from;
    let partial = '';
    for (let lastAsked = performance.now(); ; await sleep(10)) {
      const size = statSync(LOG).size;
      if (size < offset) throw new Error(`${LOG} shrank while server ${id} was built`);
      if (size > offset) {
        const buf = Buffer.alloc(size - offset);
        const n = readSync(fd, buf, 0, buf.length, offset);
        offset += n;
        const lines = (partial + buf.subarray(0, n).toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        mine.push(...lines.filter((l) => l.includes(id)).map((l) => JSON.parse(l) as LogLine));
        if (mine.some((l) => l.msg === 'instance built')) break;
      }
      if (performance.now() - lastAsked > 1000) {
        const server = (await nova.get(`/servers/${id}`)).data.server as { status: string; fault?: unknown };
        if (server.status === 'ERROR') throw new Error(`server ${id} went to ERROR: ${JSON.stringify(server.fault)}`);
        lastAsked = performance.now();
      }
    }
  } finally {
    closeSync(fd);
  }
  await waitStatus(nova, id, 'ACTIVE');
  return mine;
}

interface BootFigures { apiMs: number; buildMs: number; vifWaitMs: number | null; split: SpawnSplit | null }

/** POST /servers, wait ACTIVE, read the build's figures, delete; returns them. */
async function bootOnce(nova: AxiosInstance, server: Record<string, unknown>): Promise<BootFigures> {
  const from = statSync(LOG).size;
  const t0 = performance.now();
  const created = await nova.post('/servers', { server });
  const id = String(created.data.server.id);
  const lines = await waitBuilt(nova, id, from);
  const apiMs = performance.now() - t0;
  const buildMs = builtMs(lines);
  const vif = vifWaitMs(lines);
  await nova.delete(`/servers/${id}`);
  await waitStatus(nova, id, 'GONE');
  if (buildMs === null) throw new Error(`no 'instance built' log line for ${id}`);
  return { apiMs, buildMs, vifWaitMs: vif, split: spawnSplit(lines) };
}

export async function bootBench(): Promise<Record<string, number | string>> {
  const { nova, glance, neutron } = await session();
  const docker = dockerClient();
  const engineInfo = await docker.info() as { Driver: string };
  const tag = `bench-${Date.now()}`;
  const image = await sleeperImage(glance, docker, tag);
  const flavor = ((await nova.get('/flavors')).data.flavors as { id: string; name: string }[]).find((f) => f.name === 'm1.tiny')!;
  const build: number[] = [];
  const api: number[] = [];
  const prepare: number[] = [];
  const start: number[] = [];
  try {
    const server = (name: string, networks: unknown) => ({ name, imageRef: image.id, flavorRef: flavor.id, networks });
    // The engine alone: create+start of the workload's image with the same limits and hardening
    // as an m1.tiny server's (src/runtime/docker-engine.ts), no Nova, no network namespace made first; and with none
    // of them, which tells what the limits cost the engine itself. And the engine's shortest
    // network-first start of the same workload (bench/cloud.ts): the floor of a build's engine
    // calls, against which the rest of the build is ours and Nova's. Each measured after each
    // build, so that both see the machine as it is then (this machine's speed drifts).
    const engine: number[] = [];
    const enginePlain: number[] = [];
    const engineNetworkFirst: number[] = [];
    const engineImage = `glance-image:${image.id}`;
    const limits = { memoryMb: 128, rootGb: 1 };
    let sandboxImage: string | null = null;
    for (let i = 0; i <= BOOTS; i++) { // boot 0 downloads the image: a warm-up, not counted
      const r = await bootOnce(nova, server(`${tag}-${i}`, 'none'));
      if (i === 0) {
        sandboxImage = ENGINE_DRIVER === 'podman' ? null : await builtSandboxImage(docker);
        continue;
      }
      build.push(r.buildMs);
      api.push(r.apiMs);
      if (r.split) { prepare.push(r.split.prepareMs); start.push(r.split.startMs); }
      engine.push(await engineCreateStartMs(docker, engineImage, `${tag}-engine-${i}`, limits));
      enginePlain.push(await engineCreateStartMs(docker, engineImage, `${tag}-engine-plain-${i}`, null));
      engineNetworkFirst.push(await engineNetworkFirstMs(docker, engineImage, `${tag}-engine-nf-${i}`, limits, sandboxImage));
    }
    const privateNet = ((await neutron.get('/v2.0/networks', { params: { name: 'private' } })).data.networks as { id: string }[])[0];
    if (!privateNet) throw new Error('the local cloud has no network "private"');
    const netBuild: number[] = [];
    const vifWait: number[] = [];
    const portsWait: number[] = [];
    const netOwn: number[] = [];
    for (let i = 0; i < NET_BOOTS; i++) {
      const r = await bootOnce(nova, server(`${tag}-net-${i}`, [{ uuid: privateNet.id }]));
      netBuild.push(r.buildMs);
      if (r.vifWaitMs === null || !r.split) throw new Error('a networked boot without its plug, event or spawn log lines');
      vifWait.push(r.vifWaitMs);
      portsWait.push(r.split.portsWaitMs);
      netOwn.push(r.buildMs - r.vifWaitMs - r.split.portsWaitMs);
    }
    const result = {
      // the cloud measured: its release and Neutron's mechanism (linuxbridge on zed, ovn on 2025.1)
      openstack_release: cloudSetting('OPENSTACK_RELEASE') ?? 'zed',
      neutron_mechanism_drivers: iniValue(join(CLOUD_DIR, 'etc', 'neutron', 'ml2_conf.ini'), 'ml2', 'mechanism_drivers') ?? '',
      boots: BOOTS,
      build_median_ms: median(build),
      engine_create_start_median_ms: median(engine),
      engine_plain_create_start_median_ms: median(enginePlain),
      // the engine, its storage driver and user namespaces the measure ran with
      engine: ENGINE_DRIVER,
      engine_storage_driver: engineInfo.Driver,
      engine_userns_remap: await engineRemapsUsers(docker) ? 'yes' : 'no',
      ratio_build_to_engine: median(build) / median(engine),
      engine_network_first_median_ms: median(engineNetworkFirst),
      ratio_build_to_engine_network_first: median(build) / median(engineNetworkFirst),
      // the build's spawn: workload and its network namespace made (Docker: a sandbox started beside it), then the workload started
      spawn_prepare_median_ms: median(prepare),
      spawn_start_median_ms: median(start),
      api_post_to_active_median_ms: median(api),
      net_boots: NET_BOOTS,
      net_build_median_ms: median(netBuild),
      ratio_net_build_to_build: median(netBuild) / median(build),
      // Neutron's part: making and binding the ports (what the spawn still waited for once its
      // workload and namespace were made), then network-vif-plugged; the rest is ours
      net_port_allocation_wait_median_ms: median(portsWait),
      net_vif_plugged_wait_median_ms: median(vifWait),
      net_own_median_ms: median(netOwn),
      ratio_net_own_to_engine: median(netOwn) / median(engine),
    };
    return result;
  } finally {
    await deleteBenchImage(glance, docker, image.id);
  }
}
