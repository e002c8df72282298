/**
 * The host's ComputeNode record and its Placement resource provider, kept in step with what
 * the machine has and what its instances use (nova/compute/resource_tracker.py's duties).
 * An operation changes its own instance's usage and saves the ComputeNode if a reported field
 * changed: its cost does not grow with the host's instances. Only the audit (at start-up, in
 * update_available_resource and when the host is enabled or disabled) measures the machine,
 * lists every instance through the conductor and syncs Placement's inventory and traits.
 * The ComputeNode uuid is kept in `<state_path>/compute_id`, so a restart finds the same node
 * and the same provider instead of making new ones.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/log.js';
import type { ResourcePolicy } from '../config/types.js';
import type { RequestContext } from '../messaging/types.js';
import type { ConductorClient } from './conductor.js';
import { NovaObject, sameValue, type FieldValue } from './objects/versioned-object.js';
import { objectVersion } from './objects/manifest.js';
import { PlacementError, type Inventories, type PlacementClient } from './placement.js';
import type { HostResources } from './host-resources.js';
import { instancesOnHost } from './instance-list.js';
import { InstanceUsageLedger, usageOf, type InstanceUsage, type Usage } from './instance-usage.js';

/** Traits this host decides; any other trait on the provider belongs to someone else and stays. */
function ownedTrait(t: string): boolean {
  return ['COMPUTE_NODE', 'COMPUTE_STATUS_DISABLED', 'COMPUTE_NET_ATTACH_INTERFACE'].includes(t) || t.startsWith('COMPUTE_IMAGE_TYPE_');
}

const PLACEMENT_RETRIES = 4;

export type MeasuredHost = HostResources & { hypervisorType: string; hvType: string; hypervisorVersion: number };

export interface TrackerDeps {
  conductor: ConductorClient;
  placement: PlacementClient;
  log: Logger;
  host: string;
  nodename: string;
  hostIp: string;
  statePath: string;
  policy: ResourcePolicy;
  /** Measures the machine (and the engine's disk) afresh. */
  measure: () => Promise<MeasuredHost>;
  /**
   * The driver's capability traits (instance-driver.ts capabilityTraits), reported with
   * COMPUTE_NODE: e.g. raw images (container images and snapshots are disk_format=raw; it
   * matters when [scheduler] query_placement_for_image_type_support is on).
   */
  capabilityTraits: string[];
}

export class ResourceTracker {
  private node: NovaObject | null = null;
  private providerGeneration: number | null = null;
  private readonly ledger = new InstanceUsageLedger();
  /** The machine as the last audit measured it, and the inventory it left in Placement. */
  private measured: MeasuredHost | null = null;
  private inventories: Inventories | null = null;
  /** Audits and saves run one at a time: the ComputeNode object is saved from one place. */
  private queue: Promise<void> = Promise.resolve();
  private audits = 0;

  constructor(private readonly d: TrackerDeps) {}

  get computeNode(): NovaObject {
    if (!this.node) throw new Error('resource tracker not initialised');
    return this.node;
  }

  /** The ComputeNode row's id, null before init. */
  get computeNodeId(): number | null {
    const id = this.node?.get('id');
    return typeof id === 'number' ? id : null;
  }

  get providerUuid(): string {
    return this.computeNode.str('uuid');
  }

  /** Finds or creates this host's ComputeNode, then audits. */
  async init(ctx: RequestContext, disabled: boolean): Promise<void> {
    this.node = await this.serially(() => this.findOrCreateNode(ctx));
    await this.audit(ctx, disabled);
  }

  /**
   * Periodic, at start-up and when the host is enabled or disabled: re-measure, list every
   * instance of the host (in pages: src/nova-driver/instance-list.ts), sync Placement, save the ComputeNode if it
   * changed.
   */
  async audit(ctx: RequestContext, disabled: boolean): Promise<void> {
    await this.serially(async () => {
      this.measured = await this.d.measure();
      const drift = await this.relist(ctx);
      // the first audit fills the ledger: nothing was recorded before it
      const first = this.audits++ === 0;
      if (drift.length && !first) this.d.log.warn({ instances: drift.slice(0, 20), count: drift.length }, 'the audit found usage the operations had not recorded');
      this.inventories = await this.syncPlacement(this.measured, disabled);
      await this.saveNode(ctx);
    });
  }

