/**
 * The compute RPC API 6.x endpoint (topic `compute`, namespace none): one handler per method.
 * Every method of Nova's compute RPC API up to 6.4 (2025.1) has an entry: implemented here,
 * or answered as not supported by this host — for an instance operation that means what Nova
 * does when a virt driver raises NotImplementedError: the task_state is cleared and the
 * instance gets a fault saying so, never a silent drop.
 */
import { NotImplementedError } from '../errors.js';
import type { Endpoint, RequestContext } from '../../messaging/types.js';
import type { ManagerDeps } from './deps.js';
import { instanceAction, instanceFromArgs, settle } from './instance-action.js';
import { CONSOLE_ARGS, EXTERNAL_EVENTS_ARG, INSTANCE_ARG, SHARE_ARGS, VALIDATE_CONSOLE_PORT_ARGS, type InstanceMethod } from './compute-args.js';
import { GRAPHICAL_CONSOLE_METHODS, getSerialConsole, graphicalConsole, validateConsolePort } from './consoles.js';
import { preservedPorts, saveInfoCache } from './networking.js';
import { buildAndRunInstance } from './build.js';
import { terminateInstance } from './terminate.js';
import { snapshotInstance } from './snapshot.js';
import { rebuildInstance } from './rebuild.js';
import { shelveInstance, shelveOffloadInstance, unshelveInstance } from './shelve.js';
import { confirmResize, finishResize, finishRevertResize, prepResize, resizeInstance, revertResize } from './resize.js';
import { attachInterface, detachInterface } from './interfaces.js';
import { LIVE_MIGRATION_CHECKS, refuseLiveMigration } from './live-migration.js';
import {
  getConsoleOutput, pauseInstance, rebootInstance, resumeInstance, startInstance, stopInstance, suspendInstance, unpauseInstance,
} from './power.js';

type Handler = Endpoint['handlers'][string];

/** Compute RPC 6.x methods this host does not implement (yet). */
export const UNSUPPORTED_METHODS = [
  'add_fixed_ip_to_instance', 'attach_volume', 'backup_instance', 'cache_images',
  'check_instance_shared_storage',
  'confirm_snapshot_based_resize_at_source', 'detach_volume',
  'drop_move_claim_at_destination', 'finish_revert_snapshot_based_resize_at_source',
  'finish_snapshot_based_resize_at_dest', 'get_diagnostics', 'get_instance_diagnostics', 'host_maintenance_mode', 'host_power_action',
  'inject_network_info', 'live_migration', 'live_migration_abort', 'live_migration_force_complete',
  'post_live_migration_at_destination', 'pre_live_migration', 'prep_snapshot_based_resize_at_dest',
  'prep_snapshot_based_resize_at_source', 'quiesce_instance', 'remove_fixed_ip_from_instance',
  'remove_volume_connection', 'rescue_instance', 'reserve_block_device_name', 'restore_instance',
  'revert_snapshot_based_resize_at_dest', 'rollback_live_migration_at_destination', 'set_admin_password',
  'soft_delete_instance', 'swap_volume',
  'trigger_crash_dump', 'unquiesce_instance', 'unrescue_instance',
  'volume_snapshot_create', 'volume_snapshot_delete',
] as const;

function notSupported(deps: ManagerDeps, method: string): Handler {
  return async (ctx: RequestContext, args: Record<string, unknown>) => {
    const error = new NotImplementedError(`${method} is not supported by this compute host (nova-container)`);
    if (typeof args.instance !== 'object' || args.instance === null) throw error;
    const inst = instanceFromArgs(args);
    return instanceAction(deps, ctx, inst, { event: `compute_${method}` }, async () => { throw error; });
  };
}

/**
 * allow_share / deny_share (6.4) are casts nova-api sends only to hosts whose provider has the
 * COMPUTE_STORAGE_VIRTIO_FS and COMPUTE_MEM_BACKING_FILE traits, which this host does not
 * report (a container has no virtio-fs device): one that arrives anyway is logged and dropped.
 */
function shareNotAvailable(deps: ManagerDeps, method: string): Handler {
  return async (ctx: RequestContext, args: Record<string, unknown>) => {
    const inst = instanceFromArgs(args);
    const mapping = (args.share_mapping as { 'nova_object.data': Record<string, unknown> })['nova_object.data'];
    deps.log.child({ request_id: ctx.request_id, instance: inst.str('uuid') }).warn(
      { method, share_id: mapping.share_id, tag: mapping.tag ?? null },
      'share ignored: this host reports no virtio-fs and memory-backing-file traits, so nova-api should not have sent it');
  };
}

/**
 * `rpcVersion` is what the reported service version implies (service-version.ts): a message
 * asking for a higher 6.x minor gets oslo's UnsupportedVersion back from the dispatcher.
 */
