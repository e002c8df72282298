/**
 * `npm run bench:engine` (not part of `npm test`): how the local cloud's engine alone slows as
 * it runs more containers, with no request of Nova's beside it (the cloud's services idle): the
 * floor under `bench:scale`'s build time per tenth of the fill, whose builds make these calls.
 *
 * BENCH_ENGINE_SAMPLES (default 40) containers of a server's spec (bench:scale's flavor, the
 * hardening and user namespace a workload gets: bench/cloud.ts) are made one at a time the way
 * a build makes them (podman: create, init, start; dockerd: create, start), on the empty engine
 * and again once BENCH_ENGINE_CONTAINERS (default 1000) more run, made 10 at a time. For each
 * call: its median wall time, and the mean CPU it cost the host (`/proc/stat`, busy time) and the
 * engine's service alone (its own `/proc/<pid>/stat` time: on podman the API service, on dockerd
 * the daemon; the runtime and conmon or containerd are in the host's figure); then the same for
 * the removal of those containers; and the CPU a container cost over all of it by process.
 * CPU is counted in the kernel's 10 ms ticks: a call's figure is a mean over the samples.
 * Printed as JSON with the full engine's figures over the empty one's.
 */
import type Docker from 'dockerode';
import { readdirSync, readFileSync } from 'node:fs';
import { busyboxRootfs, dockerClient, ENGINE_DRIVER, ENGINE_SOCKET, importRootfs } from '../test/integration/glance-bridge/images.js';
import { libpodInit, median, pool, removeMeasured, round, SCALE_SERVER_RAM_MB, sleep, startEngineContainer, workloadHostConfig } from './cloud.js';
import { cpuPerBoot, cpuSample, hostBusyMs, processCpuMs } from './process-cpu.js';

function positiveInteger(name: string, fallback: number): number {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, not ${process.env[name]}`);
  return n;
}

const SAMPLES = positiveInteger('BENCH_ENGINE_SAMPLES', 40);
const CONTAINERS = positiveInteger('BENCH_ENGINE_CONTAINERS', 1000);
const IN_FLIGHT = 10;
/** No compute service runs in this bench: no process is named as one. */
const NO_SERVICE = '';

type Call = 'create' | 'init' | 'start' | 'remove';
interface CallFigures { wallMs: number[]; hostCpuMs: number; engineCpuMs: number }
type Figures = Partial<Record<Call, CallFigures>> & { byProcess?: string };

/** The engine's service: a podman or dockerd process whose command line names its socket. */
function enginePid(): string {
  const socket = new URL(ENGINE_SOCKET).pathname;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let comm: string;
    let args: string[];
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone since the listing
    }
    if (/^(podman|dockerd)/.test(comm) && args.some((arg) => arg.endsWith(socket))) return pid;
  }
  throw new Error(`no podman or dockerd process names the engine's socket ${socket}`);
}

/** Runs `call`, adding its wall time and CPU to `figures`. */
async function timed<T>(figures: Figures, name: Call, pid: string, call: () => Promise<T>): Promise<T> {
  const f = (figures[name] ??= { wallMs: [], hostCpuMs: 0, engineCpuMs: 0 });
  const [host0, engine0] = [hostBusyMs(), processCpuMs(pid)];
  const t0 = performance.now();
  const result = await call();
  f.wallMs.push(performance.now() - t0);
  f.hostCpuMs += hostBusyMs() - host0;
  f.engineCpuMs += processCpuMs(pid) - engine0;
  return result;
}

/**
 * SAMPLES containers made one at a time as a build makes them, then removed one at a time; and
 * whose CPU a container cost over all of it, by process (bench/process-cpu.ts; on dockerd the
 * runtime's work is containerd's and its shims', not the daemon's).
 */
async function sample(docker: Docker, image: string, name: string, pid: string): Promise<Figures> {
  const figures: Figures = {};
  const made: Docker.Container[] = [];
  const before = cpuSample(NO_SERVICE);
  try {
    for (let i = 0; i < SAMPLES; i++) {
      const spec = { Image: image, name: `${name}-${i}`, HostConfig: workloadHostConfig({ memoryMb: SCALE_SERVER_RAM_MB }, 'none') };
      const c = await timed(figures, 'create', pid, () => docker.createContainer(spec));
      made.push(c);
      if (ENGINE_DRIVER === 'podman') await timed(figures, 'init', pid, () => libpodInit(docker, c.id));
      await timed(figures, 'start', pid, () => c.start());
      await sleep(100); // the run's own start-up (the runtime's exit, conmon's or the shim's settling) outside the next call's window
    }
    while (made.length) {
      await timed(figures, 'remove', pid, () => removeMeasured(made[made.length - 1]));
      made.pop();
    }
    figures.byProcess = cpuPerBoot(before, cpuSample(NO_SERVICE), SAMPLES, 6);
  } finally {
    await removeAll(made.map((c) => () => removeMeasured(c)));
  }
  return figures;
}