  /** The instance is on this host with its current flavor and states (after a build, resize, unshelve). */
  async track(ctx: RequestContext, inst: NovaObject): Promise<void> {
    if (!inst.obj('flavor')) {
      this.d.log.warn({ instance: inst.str('uuid') }, 'instance without its flavor: its usage is left to the next audit');
      return;
    }
    this.ledger.track(inst.str('uuid'), usageOf(inst));
    await this.serially(() => this.saveNode(ctx));
  }

  /** The instance left this host (deleted, offloaded). */
  async untrack(ctx: RequestContext, uuid: string): Promise<void> {
    this.ledger.untrack(uuid);
    await this.serially(() => this.saveNode(ctx));
  }

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  /** Saves the ComputeNode's fields that differ from what the ledger and the last measure say. */
  private async saveNode(ctx: RequestContext): Promise<void> {
    const node = this.node;
    if (!node || !this.measured) return; // before the first audit: it saves
    const fields = nodeFields(this.measured, this.currentUsage(), this.inventories, this.d);
    for (const [k, v] of Object.entries(fields)) {
      if (!sameValue(node.get(k), v)) node.set(k, v);
    }
    if (node.changes().length > 0) await this.d.conductor.objectAction(ctx, node, 'save');
  }

  private currentUsage(): Usage {
    return this.ledger.usage({ memoryMb: this.d.policy.reservedMemoryMb, diskGb: Math.ceil(this.d.policy.reservedDiskMb / 1024) });
  }

  private async findOrCreateNode(ctx: RequestContext): Promise<NovaObject> {
    const idFile = join(this.d.statePath, 'compute_id');
    const saved = readId(idFile);
    let node: NovaObject | null = null;
    try {
      node = await this.d.conductor.classActionObject(ctx, 'ComputeNode', 'get_by_host_and_nodename', [this.d.host, this.d.nodename]);
    } catch (err) {
      if (!(err instanceof Error && err.name === 'ComputeHostNotFound')) throw err;
    }
    if (node) {
      const uuid = node.str('uuid');
      if (saved && saved !== uuid) this.d.log.warn({ saved, uuid }, 'compute_id file disagrees with the ComputeNode record; keeping the record\'s uuid');
      if (saved !== uuid) writeId(idFile, uuid);
      this.d.log.info({ uuid, id: node.get('id') }, 'found this host\'s compute node');
      return node;
    }
    const uuid = saved ?? randomUUID();
    writeId(idFile, uuid); // before create: a crash after it must not lead to a second node
    const host = await this.d.measure();
    await this.relist(ctx);
    const created = NovaObject.create('ComputeNode', objectVersion('ComputeNode'), {
      uuid,
      ...nodeFields(host, this.currentUsage(), null, this.d),
    });
    await this.d.conductor.objectAction(ctx, created, 'create');
    this.d.log.info({ uuid, id: created.get('id') }, 'created this host\'s compute node');
    return created;
  }

  /** The ledger from a listing of the node's instances (as the resource tracker counts them); the drift it corrected. */
  private async relist(ctx: RequestContext): Promise<string[]> {
    this.ledger.auditStarted();
    const listed = new Map<string, InstanceUsage>();
    for (const inst of await instancesOnHost(this.d.conductor, ctx, this.d.host, ['flavor'])) {
      // nova-compute's tracker counts its node's: InstanceList.get_by_host_and_node
      if (inst.optStr('node') !== this.d.nodename) continue;
      const usage = usageOf(inst);
      if (usage) listed.set(inst.str('uuid'), usage);
    }
    return this.ledger.audited(listed);
  }

  /** Ensures the provider exists with this host's inventory and traits; returns the inventory. */
  private async syncPlacement(host: HostResources, disabled: boolean): Promise<Inventories> {
    const p = this.d.placement;
    const uuid = this.providerUuid;
    if (this.providerGeneration === null) {
      const tree = await p.providersInTree(uuid);
      const me = tree.find((rp) => rp.uuid === uuid);
      this.providerGeneration = me ? me.generation : (await p.createProvider(uuid, this.d.nodename)).generation;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const current = await p.inventories(uuid);
        const wanted = inventoriesFor(host, this.d.policy, current.inventories);
        const generation = sameInventories(current.inventories, wanted)
          ? current.generation
          : await p.setInventories(uuid, current.generation, wanted);
        const traits = await p.traits(uuid);
        const keep = traits.traits.filter((t) => !ownedTrait(t));
        const want = [...new Set([...keep, 'COMPUTE_NODE', ...this.d.capabilityTraits, ...(disabled ? ['COMPUTE_STATUS_DISABLED'] : [])])].sort();
        this.providerGeneration = [...traits.traits].sort().join() === want.join()
          ? Math.max(generation, traits.generation)
          : await p.setTraits(uuid, traits.generation, want);
        return wanted;
      } catch (err) {
        // Someone else (nova-api mirroring aggregates, an operator) changed the provider meanwhile.
        if (err instanceof PlacementError && err.code === 'placement.concurrent_update' && attempt < PLACEMENT_RETRIES) continue;
        throw err;
      }
    }
  }
}

