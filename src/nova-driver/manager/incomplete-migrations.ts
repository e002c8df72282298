/**
 * nova-compute's _cleanup_incomplete_migrations (periodic, every instance_delete_interval): a
 * move that failed (its migration in status `error`) can leave a container of the instance on a
 * host that no longer holds it; a failed finish_resize leaves the source's stopped one. Once the
 * instance is deleted, every host of such a migration but the instance's own removes what it
 * still has of it. An instance that is not deleted keeps it: an operator may still recover it.
 */
import type { Logger } from '../../common/log.js';
import type { RequestContext } from '../../messaging/types.js';
import { NovaObject } from '../objects/versioned-object.js';
import type { ManagerDeps } from './deps.js';
import { cachedVifs } from './networking.js';

function items(list: unknown): NovaObject[] {
  return list instanceof NovaObject ? list.items() : [];
}

/** Removes what this host runs of deleted instances whose moves failed; returns their uuids. */
export async function cleanupIncompleteMigrations(deps: ManagerDeps, ctx: RequestContext, log: Logger): Promise<string[]> {
  // Deleted ones too: deleting an instance soft-deletes its migrations (nova/db/main/api.py
  // instance_destroy), which nova-compute's own query, without read_deleted, then misses.
  // `host`: migrations from or to this host.
  const withDeleted: RequestContext = { ...ctx, read_deleted: 'yes' };
  const migrations = items(await deps.conductor.classAction(withDeleted, 'MigrationList', 'get_by_filters', [{ host: deps.host, status: 'error' }]));
  if (migrations.length === 0) return [];
  const uuids = [...new Set(migrations.map((m) => m.str('instance_uuid')))];
  const deleted = items(await deps.conductor.classAction(withDeleted, 'InstanceList', 'get_by_filters',
    [{ deleted: true, soft_deleted: false, uuid: uuids }], { expected_attrs: ['info_cache'] }));
  const removed: string[] = [];
  for (const inst of deleted) {
    const uuid = inst.str('uuid');
    if (inst.optStr('host') === deps.host) continue;
    await deps.locks.run(uuid, async () => {
      if (!await deps.driver.getInfo(uuid)) return;
      await deps.driver.destroy(uuid, cachedVifs(inst));
      removed.push(uuid);
      log.info({ instance: uuid }, 'removed what a failed move left here of a deleted instance');
    });
  }
  return removed;
}
