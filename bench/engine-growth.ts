/**
 * `npm run bench:engine` (not part of `npm test`): how the local cloud's engine alone slows as
 * it runs more containers, with no Nova and no cloud work beside it: the floor under
 * `bench:scale`'s build time per tenth of the fill, whose builds make these same calls.
 *
 * BENCH_ENGINE_SAMPLES (default 40) containers of a server's spec (bench:scale's flavor, the
 * hardening and user namespace a workload gets: bench/cloud.ts) are made one at a time the way
 * a build makes them (podman: create, init, start; dockerd: create, start), on the empty engine
 * and again once BENCH_ENGINE_CONTAINERS (default 1000) more run, made 10 at a time. For each
 * call: its median wall time, and the mean CPU it cost the host (`/proc/stat`, busy time) and the
 * engine's service alone (its own `/proc/<pid>/stat` time: on podman the API service, on dockerd
 * the daemon; the runtime and conmon or containerd are in the host's figure); then the same for
 * the removal of those containers; and the CPU a container cost over all of it by process.
 * Printed as JSON with the full engine's figures over the empty one's.
 */
import type Docker from 'dockerode';
import { readdirSync, readFileSync } from 'node:fs';
import { busyboxRootfs, dockerClient, ENGINE_DRIVER, ENGINE_SOCKET, importRootfs } from '../test/integration/glance-bridge/images.js';
import { libpodInit, removeMeasured, SCALE_SERVER_RAM_MB, sleep, workloadHostConfig } from './cloud.js';
import { cpuPerBoot, cpuSample } from './process-cpu.js';

const SAMPLES = Number(process.env.BENCH_ENGINE_SAMPLES ?? 40);
const CONTAINERS = Number(process.env.BENCH_ENGINE_CONTAINERS ?? 1000);
const IN_FLIGHT = 10;
const TICK_MS = 10; // USER_HZ is 100 on Linux
/** No compute service runs in this bench: no process is named as one. */
const NO_SERVICE = '';

type Call = 'create' | 'init' | 'start' | 'remove';
interface CallFigures { wallMs: number[]; hostCpuMs: number; engineCpuMs: number }
type Figures = Partial<Record<Call, CallFigures>> & { byProcess?: string };

/** The engine's service: the process whose command line names its socket (podman's `system service`, dockerd's `--host`). */
function enginePid(): string {
  const socket = new URL(ENGINE_SOCKET).pathname;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    const cmdline = (() => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        return ''; // gone since the listing
      }
    })();
    if (cmdline.split('\0').some((arg) => arg.endsWith(socket))) return pid;
  }
  throw new Error(`no process serves the engine's socket ${socket}`);
}

/** The host's busy time, and the engine service's own CPU time (not its children's), ms. */
function cpuNow(pid: string): { host: number; engine: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // user nice system irq softirq (not idle, iowait or steal); utime stime
  return { host: (cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6]) * TICK_MS, engine: (Number(fields[11]) + Number(fields[12])) * TICK_MS };
}

/** Runs `call`, adding its wall time and CPU to `figures`. */
async function timed<T>(figures: Figures, name: Call, pid: string, call: () => Promise<T>): Promise<T> {
  const f = (figures[name] ??= { wallMs: [], hostCpuMs: 0, engineCpuMs: 0 });
  const c0 = cpuNow(pid);
  const t0 = performance.now();
  const result = await call();
  f.wallMs.push(performance.now() - t0);
  const c1 = cpuNow(pid);
  f.hostCpuMs += c1.host - c0.host;
  f.engineCpuMs += c1.engine - c0.engine;
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
      const c = await timed(figures, 'create', pid, () => docker.createContainer({ Image: image, name: `${name}-${i}`, HostConfig: workloadHostConfig({ memoryMb: SCALE_SERVER_RAM_MB }, 'none') }));
      made.push(c);
      if (ENGINE_DRIVER === 'podman') await timed(figures, 'init', pid, () => libpodInit(docker, c.id));
      await timed(figures, 'start', pid, () => c.start());
      await sleep(100); // the run's own start-up (the runtime's exit, conmon's or the shim's settling) outside the next call's window
    }
    while (made.length) {
      const c = made.pop()!;
      await timed(figures, 'remove', pid, () => removeMeasured(c));
    }
    figures.byProcess = cpuPerBoot(before, cpuSample(NO_SERVICE), SAMPLES, 6);
  } finally {
    for (const c of made) await removeMeasured(c).catch(() => undefined);
  }
  return figures;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number): number => Math.round(x * 10) / 10;

