/**
 * check_can_live_migrate_destination / _source: refused with MigrationPreCheckError, the class
 * the conductor's live-migration task takes as "not this host" (it keeps the instance's state;
 * any other error sets the instance to ERROR). As Nova's manager: an instance event, no fault,
 * the task_state left to the conductor.
 */
import { strict as assert } from 'node:assert';
import { RpcDispatcher } from '../../../../src/messaging/dispatcher.js';
import { serializeRemoteException } from '../../../../src/messaging/failure.js';
import type { IncomingCall } from '../../../../src/messaging/types.js';
import { novaErrorHooks } from '../../../../src/nova-driver/errors.js';
import { computeEndpoint } from '../../../../src/nova-driver/manager/compute-endpoint.js';
import { LIVE_MIGRATION_CHECKS } from '../../../../src/nova-driver/manager/live-migration.js';
import { VmState } from '../../../../src/nova-driver/manager/states.js';
import { argsFor, fakeCompute } from '../../../helpers/fake-compute.js';

describe('live migration pre-checks', () => {
  for (const method of LIVE_MIGRATION_CHECKS) {
    it(`${method}: MigrationPreCheckError saying why, the instance as it was`, async () => {
      const c = fakeCompute();
      const inst = c.addInstance({ task_state: 'migrating' });
      const message: IncomingCall = {
        method, args: argsFor(inst, { block_migration: false, disk_over_commit: false }), namespace: null, version: '6.0',
        context: { request_id: 'req-live' }, expectsReply: true,
      };
      const err = await new RpcDispatcher([computeEndpoint(c.deps, {}, '6.0')]).dispatch(message).catch((e: unknown) => e);
      const wire = JSON.parse(serializeRemoteException(err, novaErrorHooks)) as { class: string; module: string; message: string };
      assert.deepEqual([wire.module, wire.class], ['nova.exception', 'MigrationPreCheckError']);
      assert.match(wire.message, /^Migration pre-check error: nova-container does not live-migrate: a running container would have to be checkpointed/);
      const record = c.store.record(inst.str('uuid'));
      assert.deepEqual([record.get('vm_state'), record.get('task_state')], [VmState.ACTIVE, 'migrating'], 'the conductor\'s to reset');
      assert.deepEqual(c.store.faults, [], 'no fault: the conductor records the outcome');
      assert.deepEqual(c.store.actionEvents.map((e) => [e.event, e.phase, e.error !== undefined]),
        [[`compute_${method}`, 'start', false], [`compute_${method}`, 'finish', true]]);
    });
  }
});
