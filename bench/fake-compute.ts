/**
 * The reference of the scale bench: Debian's nova-compute (the release's python3-nova, as the
 * control plane runs it: on the host for zed, in the cloud's chroot for 2025.1) with Nova's
 * no-op driver `fake.SmallFakeDriver`, as one more compute host of the local cloud under its
 * own host name. The nova-compute package adds only its entry point and the hypervisors'
 * dependencies, which the fake driver does not use, so the service runs `nova.cmd.compute`.
 * Its allocation ratios are set in its own config (its resource tracker puts them back in
 * Placement at every audit); its state, locks and log live under the cloud's data directory,
 * which the chroot also mounts.
 */
import type { AxiosInstance } from 'axios';
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLOUD_DIR, RELEASE_ROOT, discoverHosts, waitFor } from '../test/helpers/cloud.js';
import { rssMb } from './cloud.js';

export interface FakeCompute {
  host: string;
  /** The nova-compute log (oslo.log lines). */
  logFile: string;
  pid: string;
  rssMb(): number;
  /** Stops the service and removes its service record, compute node and resource provider. */
  remove(): Promise<void>;
}

/** SmallFakeDriver's resources (nova/virt/fake.py): 1 vCPU, 8 GB, 1028 GB. */
const FAKE_VCPUS = 1;
const FAKE_MEMORY_MB = 8192;

export async function startFakeCompute(nova: AxiosInstance, host: string, room: { vcpus: number; memoryMb: number }): Promise<FakeCompute> {
  const dir = join(CLOUD_DIR, 'data', 'bench-fake-compute', host);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'lock'), { recursive: true });
  const logFile = join(dir, 'nova-compute.log');
  const conf = join(dir, 'nova-compute.conf');
  writeFileSync(conf, [
    '[DEFAULT]', `host = ${host}`, 'compute_driver = fake.SmallFakeDriver', `state_path = ${dir}`, `log_file = ${logFile}`,
    `cpu_allocation_ratio = ${Math.ceil((room.vcpus / FAKE_VCPUS) * 1.2)}`,
    `ram_allocation_ratio = ${Math.max(1, Math.ceil((room.memoryMb / FAKE_MEMORY_MB) * 1.2))}`,
    'reserved_host_memory_mb = 0',
    '[oslo_concurrency]', `lock_path = ${join(dir, 'lock')}`, '',
  ].join('\n'));
  const python = ['/usr/bin/python3', '-c', 'import sys; from nova.cmd.compute import main; sys.exit(main())',
    '--config-file', join(CLOUD_DIR, 'etc', 'nova', 'nova.conf'), '--config-file', conf];
  const [cmd, ...args] = RELEASE_ROOT ? ['chroot', RELEASE_ROOT, ...python] : python;
  const out = openSync(join(dir, 'stdout.log'), 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', out, out], detached: true });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // the python process itself (chroot execs it in place)
  const pid = child.pid!;
  const service = async (): Promise<{ id: string; state: string } | undefined> =>
    (await nova.get('/os-services', { params: { binary: 'nova-compute', host }, headers: { 'X-OpenStack-Nova-API-Version': '2.53' } })).data.services[0];
  // stopped, then its record, up or not: with it go its compute node and resource provider
  const stopAndDeregister = async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-pid, 'SIGTERM');
    await exited;
    const id = (await service())?.id;
    if (id) await nova.delete(`/os-services/${id}`, { headers: { 'X-OpenStack-Nova-API-Version': '2.53' } });
  };
  try {
    await waitFor(`${host}'s nova-compute service up (log: ${logFile})`, async () => {
      if (child.exitCode !== null) throw new Error(`nova-compute exited ${child.exitCode}: ${readFileSync(join(dir, 'stdout.log'), 'utf8').slice(-2000)}`);
      return (await service())?.state === 'up';
    }, 120_000, 1000);
    await waitFor(`${host}'s compute node in Placement`, async () =>
      readFileSync(logFile, 'utf8').includes('Created resource provider record'), 60_000, 500);
    await discoverHosts();
  } catch (err) {
    await stopAndDeregister(); // its log stays for the error
    throw err;
  }
  return {
    host,
    logFile,
    pid: String(pid),
    rssMb: () => rssMb(pid),
    async remove() {
      await stopAndDeregister();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Each instance's build time on the fake host, from its "Took N seconds to build instance." lines. */
export function fakeBuildTimes(logFile: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of readFileSync(logFile, 'utf8').matchAll(/\[instance: ([0-9a-f-]{36})\] Took ([\d.]+) seconds to build instance/g)) {
    out.set(m[1], Number(m[2]) * 1000);
  }
  return out;
}
