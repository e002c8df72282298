/**
 * An instance's consoles (nova/compute/manager.py get_serial_console, validate_console_port,
 * get_vnc/spice/rdp/mks_console). A container has a serial console, where the host gives it
 * one ([serial_console] enabled): the driver's TCP port, and a ConsoleAuthToken the conductor
 * authorizes (stored hashed with its expiry) for nova-serialproxy to check. It has no graphical
 * console: those are ConsoleTypeUnavailable, which nova-api answers with 400.
 */
import type { RequestContext } from '../../messaging/types.js';
import { ConsoleTypeUnavailable, InstanceNotFound, InstanceNotReady, NovaException } from '../errors.js';
import { NovaObject } from '../objects/versioned-object.js';
import { objectVersion } from '../objects/manifest.js';
import { ConsolePortsExhausted, ConsoleUnavailable } from '../instance-driver.js';
import type { ManagerDeps } from './deps.js';
import { instanceFromArgs } from './instance-action.js';
import { driverCall } from './power.js';
import { VmState } from './states.js';

/** What get_serial_console returns (nova/console/type.py Console.get_connection_info). */
export interface ConsoleConnectInfo {
  host: string;
  port: number;
  internal_access_path: null;
  token: string;
  access_url: string;
}

/** Nova's exception for a port range with no free port left. */
export class SocketPortRangeExhaustedException extends NovaException {
  static override msgFmt = 'Not able to acquire a free port for %(host)s';
  constructor(kwargs: { host: string }, message?: string | null) { super(kwargs, message); }
}

/** context.elevated(): the same request as an admin. */
function elevated(ctx: RequestContext): RequestContext {
  return { ...ctx, is_admin: true, roles: [...new Set([...(ctx.roles ?? []), 'admin'])] };
}

async function driverConsole(deps: ManagerDeps, inst: NovaObject, consoleType: string): Promise<{ uuid: string; host: string; port: number }> {
  if (!deps.serialConsole) throw new ConsoleTypeUnavailable({ console_type: consoleType });
  const uuid = inst.str('uuid');
  try {
    return { uuid, ...await driverCall(inst, () => deps.driver.serialConsole(uuid)) };
  } catch (err) {
    if (err instanceof ConsolePortsExhausted) throw new SocketPortRangeExhaustedException({ host: err.host });
    if (err instanceof ConsoleUnavailable) {
      deps.log.info({ instance: uuid, reason: err.message }, 'no serial console');
      throw new ConsoleTypeUnavailable({ console_type: consoleType });
    }
    throw err;
  }
}

export async function getSerialConsole(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<ConsoleConnectInfo> {
  const consoleType = String(args.console_type);
  const inst = instanceFromArgs(args);
  const { uuid, host, port } = await driverConsole(deps, inst, consoleType).catch((err: unknown) => {
    // no workload yet: one being built is not ready (nova-api: 409), as nova-compute answers
    if (err instanceof InstanceNotFound && inst.optStr('vm_state') === VmState.BUILDING) {
      throw new InstanceNotReady({ instance_id: inst.str('uuid') });
    }
    throw err;
  });
  const settings = deps.serialConsole!;
  const auth = NovaObject.create('ConsoleAuthToken', objectVersion('ConsoleAuthToken'), {
    console_type: consoleType, host, port, internal_access_path: null, instance_uuid: uuid, access_url_base: settings.baseUrl,
  });
  const token = await deps.conductor.objectAction(elevated(ctx), auth, 'authorize', [settings.tokenTtl]);
  if (typeof token !== 'string') throw new TypeError(`ConsoleAuthToken.authorize answered ${JSON.stringify(token)}, not a token`);
  deps.log.child({ request_id: ctx.request_id, instance: uuid }).info({ host, port, ttl_s: settings.tokenTtl }, 'serial console token authorized');
  return { host, port, internal_access_path: null, token, access_url: `${settings.baseUrl}?token=${token}` };
}

/** nova-serialproxy's check, before it connects, that the token's port is still the instance's. */
export async function validateConsolePort(deps: ManagerDeps, _ctx: RequestContext, args: Record<string, unknown>): Promise<boolean> {
  const consoleType = String(args.console_type);
  if (consoleType !== 'serial') throw new ConsoleTypeUnavailable({ console_type: consoleType });
  const { port } = await driverConsole(deps, instanceFromArgs(args), consoleType);
  return String(port) === String(args.port);
}

/** The graphical consoles' methods: a container has no display. */
export const GRAPHICAL_CONSOLE_METHODS = ['get_vnc_console', 'get_spice_console', 'get_rdp_console', 'get_mks_console'] as const;

export async function graphicalConsole(_deps: ManagerDeps, _ctx: RequestContext, args: Record<string, unknown>): Promise<never> {
  throw new ConsoleTypeUnavailable({ console_type: String(args.console_type) });
}