function inventoriesFor(host: HostResources, policy: ResourcePolicy, existing: Inventories): Inventories {
  const ratio = (cls: string, configured: number | undefined, initial: number): number =>
    configured ?? existing[cls]?.allocation_ratio ?? initial;
  const inv = (total: number, reserved: number, allocationRatio: number) => ({
    total, reserved: Math.min(reserved, total), min_unit: 1, max_unit: total, step_size: 1, allocation_ratio: allocationRatio,
  });
  const out: Inventories = {};
  if (host.vcpus > 0) out.VCPU = inv(host.vcpus, policy.reservedCpus, ratio('VCPU', policy.cpuRatio, policy.initialCpuRatio));
  if (host.memoryMb > 0) out.MEMORY_MB = inv(host.memoryMb, policy.reservedMemoryMb, ratio('MEMORY_MB', policy.ramRatio, policy.initialRamRatio));
  if (host.localGb > 0) out.DISK_GB = inv(host.localGb, Math.ceil(policy.reservedDiskMb / 1024), ratio('DISK_GB', policy.diskRatio, policy.initialDiskRatio));
  return out;
}

function sameInventories(a: Inventories, b: Inventories): boolean {
  const keys = ['total', 'reserved', 'min_unit', 'max_unit', 'step_size', 'allocation_ratio'] as const;
  const classes = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const c of classes) {
    if (!a[c] || !b[c]) return false;
    for (const k of keys) if (a[c][k] !== b[c][k]) return false;
  }
  return true;
}

/** ComputeNode fields (nova/objects/compute_node.py), as nova-compute fills them. */
function nodeFields(host: MeasuredHost, usage: Usage, inventories: Inventories | null,
  d: TrackerDeps): Record<string, FieldValue> {
  const ratio = (cls: string, configured: number | undefined, initial: number): number =>
    inventories?.[cls]?.allocation_ratio ?? configured ?? initial;
  return {
    host: d.host,
    hypervisor_hostname: d.nodename,
    hypervisor_type: host.hypervisorType,
    hypervisor_version: host.hypervisorVersion,
    vcpus: host.vcpus,
    memory_mb: host.memoryMb,
    local_gb: host.localGb,
    vcpus_used: usage.vcpus,
    memory_mb_used: usage.memoryMb,
    local_gb_used: usage.diskGb,
    free_ram_mb: host.memoryMb - usage.memoryMb,
    free_disk_gb: host.localGb - usage.diskGb,
    disk_available_least: host.freeDiskGb,
    current_workload: usage.currentWorkload,
    running_vms: usage.runningVms,
    cpu_info: host.cpuInfo,
    host_ip: d.hostIp,
    numa_topology: null,
    metrics: '[]',
    stats: usage.stats,
    supported_hv_specs: [NovaObject.create('HVSpec', objectVersion('HVSpec'), { arch: host.arch, hv_type: host.hvType, vm_mode: 'exe' })],
    pci_device_pools: NovaObject.create('PciDevicePoolList', objectVersion('PciDevicePoolList'), { objects: [] }),
    cpu_allocation_ratio: ratio('VCPU', d.policy.cpuRatio, d.policy.initialCpuRatio),
    ram_allocation_ratio: ratio('MEMORY_MB', d.policy.ramRatio, d.policy.initialRamRatio),
    disk_allocation_ratio: ratio('DISK_GB', d.policy.diskRatio, d.policy.initialDiskRatio),
  };
}

function readId(file: string): string | null {
  try {
    const id = readFileSync(file, 'utf8').trim();
    return /^[0-9a-f-]{36}$/i.test(id) ? id : null;
  } catch {
    return null;
  }
}

function writeId(file: string, uuid: string): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(`${file}.tmp`, `${uuid}\n`);
  renameSync(`${file}.tmp`, file);
}
