/**
 * The resource tracker's cost per operation: an instance built or deleted changes its own
 * usage and saves the ComputeNode once, with no listing of the host's instances and no
 * Placement call; the audit lists the host (a page of instances at a time), corrects what the
 * operations missed, and lets an operation made during its listing win. In-memory conductor and
 * Placement record each call.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConductorClient } from '../../../src/nova-driver/conductor.js';
import type { Inventories, PlacementClient, ResourceProvider } from '../../../src/nova-driver/placement.js';
import { ResourceTracker, type MeasuredHost } from '../../../src/nova-driver/resource-tracker.js';
import { InstanceUsageLedger, usageOf } from '../../../src/nova-driver/instance-usage.js';
import { NovaObject, type FieldValue } from '../../../src/nova-driver/objects/versioned-object.js';
import { adminContext } from '../../../src/nova-driver/context.js';
import { captureLogs } from '../../helpers/log-capture.js';
import { HOST, flavorObject, instanceObject } from '../../helpers/fake-compute.js';

const HOST_MEASURE: MeasuredHost = {
  vcpus: 8, memoryMb: 16384, localGb: 100, freeDiskGb: 90, arch: 'x86_64', cpuInfo: '{}', hypervisorType: 'podman', hvType: 'docker', hypervisorVersion: 28002002,
};

/** The conductor's side: the instances of the host as the database has them, and every call. */
class Conductor {
  readonly onHost = new Map<string, NovaObject>();
  readonly calls: string[] = [];
  readonly saved: string[][] = [];
  /** The arguments of each InstanceList.get_by_filters. */
  readonly listings: { args: FieldValue[]; kwargs: Record<string, FieldValue> }[] = [];
  /** When set, the next listing waits for it (to act during an audit). */
  listingGate: Promise<void> | null = null;

  /** InstanceList.get_by_filters as the database answers it: the host's instances by uuid, a page of them after the marker. */
  async classActionObject(_ctx: unknown, objname: string, method: string, args: FieldValue[] = [], kwargs: Record<string, FieldValue> = {}): Promise<NovaObject | null> {
    this.calls.push(`${objname}.${method}`);
    if (`${objname}.${method}` !== 'InstanceList.get_by_filters') return null;
    this.listings.push({ args, kwargs });
    const { host } = args[0] as { host: string };
    const { limit, marker } = kwargs as { limit: number; marker: string | null };
    const sorted = [...this.onHost.values()].filter((i) => i.get('host') === host).sort((a, b) => a.str('uuid').localeCompare(b.str('uuid')));
    const from = marker === null ? 0 : sorted.findIndex((i) => i.str('uuid') === marker) + 1;
    const page = sorted.slice(from, from + limit);
    if (this.listingGate) await this.listingGate;
    return new NovaObject('InstanceList', '2.6', { objects: page });
  }

  async objectAction(_ctx: unknown, obj: NovaObject, method: string): Promise<FieldValue> {
    this.calls.push(`${obj.name}.${method}`);
    if (method === 'save') this.saved.push(obj.changes().sort());
    obj.applyUpdates(method === 'create' ? { id: 7 } : {});
    return null;
  }
}

class Placement {
  readonly calls: string[] = [];
  private generation = 0;
  private inv: Inventories = {};
  private traitList: string[] = [];

  async providersInTree(): Promise<ResourceProvider[]> { this.calls.push('providersInTree'); return []; }
  async createProvider(uuid: string, name: string): Promise<ResourceProvider> { this.calls.push('createProvider'); return { uuid, name, generation: 0 } as ResourceProvider; }
  async inventories(): Promise<{ generation: number; inventories: Inventories }> { this.calls.push('inventories'); return { generation: this.generation, inventories: this.inv }; }
  async setInventories(_u: string, _g: number, inv: Inventories): Promise<number> { this.calls.push('setInventories'); this.inv = inv; return ++this.generation; }
  async traits(): Promise<{ generation: number; traits: string[] }> { this.calls.push('traits'); return { generation: this.generation, traits: this.traitList }; }
  async setTraits(_u: string, _g: number, traits: string[]): Promise<number> { this.calls.push('setTraits'); this.traitList = traits; return ++this.generation; }
}