/** A call's figures: median wall, mean host and engine CPU, ms. */
function perCall(f: CallFigures): { wall_ms: number; host_cpu_ms: number; engine_cpu_ms: number } {
  return { wall_ms: round(median(f.wallMs), 1), host_cpu_ms: round(f.hostCpuMs / f.wallMs.length, 1), engine_cpu_ms: round(f.engineCpuMs / f.wallMs.length, 1) };
}

/** The calls that make a container run, summed: median wall of each, mean CPU of each. */
function toRunning(figures: Figures): { wall_ms: number; host_cpu_ms: number; engine_cpu_ms: number } {
  const calls = (['create', 'init', 'start'] as const).map((c) => figures[c]).filter((f): f is CallFigures => !!f).map(perCall);
  const sum = (pick: (c: ReturnType<typeof perCall>) => number): number => round(calls.reduce((s, c) => s + pick(c), 0), 1);
  return { wall_ms: sum((c) => c.wall_ms), host_cpu_ms: sum((c) => c.host_cpu_ms), engine_cpu_ms: sum((c) => c.engine_cpu_ms) };
}

/** Full over empty; null where the empty figure is 0 (a CPU time under a tick). */
function ratio(full: number, empty: number): number | null {
  return empty > 0 ? round(full / empty) : null;
}

/** Runs the `removals`, IN_FLIGHT at a time, reporting (not throwing) what could not be removed. */
async function removeAll(removals: (() => Promise<void>)[]): Promise<void> {
  await pool(removals.length, IN_FLIGHT, async (i) => {
    await removals[i]().catch((err: unknown) => console.error(`could not remove a container: ${String(err)}`));
  });
}

async function engineGrowthBench(): Promise<Record<string, unknown>> {
  const docker = dockerClient();
  const pid = enginePid();
  const tag = `engine-growth-${Date.now()}`;
  await importRootfs(docker, await busyboxRootfs(), 'bench/busybox', tag, ['CMD ["/bin/sleep", "1000000"]']);
  const image = `bench/busybox:${tag}`;
  const filled: (() => Promise<void>)[] = [];
  try {
    const empty = await sample(docker, image, `${tag}-empty`, pid);
    const t0 = performance.now();
    // the first failure stops the fill; what it made is removed below
    await pool(CONTAINERS, IN_FLIGHT, async (i) => {
      filled.push(await startEngineContainer(docker, image, `${tag}-fill-${i}`, { memoryMb: SCALE_SERVER_RAM_MB }));
    });
    const fillS = (performance.now() - t0) / 1000;
    await sleep(20_000); // the fill's last runs settled
    const full = await sample(docker, image, `${tag}-full`, pid);
    const calls = (['create', 'init', 'start', 'remove'] as const).filter((c) => empty[c] && full[c]);
    const figures = (f: Figures) => ({ ...Object.fromEntries(calls.map((c) => [c, perCall(f[c]!)])), to_running: toRunning(f), cpu_ms_per_container_by_process: f.byProcess });
    const [emptyRun, fullRun] = [toRunning(empty), toRunning(full)];
    return {
      engine: ENGINE_DRIVER,
      samples: SAMPLES,
      containers_running_when_full: CONTAINERS,
      fill_containers_per_s: round(CONTAINERS / fillS, 1),
      empty: figures(empty),
      full: figures(full),
      ratio_full_to_empty_to_running_wall: ratio(fullRun.wall_ms, emptyRun.wall_ms),
      ratio_full_to_empty_to_running_host_cpu: ratio(fullRun.host_cpu_ms, emptyRun.host_cpu_ms),
      ratio_full_to_empty_to_running_engine_cpu: ratio(fullRun.engine_cpu_ms, emptyRun.engine_cpu_ms),
      ratio_full_to_empty_remove_wall: ratio(perCall(full.remove!).wall_ms, perCall(empty.remove!).wall_ms),
    };
  } finally {
    await removeAll(filled);
    await docker.getImage(image).remove().catch((err: unknown) => console.error(`could not remove image ${image}: ${String(err)}`));
  }
}

process.stdout.write(`engine-growth ${JSON.stringify(await engineGrowthBench())}\n`);
