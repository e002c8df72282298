/**
 * Which Nova service version this host reports, and so which compute RPC version it serves.
 * The control plane refuses computes below its oldest supported release and caps its RPC to
 * the lowest compute's version, looking that version up in its own history: a compute above
 * the conductor's version breaks the lookup (ServiceTooOld on nova-api's side), one below the
 * cell's lowest compute is refused by the conductor itself (Service.create/save). The README's
 * "Which OpenStack releases" lists the resulting version per release.
 */

/**
 * Service versions this host implements, each with the compute RPC version it implies.
 * 64 is the lowest: the objects this host sends are Zed's (objects/manifest.ts), which a Yoga
 * conductor (61-63) cannot load (BlockDeviceMapping 1.21, InstanceExternalEvent 1.5).
 * 65 (stable node identity) is the compute_id file the resource tracker keeps. 69 and 70 add
 * only sound and USB model traits, which this host does not report, so the scheduler never
 * sends it instances needing them. 71 brings RPC 6.5's second server (topic compute-alt),
 * not implemented, so 70 is the highest.
 */
export const SERVICE_VERSIONS: ReadonlyMap<number, string> = new Map([
  [64, '6.1'], [65, '6.1'], [66, '6.2'], [67, '6.3'], [68, '6.4'], [69, '6.4'], [70, '6.4'],
]);
export const LOWEST_SERVICE_VERSION = 64;
export const HIGHEST_SERVICE_VERSION = 70;

/**
 * The lowest nova-compute version a control plane above HIGHEST_SERVICE_VERSION accepts: 71
 * and 72 are 2026.1's (oldest supported: Epoxy, 68); 73 is master after it, and every later
 * release keeps at least Gazpacho's 72.
 */
function lowestAcceptedBy(controlPlane: number): number {
  return controlPlane <= 72 ? 68 : 72;
}

export interface VersionInputs {
  /** Service.get_minimum_version_multi(['nova-conductor']): the cell's conductor; 0 when none is recorded. */
  conductor: number;
  /** The cell's lowest nova-compute version (this host's own record included); 0 when none. */
  minCompute: number;
  /** This host's existing record's version, null before its first registration. */
  ownRecord: number | null;
  /** `[container] service_version` as a number, null for auto. */
  forced: number | null;
}

export interface VersionChoice {
  version: number;
  rpcVersion: string;
  /** Why this version, for the log. */
  reason: string;
  /** Set when a forced version lies outside what this control plane accepts. */
  warning?: string;
}

/** The control plane cannot take any version this host implements: one line naming the versions. */
export class ServiceVersionRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServiceVersionRefused';
  }
}

export function rpcVersionFor(version: number): string {
  const rpc = SERVICE_VERSIONS.get(version);
  if (rpc === undefined) throw new ServiceVersionRefused(`service version ${version} is not implemented (${LOWEST_SERVICE_VERSION}-${HIGHEST_SERVICE_VERSION} are)`);
  return rpc;
}

/** Parses `[container] service_version`: `auto` (null) or an implemented version; throws saying what is allowed. */
export function parseServiceVersionOption(value: string): number | null {
  if (value.trim().toLowerCase() === 'auto') return null;
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!SERVICE_VERSIONS.has(n)) throw new Error(`must be auto or a service version from ${LOWEST_SERVICE_VERSION} to ${HIGHEST_SERVICE_VERSION}`);
  return n;
}

/**
 * The highest implemented version within [lower, upper]: upper is the conductor's version
 * (never above it) capped at what this host implements; lower is the cell's lowest compute
 * (the conductor refuses to write a version below it, and Nova never lowers a service's
 * version below the cell's minimum, this host's own old record included) and, for a control
 * plane newer than this host, the lowest version it accepts.
 */
export function chooseServiceVersion(inputs: VersionInputs): VersionChoice {
  const { conductor, minCompute, forced } = inputs;
  const ownIsMinimum = inputs.ownRecord !== null && inputs.ownRecord === minCompute;
  const minNote = ownIsMinimum ? ' (this host\'s own record; Nova does not lower a service\'s version below the cell\'s minimum)' : '';
  if (forced !== null) {
    const rpcVersion = rpcVersionFor(forced);
    if (forced < minCompute) {
      throw new ServiceVersionRefused(`[container] service_version ${forced} is below the cell's lowest nova-compute version ${minCompute}${minNote}: the conductor would refuse it`);
    }
    const choice: VersionChoice = { version: forced, rpcVersion, reason: 'forced by [container] service_version' };
    if (conductor > 0 && forced > conductor) {
      choice.warning = `forced version ${forced} is above the conductor's ${conductor}: the control plane cannot cap its RPC for it while it is the lowest compute`;
    } else if (conductor > HIGHEST_SERVICE_VERSION && forced < lowestAcceptedBy(conductor)) {
      choice.warning = `forced version ${forced} is below ${lowestAcceptedBy(conductor)}, the lowest a control plane at ${conductor} accepts: its services will refuse to start`;
    }
    return choice;
  }
  if (conductor <= 0) {
    throw new ServiceVersionRefused('no nova-conductor service is recorded in this cell, so its version is unknown: set [container] service_version');
  }
  if (conductor < LOWEST_SERVICE_VERSION) {
    throw new ServiceVersionRefused(`the control plane is at service version ${conductor}, older than ${LOWEST_SERVICE_VERSION} (Zed), the lowest this host implements`);
  }
  const upper = Math.min(conductor, HIGHEST_SERVICE_VERSION);
  if (conductor > HIGHEST_SERVICE_VERSION && lowestAcceptedBy(conductor) > HIGHEST_SERVICE_VERSION) {
    throw new ServiceVersionRefused(`the control plane is at service version ${conductor} and accepts nova-compute ${lowestAcceptedBy(conductor)} or newer; this host implements up to ${HIGHEST_SERVICE_VERSION}`);
  }
  const lower = Math.max(minCompute, conductor > HIGHEST_SERVICE_VERSION ? lowestAcceptedBy(conductor) : 0);
  if (lower > upper) {
    throw new ServiceVersionRefused(`the cell's lowest nova-compute version is ${minCompute}${minNote}, above ${upper}, the highest this host may report (conductor ${conductor}, implemented up to ${HIGHEST_SERVICE_VERSION})`);
  }
  const reason = upper === conductor ? 'the conductor\'s version' : `the highest this host implements (conductor at ${conductor})`;
  return { version: upper, rpcVersion: rpcVersionFor(upper), reason };
}
