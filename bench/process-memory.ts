/**
 * Whose memory grows when the host fills: every process's anonymous pages
 * (`/proc/<pid>/smaps_rollup`), summed by name. On this one machine the control plane (MariaDB,
 * RabbitMQ, Nova's and Neutron's services) and the bench itself grow with the servers too;
 * a compute host of a real cloud holds none of them, so their growth is told apart from the
 * compute host's own (the service, the engine and its containers, and the kernel).
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessGroup { kb: number; procs: number }

/** The engine's processes (`comm`, at most 15 characters): their growth is the compute host's. */
const ENGINE_PROCESSES = new Set(['podman', 'conmon', 'catatonit', 'dockerd', 'containerd', 'containerd-shim', 'runc', 'crun']);

/** Anonymous kB by process name; the compute service's process is named `compute service`, a container's processes `container`. */
export function anonymousByProcess(servicePid: string): Map<string, ProcessGroup> {
  const groups = new Map<string, ProcessGroup>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let kb: number;
    let name: string;
    try {
      kb = Number(/^Anonymous:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
      name = processName(pid, servicePid);
    } catch {
      continue; // gone since the listing (or not ours to read: the bench runs as root)
    }
    const g = groups.get(name) ?? { kb: 0, procs: 0 };
    g.kb += kb;
    g.procs += 1;
    groups.set(name, g);
  }
  return groups;
}

/** The name a process is counted under: `compute service`, `container`, or its `comm`; throws when it is gone. */
export function processName(pid: string, servicePid: string): string {
  return pid === servicePid ? 'compute service' : inContainer(pid) ? 'container' : readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

/** Whether the process runs in a container's cgroup (podman's `libpod-<id>`, dockerd's `docker-<id>` or `/docker/<id>`); conmon sits beside it, not in it. */
function inContainer(pid: string): boolean {
  return /libpod-(?!conmon)|docker[-/][0-9a-f]{12}/.test(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
}

export function isComputeHostProcess(name: string): boolean {
  return name === 'compute service' || name === 'container' || ENGINE_PROCESSES.has(name);
}

/** Each name's growth from `before` to `after`, kB, largest first. */
export function growth(before: Map<string, ProcessGroup>, after: Map<string, ProcessGroup>): { name: string; kb: number; procs: number }[] {
  const names = new Set([...before.keys(), ...after.keys()]);
  return [...names]
    .map((name) => ({ name, kb: (after.get(name)?.kb ?? 0) - (before.get(name)?.kb ?? 0), procs: after.get(name)?.procs ?? 0 }))
    .sort((a, b) => b.kb - a.kb);
}