/** A call's figures: median wall, mean host and engine CPU, ms. */
function perCall(f: CallFigures): { wall_ms: number; host_cpu_ms: number; engine_cpu_ms: number } {
  return { wall_ms: round(median(f.wallMs)), host_cpu_ms: round(f.hostCpuMs / f.wallMs.length), engine_cpu_ms: round(f.engineCpuMs / f.wallMs.length) };
}

/** The calls that make a container run, summed: median wall of each, mean CPU of each. */
function toRunning(figures: Figures): { wall_ms: number; host_cpu_ms: number; engine_cpu_ms: number } {
  const calls = (['create', 'init', 'start'] as const).map((c) => figures[c]).filter((f): f is CallFigures => !!f).map(perCall);
  return {
    wall_ms: round(calls.reduce((s, c) => s + c.wall_ms, 0)),
    host_cpu_ms: round(calls.reduce((s, c) => s + c.host_cpu_ms, 0)),
    engine_cpu_ms: round(calls.reduce((s, c) => s + c.engine_cpu_ms, 0)),
  };
}

/** CONTAINERS running, IN_FLIGHT made at a time, into `made` (whatever a failure left too). */
async function fill(docker: Docker, image: string, name: string, made: Docker.Container[]): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < CONTAINERS) {
      const c = await docker.createContainer({ Image: image, name: `${name}-${next++}`, HostConfig: workloadHostConfig({ memoryMb: SCALE_SERVER_RAM_MB }, 'none') });
      made.push(c);
      await c.start();
    }
  }));
}

async function removeAll(containers: Docker.Container[]): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < containers.length) await removeMeasured(containers[next++]).catch(() => undefined);
  }));
}

async function engineGrowthBench(): Promise<Record<string, unknown>> {
  const docker = dockerClient();
  const pid = enginePid();
  const tag = `engine-growth-${Date.now()}`;
  await importRootfs(docker, await busyboxRootfs(), 'bench/busybox', tag, ['CMD ["/bin/sleep", "1000000"]']);
  const image = `bench/busybox:${tag}`;
  const filled: Docker.Container[] = [];
  try {
    const empty = await sample(docker, image, `${tag}-empty`, pid);
    const t0 = performance.now();
    await fill(docker, image, `${tag}-fill`, filled);
    const fillS = (performance.now() - t0) / 1000;
    await sleep(20_000); // the fill's last runs settled
    const full = await sample(docker, image, `${tag}-full`, pid);
    const calls = (['create', 'init', 'start', 'remove'] as const).filter((c) => empty[c]);
    const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    const [emptyRun, fullRun] = [toRunning(empty), toRunning(full)];
    return {
      engine: ENGINE_DRIVER,
      samples: SAMPLES,
      containers_running_when_full: CONTAINERS,
      fill_containers_per_s: round(CONTAINERS / fillS),
      empty: { ...Object.fromEntries(calls.map((c) => [c, perCall(empty[c]!)])), to_running: emptyRun, cpu_ms_per_container_by_process: empty.byProcess },
      full: { ...Object.fromEntries(calls.map((c) => [c, perCall(full[c]!)])), to_running: fullRun, cpu_ms_per_container_by_process: full.byProcess },
      ratio_full_to_empty_to_running_wall: ratio(fullRun.wall_ms, emptyRun.wall_ms),
      ratio_full_to_empty_to_running_host_cpu: ratio(fullRun.host_cpu_ms, emptyRun.host_cpu_ms),
      ratio_full_to_empty_to_running_engine_cpu: ratio(fullRun.engine_cpu_ms, emptyRun.engine_cpu_ms),
      ratio_full_to_empty_remove_wall: ratio(perCall(full.remove!).wall_ms, perCall(empty.remove!).wall_ms),
    };
  } finally {
    await removeAll(filled);
    await docker.getImage(image).remove().catch(() => undefined);
  }
}

process.stdout.write(`engine-growth ${JSON.stringify(await engineGrowthBench())}\n`);
