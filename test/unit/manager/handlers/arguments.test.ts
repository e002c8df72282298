/**
 * Arguments a handler cannot use fail the operation inside its instance action: the failure
 * is recorded as a fault and the task_state nova-api set before casting is cleared (a build
 * ends in ERROR), never left for good.
 */
import { strict as assert } from 'node:assert';
import { confirmResize, prepResize, revertResize } from '../../../../src/nova-driver/manager/resize.js';
import { buildAndRunInstance } from '../../../../src/nova-driver/manager/build.js';
import { rebootInstance, stopInstance } from '../../../../src/nova-driver/manager/power.js';
import { snapshotInstance } from '../../../../src/nova-driver/manager/snapshot.js';
import { shelveInstance } from '../../../../src/nova-driver/manager/shelve.js';
import { detachInterface } from '../../../../src/nova-driver/manager/interfaces.js';
import type { ManagerDeps } from '../../../../src/nova-driver/manager/deps.js';
import { TaskState, VmState } from '../../../../src/nova-driver/manager/states.js';
import { NovaObject } from '../../../../src/nova-driver/objects/versioned-object.js';
import type { RequestContext } from '../../../../src/messaging/types.js';
import type { FieldValue } from '../../../../src/nova-driver/objects/versioned-object.js';
import { argsFor, fakeCompute, flavorObject, networkRequestList } from '../../../helpers/fake-compute.js';

type Handler = (deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>) => Promise<unknown>;

const MIGRATION = new NovaObject('Migration', '1.7', { uuid: 'b0000000-0000-4000-8000-000000000001', status: 'finished' }).toPrimitive();
const FLAVOR = flavorObject({ vcpus: 2 }).toPrimitive();

interface BadArgs {
  name: string;
  handler: Handler;
  /** The instance as nova-api cast it. */
  before: Record<string, FieldValue>;
  args: Record<string, unknown>;
}

const CASES: BadArgs[] = [
  { name: 'prep_resize without a migration', handler: prepResize, before: { task_state: TaskState.RESIZE_PREP }, args: { migration: null, flavor: FLAVOR } },
  { name: 'prep_resize without a flavor', handler: prepResize, before: { task_state: TaskState.RESIZE_PREP }, args: { migration: MIGRATION, flavor: null } },
  { name: 'revert_resize without a migration', handler: revertResize, before: { vm_state: VmState.RESIZED, task_state: TaskState.RESIZE_REVERTING }, args: { migration: null } },
  { name: 'confirm_resize without a migration', handler: confirmResize, before: { vm_state: VmState.RESIZED }, args: { migration: null } },
  { name: 'prep_resize with a flavor that is a name', handler: prepResize, before: { task_state: TaskState.RESIZE_PREP }, args: { migration: MIGRATION, flavor: 'm1.big' } },
  { name: 'prep_resize with a migration without uuid', handler: prepResize, before: { task_state: TaskState.RESIZE_PREP },
    args: { migration: { ...MIGRATION, 'nova_object.data': { status: 'pre-migrating' } }, flavor: FLAVOR } },
  { name: 'stop_instance with clean_shutdown "no"', handler: stopInstance, before: { task_state: TaskState.POWERING_OFF }, args: { clean_shutdown: 'no' } },
  { name: 'reboot_instance of an unknown reboot_type', handler: rebootInstance, before: { task_state: TaskState.REBOOTING }, args: { reboot_type: 'MEDIUM' } },
  { name: 'snapshot_instance without image_id', handler: snapshotInstance, before: { task_state: TaskState.IMAGE_SNAPSHOT_PENDING }, args: {} },
  { name: 'shelve_instance without image_id', handler: shelveInstance, before: { task_state: TaskState.SHELVING }, args: { clean_shutdown: true } },
  { name: 'detach_interface without port_id', handler: detachInterface, before: {}, args: {} },
];

describe('handler arguments', () => {
  for (const t of CASES) {
    it(`${t.name}: a fault, the action event failed, no task_state left`, async () => {
      const c = fakeCompute();
      const inst = c.addInstance(t.before);
      await assert.rejects(t.handler(c.deps, c.ctx, argsFor(inst, t.args)), { name: 'ValueError', message: /^Invalid arguments for RPC method / });
      const uuid = inst.str('uuid');
      assert.equal(c.store.record(uuid).get('task_state'), null);
      assert.deepEqual(c.store.faults.map((f) => f.uuid), [uuid]);
      assert.ok(c.store.actionEvents.some((e) => e.phase === 'finish' && e.error !== undefined), 'an action event finished with the failure');
      assert.deepEqual(c.driver.calls, [], 'the driver was not asked anything');
    });
  }

  const badBuilds: Record<string, Record<string, unknown>> = {
    'an image without id': { image: { properties: {} } },
    'a network request that is no object': { image: { id: 'img-1' }, requested_networks: { ...networkRequestList(), 'nova_object.data': { objects: [null] } } },
  };
  for (const [name, args] of Object.entries(badBuilds)) {
    it(`build_and_run_instance with ${name} fails the build: a fault, ERROR, allocation given back`, async () => {
      const c = fakeCompute();
      const inst = c.addInstance({ vm_state: VmState.BUILDING, task_state: TaskState.SCHEDULING, host: null }, null);
      const uuid = inst.str('uuid');
      await assert.rejects(buildAndRunInstance(c.deps, c.ctx, argsFor(inst, args)), { name: 'ValueError' });
      const record = c.store.record(uuid);
      assert.equal(record.get('vm_state'), VmState.ERROR);
      assert.equal(record.get('task_state'), null);
      assert.deepEqual(c.store.faults.map((f) => f.uuid), [uuid]);
      assert.equal(c.placement.allocations.has(uuid), false);
      assert.deepEqual(c.driver.callsOf('spawn'), []);
    });
  }
});