export function computeEndpoint(deps: ManagerDeps, hostHandlers: Endpoint['handlers'], rpcVersion: string): Endpoint {
  const handlers: Endpoint['handlers'] = {};
  const schemas: Record<string, object> = {};
  for (const m of UNSUPPORTED_METHODS) handlers[m] = notSupported(deps, m);
  // The dispatcher checks that the instance can be identified; each handler checks the rest of
  // its arguments inside its instance action (compute-args.ts).
  const instanceHandlers: Record<InstanceMethod, (d: ManagerDeps, c: RequestContext, a: Record<string, unknown>) => Promise<unknown>> = {
    build_and_run_instance: buildAndRunInstance,
    terminate_instance: terminateInstance,
    stop_instance: stopInstance,
    start_instance: startInstance,
    reboot_instance: rebootInstance,
    pause_instance: pauseInstance,
    unpause_instance: unpauseInstance,
    suspend_instance: suspendInstance,
    resume_instance: resumeInstance,
    get_console_output: getConsoleOutput,
    snapshot_instance: snapshotInstance,
    rebuild_instance: rebuildInstance,
    shelve_instance: shelveInstance,
    shelve_offload_instance: shelveOffloadInstance,
    unshelve_instance: unshelveInstance,
    prep_resize: prepResize,
    confirm_resize: confirmResize,
    revert_resize: revertResize,
    resize_instance: resizeInstance,
    finish_resize: finishResize,
    finish_revert_resize: finishRevertResize,
    attach_interface: attachInterface,
    detach_interface: detachInterface,
  };
  for (const [m, h] of Object.entries(instanceHandlers)) {
    handlers[m] = (ctx, args) => h(deps, ctx, args);
    schemas[m] = INSTANCE_ARG;
  }
  for (const m of LIVE_MIGRATION_CHECKS) {
    handlers[m] = (ctx, args) => refuseLiveMigration(deps, ctx, args, m);
    schemas[m] = INSTANCE_ARG;
  }
  // Consoles change nothing of the instance: no instance action, every argument checked by the dispatcher.
  for (const [m, h] of Object.entries({
    get_serial_console: getSerialConsole, validate_console_port: validateConsolePort,
    ...Object.fromEntries(GRAPHICAL_CONSOLE_METHODS.map((g) => [g, graphicalConsole])),
  })) {
    handlers[m] = (ctx, args) => h(deps, ctx, args);
    schemas[m] = m === 'validate_console_port' ? VALIDATE_CONSOLE_PORT_ARGS : CONSOLE_ARGS;
  }
  for (const m of ['allow_share', 'deny_share']) {
    handlers[m] = shareNotAvailable(deps, m);
    schemas[m] = SHARE_ARGS;
  }
  schemas.external_instance_event = EXTERNAL_EVENTS_ARG;
  handlers.external_instance_event = async (ctx, args) => {
    const refresh = new Set<string>();
    // Every waiter first: a build holding the instance's lock waits for its network-vif-plugged,
    // which must not queue behind a network-changed of the same cast that needs that lock.
    for (const e of (args.events as { 'nova_object.data'?: Record<string, unknown> }[] | undefined) ?? []) {
      const ev = e['nova_object.data'] ?? {};
      const uuid = String(ev.instance_uuid);
      const event = { name: String(ev.name), tag: typeof ev.tag === 'string' ? ev.tag : null, status: String(ev.status ?? 'completed') };
      const log = deps.log.child({ request_id: ctx.request_id, instance: uuid });
      if (deps.events.deliver(uuid, event)) {
        log.info({ event: event.name, tag: event.tag, status: event.status }, 'external instance event delivered');
      } else if (event.name === 'network-changed' && deps.ports) {
        refresh.add(uuid);
      } else {
        log.info({ event: event.name, tag: event.tag, status: event.status }, 'external instance event nobody waited for');
      }
    }
    const ports = deps.ports;
    if (!ports) return;
    for (const uuid of refresh) {
      const log = deps.log.child({ request_id: ctx.request_id, instance: uuid });
      // Neutron changed a port (e.g. an address): refresh what nova-api shows, under the
      // instance's lock, so an attach or detach in flight finishes its cache first.
      await settle(log, 'refresh the network info cache', deps.locks.run(uuid, async () => {
        // Which ports the user passed is only in the cache itself: keep it across the refresh.
        const preserve = preservedPorts(await deps.instances.get(ctx, uuid, ['info_cache']));
        await saveInfoCache(deps.conductor, ctx, uuid, await ports.networkInfo(uuid, preserve));
      }));
    }
  };
  Object.assign(handlers, hostHandlers);
  schemas.set_host_enabled = { type: 'object', required: ['enabled'], properties: { enabled: { type: 'boolean' } } };
  return { namespace: null, version: rpcVersion, handlers, schemas };
}
