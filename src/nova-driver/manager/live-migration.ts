/**
 * Live migration is refused in its pre-checks (nova/conductor/tasks/live_migrate.py
 * _call_livem_checks_on_host): MigrationPreCheckError is what the conductor takes as "not
 * this host", keeping the instance's state (any other error sets the instance to ERROR) and
 * recording the migration as error. A running container would have to be checkpointed and
 * restored on the other host (CRIU), which this host does not do.
 */
import type { RequestContext } from '../../messaging/types.js';
import { MigrationPreCheckError } from '../errors.js';
import type { ManagerDeps } from './deps.js';
import { instanceAction, instanceFromArgs } from './instance-action.js';

export const LIVE_MIGRATION_CHECKS = ['check_can_live_migrate_destination', 'check_can_live_migrate_source'] as const;

export const LIVE_MIGRATION_REFUSED = 'nova-container does not live-migrate: a running container would have to be checkpointed '
  + 'and restored on the other host (CRIU), which it does not do';

export async function refuseLiveMigration(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>, method: string): Promise<never> {
  const inst = instanceFromArgs(args);
  // as Nova's manager: an instance event, no fault, the task_state left to the conductor
  return instanceAction(deps, ctx, inst, { event: `compute_${method}`, recordFault: false, revertTaskState: false }, async () => {
    throw new MigrationPreCheckError({ reason: LIVE_MIGRATION_REFUSED });
  });
}