function setup() {
  const conductor = new Conductor();
  const placement = new Placement();
  const logs = captureLogs();
  const statePath = mkdtempSync(join(tmpdir(), 'nc-rt-'));
  let measures = 0;
  const tracker = new ResourceTracker({
    conductor: conductor as unknown as ConductorClient,
    placement: placement as unknown as PlacementClient,
    log: logs.log, host: HOST, nodename: HOST, hostIp: '127.0.0.1', statePath,
    policy: { reservedCpus: 0, reservedMemoryMb: 512, reservedDiskMb: 0, initialCpuRatio: 4, initialRamRatio: 1, initialDiskRatio: 1 },
    measure: async () => { measures++; return HOST_MEASURE; },
    capabilityTraits: [],
  });
  return { conductor, placement, logs, tracker, statePath, measures: () => measures };
}

const ctx = adminContext();

function server(vcpus: number, memoryMb: number, rootGb: number, fields: Record<string, FieldValue> = {}): NovaObject {
  return instanceObject({ flavor: flavorObject({ vcpus, memory_mb: memoryMb, root_gb: rootGb }), ...fields });
}

describe('resource tracker: usage kept per operation, the host re-listed only by the audit', () => {
  let s: ReturnType<typeof setup>;
  beforeEach(() => { s = setup(); });
  afterEach(() => rmSync(s.statePath, { recursive: true, force: true }));

  it('init lists the host once, creates the node and syncs Placement; the usage counts what was listed', async () => {
    const a = server(2, 1024, 10);
    s.conductor.onHost.set(a.str('uuid'), a);
    await s.tracker.init(ctx, false);
    const node = s.tracker.computeNode;
    assert.deepEqual([node.get('vcpus_used'), node.get('memory_mb_used'), node.get('local_gb_used'), node.get('running_vms')], [2, 1024 + 512, 10, 1]);
    assert.ok(s.placement.calls.includes('setInventories'));
    assert.equal(s.logs.find('the audit found usage the operations had not recorded').length, 0, 'the first audit fills the ledger: no drift to speak of');
    assert.equal(s.conductor.calls.filter((c) => c === 'InstanceList.get_by_filters').length, 2, 'once to create the node, once in the audit');
  });

  it('the audit lists the host a hundred instances at a time, and counts those of its node', async () => {
    await s.tracker.init(ctx, false);
    for (let i = 0; i < 230; i++) {
      const inst = server(1, 16, 0);
      s.conductor.onHost.set(inst.str('uuid'), inst);
    }
    const elsewhere = server(8, 16, 0, { node: `${HOST}-other-node` });
    s.conductor.onHost.set(elsewhere.str('uuid'), elsewhere);
    const before = s.conductor.calls.length;
    await s.tracker.audit(ctx, false);
    assert.equal(s.conductor.calls.slice(before).filter((c) => c === 'InstanceList.get_by_filters').length, 3);
    // get_by_host's query (not deleted, soft-deleted included), ordered by uuid, from the last one of the page before
    const [, , last] = s.conductor.listings.slice(-3);
    assert.deepEqual(last.args, [{ host: HOST, deleted: false, soft_deleted: true }]);
    assert.deepEqual([last.kwargs.sort_keys, last.kwargs.sort_dirs, last.kwargs.limit], [['uuid'], ['asc'], 100]);
    assert.equal(last.kwargs.marker, [...s.conductor.onHost.keys()].sort()[199]);
    assert.deepEqual([s.tracker.computeNode.get('vcpus_used'), s.tracker.computeNode.get('running_vms')], [230, 230]);
  });

  it('names the engine as the hypervisor type and Nova\'s HVType in the supported instances', async () => {
    await s.tracker.init(ctx, false);
    const node = s.tracker.computeNode;
    assert.equal(node.get('hypervisor_type'), 'podman');
    const specs = node.get('supported_hv_specs') as NovaObject[];
    assert.deepEqual(specs.map((h) => [h.get('arch'), h.get('hv_type'), h.get('vm_mode')]), [['x86_64', 'docker', 'exe']]);
  });

  it('a build and a delete each save the node once, with no listing, no measure and no Placement call', async () => {
    await s.tracker.init(ctx, false);
    const [conductorCalls, placementCalls, measures] = [s.conductor.calls.length, s.placement.calls.length, s.measures()];
    const a = server(2, 1024, 10);
    await s.tracker.track(ctx, a);
    assert.deepEqual(s.conductor.calls.slice(conductorCalls), ['ComputeNode.save']);
    const node = s.tracker.computeNode;
    assert.deepEqual([node.get('vcpus_used'), node.get('memory_mb_used'), node.get('free_ram_mb'), node.get('local_gb_used')], [2, 1536, 16384 - 1536, 10]);
    assert.deepEqual(s.conductor.saved.at(-1), ['free_disk_gb', 'free_ram_mb', 'local_gb_used', 'memory_mb_used', 'running_vms', 'stats', 'vcpus_used']);
    await s.tracker.track(ctx, a);
    assert.equal(s.conductor.calls.length, conductorCalls + 1, 'nothing changed: no save');
    await s.tracker.untrack(ctx, a.str('uuid'));
    assert.deepEqual(s.conductor.calls.slice(conductorCalls), ['ComputeNode.save', 'ComputeNode.save']);
    assert.deepEqual([node.get('vcpus_used'), node.get('memory_mb_used'), node.get('running_vms')], [0, 512, 0]);
    assert.equal(s.placement.calls.length, placementCalls);
    assert.equal(s.measures(), measures);
  });

  it('the audit corrects usage an operation did not record, and says so', async () => {
    await s.tracker.init(ctx, false);
    const missed = server(4, 2048, 20);
    s.conductor.onHost.set(missed.str('uuid'), missed);
    const gone = server(1, 128, 1);
    await s.tracker.track(ctx, gone); // tracked, but the database no longer has it here
    await s.tracker.audit(ctx, false);
    assert.deepEqual([s.tracker.computeNode.get('vcpus_used'), s.tracker.computeNode.get('running_vms')], [4, 1]);
    const [warn] = s.logs.find('the audit found usage the operations had not recorded');
    assert.equal(warn?.count, 2);
  });

  it('an instance given without its flavor leaves the usage as it was (no guess of 0)', async () => {
    await s.tracker.init(ctx, false);
    const a = server(2, 1024, 10);
    await s.tracker.track(ctx, a);
    await s.tracker.track(ctx, instanceObject({ uuid: a.str('uuid'), flavor: null }));
    assert.equal(s.tracker.computeNode.get('vcpus_used'), 2);
    assert.equal(s.logs.find('instance without its flavor: its usage is left to the next audit').length, 1);
  });

  it('an audit whose listing fails does not stop later operations from saving', async () => {
    await s.tracker.init(ctx, false);
    s.conductor.classActionObject = async () => { throw new Error('MessagingTimeout'); };
    await assert.rejects(s.tracker.audit(ctx, false), /MessagingTimeout/);
    await s.tracker.track(ctx, server(2, 1024, 10));
    assert.equal(s.tracker.computeNode.get('vcpus_used'), 2);
  });

  it('an instance deleted while the audit\'s listing was on its way stays released', async () => {
    await s.tracker.init(ctx, false);
    const a = server(2, 1024, 10);
    s.conductor.onHost.set(a.str('uuid'), a);
    await s.tracker.track(ctx, a);
    let open!: () => void;
    s.conductor.listingGate = new Promise((r) => { open = r; });
    const audit = s.tracker.audit(ctx, false);
    await new Promise((r) => setImmediate(r)); // the listing (with a in it) is on its way
    s.conductor.onHost.delete(a.str('uuid'));
    const untracked = s.tracker.untrack(ctx, a.str('uuid'));
    open();
    await Promise.all([audit, untracked]);
    assert.deepEqual([s.tracker.computeNode.get('vcpus_used'), s.tracker.computeNode.get('running_vms')], [0, 0]);
  });
});

