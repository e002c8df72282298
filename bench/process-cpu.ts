/**
 * Whose CPU a boot costs, and whether that grows as the host fills: every process's CPU time
 * (`/proc/<pid>/stat`: its own and that of the children it has reaped), summed by name, and
 * the host's busy time (`/proc/stat`). On this one machine the control plane, the engine and
 * the compute share two cores, so a build slows when any of them spends more per boot; what
 * no live process accounts for (one reaped by a process that has ended since) is the host's
 * busy time less their sum.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { processName } from './process-memory.js';

const TICK_MS = 10; // USER_HZ is 100 on Linux

export interface CpuSample { busyMs: number; byName: Map<string, number> }

export function cpuSample(servicePid: string): CpuSample {
  const byName = new Map<string, number>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let ticks: number;
    let name: string;
    try {
      // utime, stime, cutime, cstime: 14-17 of proc(5)'s /proc/pid/stat
      const fields = statFields(pid);
      ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      name = cpuName(pid, servicePid);
    } catch {
      continue; // gone since the listing
    }
    byName.set(name, (byName.get(name) ?? 0) + ticks * TICK_MS);
  }
  return { busyMs: hostBusyMs(), byName };
}

/** The host's busy time since boot, ms. */
export function hostBusyMs(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is this machine's own work, not idle, iowait or steal
  return (cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6]) * TICK_MS;
}

/** A process's own CPU time (utime and stime, not its reaped children's), ms. */
export function processCpuMs(pid: string): number {
  const fields = statFields(pid);
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** The fields of `/proc/<pid>/stat` after the command's closing parenthesis (utime, stime, cutime, cstime are 11-14). */
function statFields(pid: string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * The name a process's CPU is counted under: as for its memory, but the kernel's workers are
 * one name (a worker's `comm` names the work it does at the moment: a name that changed would
 * count the worker's whole life again), and pid 1 is named for what it has here, the CPU of
 * the orphans it reaped (an engine's runtime calls whose parent had gone).
 */
function cpuName(pid: string, servicePid: string): string {
  if (pid === '1') return 'pid 1 (orphans reaped)';
  const name = processName(pid, servicePid);
  return name.startsWith('kworker/') ? 'kworker' : name;
}

/**
 * The CPU per boot from one sample to the next, ms: the host's busy time, the largest `top`
 * names, the other names together, and what no live process accounts for, e.g. `host 310,
 * nova-conductor 80, podman 60, ..., others 20, unaccounted 15`. A process reaped between the
 * samples moves its whole life's time into its reaper's children's time, under the reaper's
 * name (time it had spent before the first sample included); one whose reaper is gone too is
 * unaccounted.
 */
export function cpuPerBoot(before: CpuSample, after: CpuSample, boots: number, top = 8): string {
  const all = [...after.byName.keys()]
    .map((name) => ({ name, ms: Math.max(0, (after.byName.get(name) ?? 0) - (before.byName.get(name) ?? 0)) / boots }))
    .sort((a, b) => b.ms - a.ms);
  const busy = (after.busyMs - before.busyMs) / boots;
  const others = all.slice(top).reduce((sum, n) => sum + n.ms, 0);
  const named = all.reduce((sum, n) => sum + n.ms, 0);
  const fmt = (ms: number): string => String(Math.round(ms));
  return [`host ${fmt(busy)}`, ...all.slice(0, top).map((n) => `${n.name} ${fmt(n.ms)}`), `others ${fmt(others)}`, `unaccounted ${fmt(busy - named)}`].join(', ');
}
