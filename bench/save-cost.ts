/**
 * What an Instance.save costs the conductor (src/nova-driver/manager/instance-store.ts): the
 * whole instance as a build cast carries it (flavor, info cache, metadata, security groups,
 * ...), which nova-compute sends, against the uuid and the changed fields, which this host
 * sends. One server, SAVES saves of one field each way, interleaved in rounds, in the same
 * run: round-trip time (median) and the conductor's CPU time per save (its processes'
 * utime+stime, /proc/<pid>/stat, over the saves of each way). With the local cloud's
 * notifications off (`[notifications] notify_on_state_change` unset, Nova's default): with them
 * on, Nova's notification of each save loads the fields a changes-only save did not send.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectRpc, type RpcRuntime } from '../src/messaging/runtime.js';
import { novaMessagingOptions } from '../src/nova-driver/messaging-config.js';
import { ConductorClient } from '../src/nova-driver/conductor.js';
import { adminContext } from '../src/nova-driver/context.js';
import { InstanceStore } from '../src/nova-driver/manager/instance-store.js';
import { silentLogger } from '../src/common/log.js';
import type { NovaObject } from '../src/nova-driver/objects/versioned-object.js';
import { CLOUD_DIR, computeConfValue } from '../test/helpers/cloud.js';
import { dockerClient } from '../test/integration/glance-bridge/images.js';
import { deleteBenchImage, session, sleeperImage, waitStatus } from './cloud.js';

const SAVES = Number(process.env.BENCH_SAVES ?? 200);
const ROUNDS = 4;

/** The optional fields of the Instance in a build_and_run_instance cast (nova-zed-traces). */
const CAST_FIELDS = ['flavor', 'info_cache', 'metadata', 'system_metadata', 'security_groups', 'tags', 'keypairs', 'pci_requests', 'ec2_ids'];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The conductor's process and its children (its workers). */
function conductorPids(): string[] {
  const main = readFileSync(join(CLOUD_DIR, 'run', 'nova-conductor.pid'), 'utf8').trim();
  const children = readFileSync(`/proc/${main}/task/${main}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  return [main, ...children];
}

/** CPU milliseconds the processes used so far (clock ticks of 10 ms). */
function cpuMs(pids: string[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10;
}

export async function saveCostBench(): Promise<Record<string, number | string>> {
  const { nova, glance } = await session();
  const image = await sleeperImage(glance, dockerClient(), `bench-save-${Date.now()}`);
  const flavor = ((await nova.get('/flavors')).data.flavors as { id: string; name: string }[]).find((f) => f.name === 'm1.tiny')!;
  const transportUrl = computeConfValue('DEFAULT', 'transport_url');
  let server: string | undefined;
  let rpc: RpcRuntime | undefined;
  try {
    if (!transportUrl) throw new Error('the compute host\'s configuration has no [DEFAULT] transport_url');
    server = String((await nova.post('/servers', { server: { name: 'bench-save', imageRef: image.id, flavorRef: flavor.id, networks: 'none' } })).data.server.id);
    rpc = await connectRpc(novaMessagingOptions({ transport_url: transportUrl }), silentLogger());
    await waitStatus(nova, server, 'ACTIVE');
    const conductor = new ConductorClient(rpc.client, silentLogger());
    const ctx = adminContext();
    const store = new InstanceStore(conductor, 'bench');
    const inst = await store.get(ctx, server, CAST_FIELDS);
    inst.clearChanges();
    const pids = conductorPids();
    let n = 0;
    const ways: Record<'whole' | 'changes', (i: NovaObject) => Promise<void>> = {
      // what nova-compute sends
      whole: async (i) => {
        i.set('progress', n++ % 100);
        await conductor.objectAction(ctx, i, 'save', [], {});
      },
      // what this host sends
      changes: (i) => store.save(ctx, i, { progress: n++ % 100 }),
    };
    const ms: Record<string, number[]> = { whole: [], changes: [] };
    const cpu: Record<string, number> = { whole: 0, changes: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      for (const way of ['whole', 'changes'] as const) {
        const before = cpuMs(pids);
        for (let i = 0; i < SAVES / ROUNDS; i++) {
          const t0 = performance.now();
          await ways[way](inst);
          ms[way].push(performance.now() - t0);
        }
        cpu[way] += cpuMs(pids) - before;
      }
    }
    return {
      saves_each_way: SAVES,
      whole_instance_save_median_ms: median(ms.whole),
      changes_only_save_median_ms: median(ms.changes),
      whole_instance_conductor_cpu_ms_per_save: cpu.whole / SAVES,
      changes_only_conductor_cpu_ms_per_save: cpu.changes / SAVES,
      ratio_conductor_cpu_changes_to_whole: cpu.changes / cpu.whole,
      ratio_save_ms_changes_to_whole: median(ms.changes) / median(ms.whole),
    };
  } finally {
    await rpc?.close();
    if (server) {
      await nova.delete(`/servers/${server}`).catch(() => undefined);
      await waitStatus(nova, server, 'GONE').catch(() => undefined);
    }
    await deleteBenchImage(glance, dockerClient(), image.id);
  }
}