describe('instance usage ledger: nova/compute/stats.py\'s keys and totals', () => {
  it('counts flavors and states as Nova formats them (None for no task), building and snapshotting as I/O work', () => {
    const ledger = new InstanceUsageLedger();
    const a = server(1, 256, 1, { vm_state: 'building', task_state: null, os_type: 'linux' });
    const b = server(2, 512, 2, { task_state: 'image_snapshot', project_id: 'p2', os_type: null });
    ledger.track(a.str('uuid'), usageOf(a));
    ledger.track(b.str('uuid'), usageOf(b));
    ledger.track('deleted', usageOf(server(8, 8, 8, { vm_state: 'deleted' })));
    ledger.track('offloaded', usageOf(server(8, 8, 8, { vm_state: 'shelved_offloaded' })));
    assert.notEqual(usageOf(server(8, 8, 8, { vm_state: 'shelved_offloaded', task_state: 'spawning' })), null, 'one being unshelved uses the host');
    const u = ledger.usage({ memoryMb: 100, diskGb: 1 });
    assert.deepEqual([u.vcpus, u.memoryMb, u.diskGb, u.runningVms, u.currentWorkload], [3, 868, 4, 2, 1]);
    assert.deepEqual(u.stats, {
      num_instances: '2', num_vm_building: '1', num_vm_active: '1', num_task_None: '1', num_task_image_snapshot: '1',
      num_os_type_linux: '1', num_os_type_None: '1', num_proj_p1: '1', num_proj_p2: '1', io_workload: '2', failed_builds: '0',
    });
  });
});
