/**
 * Arguments a handler cannot use fail the operation inside its instance action: the failure
 * is recorded as a fault and the task_state nova-api set before casting is cleared (a build
 * ends in ERROR), never left for good.
 */
import { strict as assert } from 'node:assert';
import { confirmResize, prepResize, revertResize } from '../../../../src/nova-driver/manager/resize.js';
import type { ManagerDeps } from '../../../../src/nova-driver/manager/deps.js';
import { TaskState, VmState } from '../../../../src/nova-driver/manager/states.js';
import { NovaObject } from '../../../../src/nova-driver/objects/versioned-object.js';
import type { RequestContext } from '../../../../src/nova-driver/rpc/types.js';
import type { FieldValue } from '../../../../src/nova-driver/objects/versioned-object.js';
import { argsFor, fakeCompute, flavorObject } from '../../../helpers/fake-compute.js';

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
];

describe('handler arguments', () => {
  for (const t of CASES) {
    it(`${t.name}: a fault, the action event failed, no task_state left`, async () => {
      const c = fakeCompute();
      const inst = c.addInstance(t.before);
      await assert.rejects(t.handler(c.deps, c.ctx, argsFor(inst, t.args)));
      const uuid = inst.str('uuid');
      assert.equal(c.store.record(uuid).get('task_state'), null);
      assert.deepEqual(c.store.faults.map((f) => f.uuid), [uuid]);
      assert.ok(c.store.actionEvents.some((e) => e.phase === 'finish' && e.error !== undefined), 'an action event finished with the failure');
      assert.deepEqual(c.driver.calls.filter((call) => call.method !== 'getInfo'), [], 'the driver was not asked to do anything');
    });
  }
});
