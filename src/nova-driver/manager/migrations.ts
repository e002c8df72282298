/** The Migration record of a move (resize, cold migration, evacuation), as the handlers read and save it. */
import { NovaObject, type FieldValue, type ObjectPrimitive } from '../objects/versioned-object.js';
import { withComputeId } from '../objects/compute-id.js';
import type { RequestContext } from '../../messaging/types.js';
import type { ManagerDeps } from './deps.js';

export function migrationFromArgs(args: Record<string, unknown>): NovaObject {
  const m = NovaObject.fromPrimitive(args.migration as ObjectPrimitive);
  m.clearChanges();
  return m;
}

/** `fields` set and saved through the conductor (this host's ComputeNode id beside its node names, Migration 1.8). */
export async function saveMigration(deps: ManagerDeps, ctx: RequestContext, migration: NovaObject, fields: Record<string, FieldValue>): Promise<void> {
  for (const [k, v] of Object.entries(withComputeId(migration, fields, deps.computeNodeId()))) migration.set(k, v);
  await deps.conductor.objectAction(ctx, migration, 'save');
}

/**
 * The MigrationContext an instance carries while it moves to this host (nova/objects/
 * migration_context.py; the resource tracker's move claim): with it nova-api sends the
 * instance's external events (network-vif-plugged) to the migration's hosts, not only to the
 * instance's own. Nothing of NUMA, PCI or resources moves here: those are all null.
 */
export function migrationContext(instanceUuid: string, migration: NovaObject): NovaObject {
  const none = Object.fromEntries(['numa_topology', 'pci_devices', 'pci_requests', 'resources']
    .flatMap((f) => [[`new_${f}`, null], [`old_${f}`, null]]));
  return new NovaObject('MigrationContext', '1.2', { instance_uuid: instanceUuid, migration_id: migration.get('id') ?? null, ...none });
}
