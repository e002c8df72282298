/**
 * What this machine offers, measured: CPUs, memory, the engine's disk, and the CPU
 * description Nova shows as `cpu_info` (a JSON object string, as libvirt's driver reports it).
 */
import { cpus, totalmem, arch as nodeArch } from 'node:os';
import { readFileSync, statfsSync } from 'node:fs';

export interface HostResources {
  vcpus: number;
  memoryMb: number;
  localGb: number;
  freeDiskGb: number;
  arch: string;
  cpuInfo: string;
}

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** Node's names for architectures -> Nova's (nova/objects/fields.py Architecture). */
const NOVA_ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', arm: 'armv7l', ppc64: 'ppc64le', s390x: 's390x', ia32: 'i686' };

export function novaArch(): string {
  return NOVA_ARCH[nodeArch()] ?? nodeArch();
}

export function measureHost(diskPath: string): HostResources {
  const fs = statfsSync(diskPath);
  return {
    vcpus: cpus().length,
    memoryMb: Math.floor(totalmem() / MIB),
    localGb: Math.floor((fs.blocks * fs.bsize) / GIB),
    freeDiskGb: Math.floor((fs.bavail * fs.bsize) / GIB),
    arch: novaArch(),
    cpuInfo: JSON.stringify(cpuInfo(readCpuinfo())),
  };
}

function readCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

/** Parses /proc/cpuinfo into Nova's cpu_info shape: arch, model, vendor, topology, features. */
export function cpuInfo(procCpuinfo: string): Record<string, unknown> {
  const blocks = procCpuinfo.split(/\n\s*\n/).filter((b) => b.trim() !== '');
  const field = (block: string, name: string): string | undefined =>
    new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(block)?.[1]?.trim();
  const first = blocks[0] ?? '';
  const sockets = new Set(blocks.map((b) => field(b, 'physical id') ?? '0')).size || 1;
  const coresPerSocket = Number(field(first, 'cpu cores') ?? '') || Math.max(1, Math.floor(blocks.length / sockets));
  const logical = blocks.length || cpus().length;
  const threads = Math.max(1, Math.round(logical / (sockets * coresPerSocket)));
  return {
    arch: novaArch(),
    model: field(first, 'model name') ?? cpus()[0]?.model ?? 'unknown',
    vendor: field(first, 'vendor_id') ?? 'unknown',
    topology: { sockets, cores: coresPerSocket, threads },
    features: (field(first, 'flags') ?? field(first, 'Features') ?? '').split(/\s+/).filter(Boolean).sort(),
  };
}

/** Nova's convention for hypervisor_version: "20.10.24" -> 20010024. */
export function versionToInt(version: string): number {
  const [major = 0, minor = 0, patch = 0] = version.split(/[.+-]/).map((p) => Number.parseInt(p, 10) || 0);
  return major * 1_000_000 + minor * 1_000 + patch;
}
