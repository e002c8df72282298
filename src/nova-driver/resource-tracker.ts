/**
 * The host's ComputeNode record and its Placement resource provider, kept in step with what
 * the machine has and what its instances use (nova/compute/resource_tracker.py's duties).
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

/** Traits this host decides; any other trait on the provider belongs to someone else and stays. */
function ownedTrait(t: string): boolean {
  return ['COMPUTE_NODE', 'COMPUTE_STATUS_DISABLED', 'COMPUTE_NET_ATTACH_INTERFACE'].includes(t) || t.startsWith('COMPUTE_IMAGE_TYPE_');
}

const PLACEMENT_RETRIES = 4;

export type MeasuredHost = HostResources & { hypervisorType: string; hypervisorVersion: number };

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

export interface Usage {
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  stats: Record<string, string>;
  runningVms: number;
  currentWorkload: number;
}

export class ResourceTracker {
  private node: NovaObject | null = null;
  private providerGeneration: number | null = null;

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

  /** Finds or creates this host's ComputeNode, then brings it and Placement up to date. */
  async init(ctx: RequestContext, disabled: boolean): Promise<void> {
    this.node = await this.findOrCreateNode(ctx);
    await this.update(ctx, disabled);
  }

  /** Periodic and on demand: re-measure, save the ComputeNode if it changed, sync Placement. */
  async update(ctx: RequestContext, disabled: boolean): Promise<void> {
    const node = this.computeNode;
    const host = await this.d.measure();
    const usage = await this.usage(ctx);
    const inventories = await this.syncPlacement(host, disabled);
    const fields = nodeFields(host, usage, inventories, this.d);
    for (const [k, v] of Object.entries(fields)) {
      if (!sameValue(node.get(k), v)) node.set(k, v);
    }
    if (node.changes().length > 0) await this.d.conductor.objectAction(ctx, node, 'save');
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
    const usage = await this.usage(ctx);
    const created = NovaObject.create('ComputeNode', objectVersion('ComputeNode'), {
      uuid,
      ...nodeFields(host, usage, null, this.d),
    });
    await this.d.conductor.objectAction(ctx, created, 'create');
    this.d.log.info({ uuid, id: created.get('id') }, 'created this host\'s compute node');
    return created;
  }

  /** What the instances on this node use, from their flavors (as the resource tracker counts). */
  private async usage(ctx: RequestContext): Promise<Usage> {
    const list = await this.d.conductor.classAction(ctx, 'InstanceList', 'get_by_host_and_node', [this.d.host, this.d.nodename],
      { expected_attrs: ['system_metadata', 'numa_topology', 'flavor', 'migration_context', 'resources'] });
    const instances = list instanceof NovaObject ? list.items() : [];
    const u: Usage = { vcpus: 0, memoryMb: this.d.policy.reservedMemoryMb, diskGb: Math.ceil(this.d.policy.reservedDiskMb / 1024), stats: {}, runningVms: 0, currentWorkload: 0 };
    const count = (key: string): void => { u.stats[key] = String(Number(u.stats[key] ?? '0') + 1); };
    for (const inst of instances) {
      if (inst.get('vm_state') === 'deleted') continue;
      const flavor = inst.obj('flavor');
      if (flavor) {
        u.vcpus += Number(flavor.get('vcpus') ?? 0);
        u.memoryMb += Number(flavor.get('memory_mb') ?? 0);
        u.diskGb += Number(flavor.get('root_gb') ?? 0) + Number(flavor.get('ephemeral_gb') ?? 0);
      }
      u.runningVms += 1;
      count('num_instances');
      count(`num_vm_${String(inst.get('vm_state'))}`);
      count(`num_task_${String(inst.get('task_state'))}`);
      count(`num_os_type_${String(inst.get('os_type'))}`);
      count(`num_proj_${String(inst.get('project_id'))}`);
      if (inst.get('task_state') !== null && inst.get('task_state') !== undefined) u.currentWorkload += 1;
    }
    u.stats.num_instances ??= '0';
    u.stats.io_workload = String(u.currentWorkload);
    u.stats.failed_builds = '0';
    return u;
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
    supported_hv_specs: [NovaObject.create('HVSpec', objectVersion('HVSpec'), { arch: host.arch, hv_type: host.hypervisorType, vm_mode: 'exe' })],
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
