/**
 * What the instances on this host use, kept one instance at a time: an operation adds, replaces
 * or removes its instance's entry, and only the periodic audit lists every instance again
 * (nova/compute/resource_tracker.py claims on build and resize and releases on delete in the
 * same way). The totals and the ComputeNode `stats` are those of nova/compute/stats.py; the
 * vm and task state counts of an instance are those of its last tracked operation (a power
 * action tracks nothing) until the next audit.
 */
import type { NovaObject } from './objects/versioned-object.js';

/** One instance's share of the host, and the states its stats count. */
export interface InstanceUsage {
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  vmState: string;
  taskState: string;
  osType: string;
  projectId: string;
}

export interface Usage {
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  stats: Record<string, string>;
  runningVms: number;
  currentWorkload: number;
}

/** Python's str() of a field, as Nova formats the stats keys (None for a null). */
function pyStr(v: unknown): string {
  return v === null || v === undefined ? 'None' : String(v);
}

/**
 * The instance's usage from its current flavor; null when it uses nothing here: deleted, or
 * shelved and offloaded unless it is being unshelved (nova/compute/vm_states.py
 * allow_resource_removal).
 */
export function usageOf(inst: NovaObject): InstanceUsage | null {
  const vm = inst.get('vm_state');
  if (vm === 'deleted' || (vm === 'shelved_offloaded' && inst.get('task_state') !== 'spawning')) return null;
  const flavor = inst.obj('flavor');
  const n = (k: string): number => Number(flavor?.get(k) ?? 0);
  return {
    vcpus: n('vcpus'),
    memoryMb: n('memory_mb'),
    diskGb: n('root_gb') + n('ephemeral_gb'),
    vmState: pyStr(inst.get('vm_state')),
    taskState: pyStr(inst.get('task_state')),
    osType: pyStr(inst.get('os_type')),
    projectId: pyStr(inst.get('project_id')),
  };
}

/** Task states that count as I/O work (nova/compute/stats.py io_workload), with building instances. */
const IO_TASKS = ['resize_migrating', 'rebuilding', 'resize_prep', 'image_snapshot', 'image_backup', 'rescuing', 'unshelving'];

export interface Reserved {
  memoryMb: number;
  diskGb: number;
}

export class InstanceUsageLedger {
  private readonly entries = new Map<string, InstanceUsage>();
  /** Instances an operation changed while an audit's listing was on its way (see audited). */
  private touchedDuringAudit: Set<string> | null = null;

  get size(): number {
    return this.entries.size;
  }

  /** The instance is on this host as `inst` says (added or replaced); a deleted one is removed. */
  track(uuid: string, usage: InstanceUsage | null): void {
    if (usage) this.entries.set(uuid, usage); else this.entries.delete(uuid);
    this.touchedDuringAudit?.add(uuid);
  }

  /** The instance left this host. */
  untrack(uuid: string): void {
    this.track(uuid, null);
  }

  /** An audit is about to list the host's instances (a failed one is forgotten by the next). */
  auditStarted(): void {
    this.touchedDuringAudit = new Set();
  }

  /**
   * The audit's listing replaces the entries, except those an operation changed after the
   * listing was asked for (the operation's word is newer). Returns the instances on which the
   * ledger and the listing disagreed (drift, which a correct ledger does not have).
   */
  audited(listed: Map<string, InstanceUsage>): string[] {
    const touched = this.touchedDuringAudit ?? new Set<string>();
    this.touchedDuringAudit = null;
    const drift: string[] = [];
    for (const uuid of new Set([...this.entries.keys(), ...listed.keys()])) {
      if (touched.has(uuid)) continue;
      const mine = this.entries.get(uuid);
      const theirs = listed.get(uuid);
      if (!theirs) {
        this.entries.delete(uuid);
        drift.push(uuid);
      } else {
        if (!mine || mine.vcpus !== theirs.vcpus || mine.memoryMb !== theirs.memoryMb || mine.diskGb !== theirs.diskGb) drift.push(uuid);
        this.entries.set(uuid, theirs);
      }
    }
    return drift;
  }

  /** The host's totals and stats, reserved amounts included. */
  usage(reserved: Reserved): Usage {
    const u: Usage = { vcpus: 0, memoryMb: reserved.memoryMb, diskGb: reserved.diskGb, stats: {}, runningVms: 0, currentWorkload: 0 };
    const counts = new Map<string, number>();
    const count = (key: string): void => { counts.set(key, (counts.get(key) ?? 0) + 1); };
    for (const e of this.entries.values()) {
      u.vcpus += e.vcpus;
      u.memoryMb += e.memoryMb;
      u.diskGb += e.diskGb;
      count('num_instances');
      count(`num_vm_${e.vmState}`);
      count(`num_task_${e.taskState}`);
      count(`num_os_type_${e.osType}`);
      count(`num_proj_${e.projectId}`);
      if (e.taskState !== 'None') u.currentWorkload += 1;
    }
    u.runningVms = this.entries.size;
    const io = (counts.get('num_vm_building') ?? 0) + IO_TASKS.reduce((s, t) => s + (counts.get(`num_task_${t}`) ?? 0), 0);
    for (const [k, v] of counts) u.stats[k] = String(v);
    u.stats.num_instances ??= '0';
    u.stats.io_workload = String(io);
    u.stats.failed_builds = '0';
    return u;
  }
}
