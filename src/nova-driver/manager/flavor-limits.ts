/**
 * A flavor as the limits an instance is held to (InstanceLimits): its vCPUs, memory and root
 * disk, a process limit, and the extra specs Nova's libvirt driver enforces (quota:cpu_shares,
 * quota:cpu_period, quota:cpu_quota, quota:disk_{read,write}_{bytes,iops}_sec). A `quota:` or
 * `container:` extra spec this host cannot enforce fails the build with a fault naming it, as
 * libvirt's UnsupportedHostCPUControlPolicy does, instead of being ignored.
 *
 * Our own extra specs are in the `container:` namespace, which Nova's API lets through
 * unvalidated (nova/api/validation/extra_specs/validators.py checks registered namespaces only):
 * `container:pids_limit` overrides the host's default process limit.
 */
import type { DiskIoLimits, InstanceLimits } from '../instance-driver.js';

/** The host's policy for what a flavor does not say. */
export interface LimitsPolicy {
  /** Processes and threads per vCPU ([container] pids_per_vcpu). */
  pidsPerVcpu: number;
  /** Whether root_gb is enforced ([container] enforce_root_disk). */
  enforceRootDisk: boolean;
}

export class UnenforceableFlavor extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnenforceableFlavor';
  }
}

const DISK_IO_SPECS: Record<string, keyof DiskIoLimits> = {
  'quota:disk_read_bytes_sec': 'readBytesSec',
  'quota:disk_write_bytes_sec': 'writeBytesSec',
  'quota:disk_read_iops_sec': 'readIopsSec',
  'quota:disk_write_iops_sec': 'writeIopsSec',
};

const CPU_SPECS = ['quota:cpu_shares', 'quota:cpu_period', 'quota:cpu_quota'];
const PIDS_SPEC = 'container:pids_limit';
/** CFS's own default period (and libvirt's when quota:cpu_period is absent or 0). */
const DEFAULT_CPU_PERIOD_US = 100_000;

/** Why a `quota:` extra spec this host does not enforce cannot be, for the fault. */
function whyNot(key: string): string {
  if (/^quota:disk_total_(bytes|iops)_sec$/.test(key)) {
    return 'the engine throttles reads and writes separately; give quota:disk_read_* and quota:disk_write_* instead';
  }
  if (key.startsWith('quota:vif_')) return 'network bandwidth limits are not enforced by this host';
  return 'not a limit this host enforces';
}

function integer(key: string, value: string, min: number): number {
  if (!/^-?\d+$/.test(value.trim())) throw new UnenforceableFlavor(`flavor extra spec ${key}=${value}: not an integer`);
  const n = Number(value.trim());
  if (n < min) throw new UnenforceableFlavor(`flavor extra spec ${key}=${value}: must be at least ${min}`);
  return n;
}

/**
 * `flavor`: the Instance's flavor fields (vcpus, memory_mb, extra_specs). Throws
 * UnenforceableFlavor naming every extra spec that cannot be enforced here.
 */
export function flavorLimits(flavor: { vcpus: number; memoryMb: number; rootGb: number; extraSpecs: Record<string, string> }, policy: LimitsPolicy): InstanceLimits {
  const specs = flavor.extraSpecs;
  const refused = Object.keys(specs).sort()
    .filter((k) => (k.startsWith('quota:') && !(k in DISK_IO_SPECS) && !CPU_SPECS.includes(k)) || (k.startsWith('container:') && k !== PIDS_SPEC))
    .map((k) => `${k} (${k.startsWith('container:') ? `unknown; this host knows ${PIDS_SPEC}` : whyNot(k)})`);
  if (refused.length > 0) throw new UnenforceableFlavor(`flavor extra specs this host cannot enforce: ${refused.join('; ')}`);

  const vcpus = Math.max(1, flavor.vcpus);
  const limits: InstanceLimits = {
    vcpus,
    memoryMb: flavor.memoryMb,
    pids: PIDS_SPEC in specs ? integer(PIDS_SPEC, specs[PIDS_SPEC], 1) : policy.pidsPerVcpu * vcpus,
  };
  // root_gb 0 is Nova's "as big as the image", which only admins may boot by default policy
  // (os_compute_api:servers:create:zero_disk_flavor): no limit
  if (policy.enforceRootDisk && flavor.rootGb > 0) limits.rootGb = flavor.rootGb;
  // cgroup v1's smallest weight is 2; 0 leaves the host's default
  const shares = 'quota:cpu_shares' in specs ? integer('quota:cpu_shares', specs['quota:cpu_shares'], 0) : 0;
  if (shares > 0) limits.cpuShares = Math.max(2, shares);
  // 0 is libvirt's "not set" for the period and "no limit" for the disk throttles
  const period = 'quota:cpu_period' in specs ? integer('quota:cpu_period', specs['quota:cpu_period'], 0) : 0;
  if (period !== 0 && (period < 1000 || period > 1_000_000)) {
    throw new UnenforceableFlavor(`flavor extra spec quota:cpu_period=${period}: must be from 1000 to 1000000 microseconds`);
  }
  const quota = 'quota:cpu_quota' in specs ? integer('quota:cpu_quota', specs['quota:cpu_quota'], -Infinity) : 0;
  // libvirt's quota is each vCPU's, at most a period's worth; a negative one is no quota, which
  // for a container still leaves its vCPUs' worth (a VM cannot use more CPUs than it has either)
  if (quota > 0) {
    const periodUs = period || DEFAULT_CPU_PERIOD_US;
    limits.cpuBandwidth = { periodUs, quotaUs: Math.max(1000, Math.min(quota, periodUs) * vcpus) };
  }
  const diskIo: DiskIoLimits = {};
  for (const [key, field] of Object.entries(DISK_IO_SPECS)) {
    const value = key in specs ? integer(key, specs[key], 0) : 0;
    if (value > 0) diskIo[field] = value;
  }
  if (Object.keys(diskIo).length > 0) limits.diskIo = diskIo;
  return limits;
}
