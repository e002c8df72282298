/**
 * nova-compute's _cleanup_incomplete_migrations (periodic, every instance_delete_interval): a
 * move that failed (its migration in status `error`) can leave a container of the instance on a
 * host that no longer holds it: the source's stopped one when the destination could not hand
 * the instance back. Once the instance is deleted, every host of such a migration but the
 * instance's own removes what it still has of it and the migration's allocation (which Nova's
 * leaves to `nova-manage placement audit`), and sets the migration to `failed` so that no later
 * period looks at it again. An instance that is not deleted keeps it: an operator may
 * still recover it. Host devices of its ports are the VIF check's (vif-check.ts): the deleted
 * instance's info cache names none.
 */
import type { Logger } from '../../common/log.js';
import type { RequestContext } from '../../messaging/types.js';
import { NovaObject } from '../objects/versioned-object.js';
import type { ManagerDeps } from './deps.js';
import { settle } from './instance-action.js';
import { saveMigration } from './migrations.js';

function items(list: unknown): NovaObject[] {
  return list instanceof NovaObject ? list.items() : [];
}

/** Removes what this host has of deleted instances whose moves failed; returns the uuids of those it removed something of. */
export async function cleanupIncompleteMigrations(deps: ManagerDeps, ctx: RequestContext, log: Logger): Promise<string[]> {
  // Deleted ones too: deleting an instance soft-deletes its migrations (nova/db/main/api.py
  // instance_destroy), which nova-compute's own query, without read_deleted, then misses.
  // `host`: migrations from or to this host.
  const withDeleted: RequestContext = { ...ctx, read_deleted: 'yes' };
  const migrations = items(await deps.conductor.classAction(withDeleted, 'MigrationList', 'get_by_filters', [{ host: deps.host, status: 'error' }]));
  if (migrations.length === 0) return [];
  const uuids = [...new Set(migrations.map((m) => m.str('instance_uuid')))];
  const deleted = items(await deps.conductor.classAction(withDeleted, 'InstanceList', 'get_by_filters',
    [{ deleted: true, soft_deleted: false, uuid: uuids }], { expected_attrs: [] }));
  const removed: string[] = [];
  for (const inst of deleted) {
    const uuid = inst.str('uuid');
    if (inst.optStr('host') === deps.host) continue;
    // each instance on its own: one that cannot be removed now is tried again next period
    const report = await deps.locks.run(uuid, () => deps.driver.destroy(uuid, [])).catch((err: unknown) => {
      log.warn({ instance: uuid, err: (err as Error).message }, 'could not remove what a failed move left here');
      return null;
    });
    if (!report) continue;
    if (report.removed.length > 0) {
      removed.push(uuid);
      log.info({ instance: uuid, removed: report.removed }, 'removed what a failed move left here of a deleted instance');
    }
    for (const m of migrations.filter((x) => x.str('instance_uuid') === uuid)) {
      // what it still holds in Placement is the instance's old flavor on its source, of no use now
      await settle(log, 'delete the migration\'s allocation', deps.placement.deleteAllocations(m.str('uuid')));
      await settle(log, 'set the migration to failed', saveMigration(deps, withDeleted, m, { status: 'failed' }));
    }
  }
  return removed;
}
