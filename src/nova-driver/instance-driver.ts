/**
 * The instance driver contract: what the compute manager asks of whatever runs its instances,
 * the role nova/virt/driver.py ComputeDriver plays in Nova. It speaks instances (by uuid),
 * never containers: a handler calls only this, and an implementation (src/runtime/) owns how
 * an instance is made of engine objects, how it is named and labelled, and where its network
 * namespace lives. Nothing here knows Nova's RPC or objects; the manager turns an Instance object into
 * an InstanceSpec.
 *
 * Errors: a method that finds no such instance throws InstanceMissing; any other failure is an
 * Error whose message says what failed (the manager wraps it in the Nova exception of the
 * operation). Every method is safe to call again after a crash part-way through it.
 */
import type { VifModel } from '../network/network-info.js';
import type { EnsureOutcome } from '../network/vif-plug.js';

/** nova/objects/fields.py PowerState, as integers on the wire. */
export const PowerState = { NOSTATE: 0, RUNNING: 1, PAUSED: 3, SHUTDOWN: 4, CRASHED: 6, SUSPENDED: 7 } as const;
export type PowerState = (typeof PowerState)[keyof typeof PowerState];

/** One file a config drive would carry, written into the instance before it first runs. */
export interface InstanceFile {
  /** Absolute path inside the instance. */
  path: string;
  content: Buffer | string;
  mode?: number;
}

/** Block I/O throttles on the host disk instances write to (Nova's quota:disk_*_sec extra specs). */
export interface DiskIoLimits {
  readBytesSec?: number;
  writeBytesSec?: number;
  readIopsSec?: number;
  writeIopsSec?: number;
}

/**
 * What an instance is held to: its flavor's resources and extra specs (src/nova-driver/manager/
 * flavor-limits.ts). A driver enforces every limit given, or fails saying which it cannot.
 */
export interface InstanceLimits {
  /** CPU time: this many CPUs' worth (unless cpuBandwidth says otherwise). */
  vcpus: number;
  /** Memory, no swap beyond it. */
  memoryMb: number;
  /** Most processes and threads the instance may have at once. */
  pids: number;
  /** Its root file system's size, GiB (flavor root_gb), as the engine counts it; absent: the host's disk. */
  rootGb?: number;
  /** Relative CPU weight against other instances (quota:cpu_shares); absent: the host's default. */
  cpuShares?: number;
  /** CPU time per period for the whole instance (quota:cpu_period, quota:cpu_quota per vCPU). */
  cpuBandwidth?: { periodUs: number; quotaUs: number };
  diskIo?: DiskIoLimits;
}

/** An instance as the driver needs it: everything comes from the Instance object and its image. */
export interface InstanceSpec {
  uuid: string;
  /** The guest's host name (RFC 1123 label, at most 63 characters). */
  hostname: string;
  limits: InstanceLimits;
  /** Server metadata: keys that are valid variable names become the workload's environment. */
  metadata: Record<string, string>;
  /** Replaces the image's command (the image's `os_command_line`, split as a shell would). */
  command?: string[];
  files: InstanceFile[];
}

/** A Glance image as the build request or Glance gave it. */
export interface DriverImage {
  id: string;
  properties?: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * Glance, bound to the request's credentials: the driver makes the image present where it runs
 * instances and uploads snapshots, without knowing whose token it uses.
 */
export interface ImageAccess {
  /**
   * Makes the image present (downloading it at most once per host); returns the driver's
   * reference to it. An image once made present is taken to stay so: `recheck` when the engine
   * refused a reference this returned for want of the image (removed behind the host's back).
   */
  ensure(image: DriverImage, recheck?: boolean): Promise<string>;
  /** Uploads a captured image (the driver's reference) into the queued Glance image `imageId` (formats and properties set). */
  upload(ref: string, imageId: string, parentImageId: string | null): Promise<void>;
}

/**
 * What the manager does for the driver while it plugs (nova/virt/virtapi.py
 * wait_for_instance_event): waiters for Neutron's network-vif-plugged of `portIds` are
 * registered, `plug` runs, then the events are awaited with vif_plugging_timeout and
 * vif_plugging_is_fatal. The waiters are dropped whatever happens.
 */
export interface VirtApi {
  waitForVifPlugged(instanceUuid: string, portIds: string[], plug: () => Promise<void>): Promise<void>;
}

/** The instance's VIFs in eth0, eth1, ... order, looked up only when the driver needs them. */
export type VifSource = () => Promise<VifModel[]>;

export interface SpawnRequest {
  instance: InstanceSpec;
  image: DriverImage;
  images: ImageAccess;
  /**
   * The instance's VIFs, in eth0, eth1, ... order. A promise: the driver may prepare the
   * instance (image present, nothing of it running yet) while the manager is still
   * allocating ports; a rejection aborts the spawn.
   */
  networkInfo: Promise<VifModel[]>;
  /** Wait for network-vif-plugged of the VIFs not yet active before the workload starts (a first build). */
  waitForVifs: boolean;
}

/**
 * A snapshot, shelve or move capture of an instance into a Glance image, cut short by a stop of
 * the service; `instanceUuid` null for one left by a version whose captures did not name it.
 */
export interface InterruptedCapture { instanceUuid: string | null; imageId: string }

export interface InstanceInfo {
  uuid: string;
  /** Nova's power state; a frozen instance is PAUSED (the manager tells SUSPENDED from its vm_state). */
  state: PowerState;
  /** Exit code of the instance's last run, when it is not running. */
  exitCode?: number;
}

export interface VifDevice {
  devname: string;
  /** The instance the host device was made for; null for a plug a crash cut short. */
  instanceUuid: string | null;
}

export interface VifCheck {
  port: string;
  /** `unpluggable`: a vif_type no plugger of this host handles; left alone. */
  outcome: EnsureOutcome | 'unpluggable';
}

/** What a destroy found and removed (what it could not remove is its error). */
export interface DestroyReport {
  removed: string[];
}

/** Events of this host's instances the driver saw that no call of the manager caused. */
export interface InstanceWatcher {
  /**
   * An instance started (e.g. `docker restart`); `networkRestarted` when its network namespace
   * is new and empty (its sandbox started, or a workload with a namespace of its own).
   */
  started(instanceUuid: string, networkRestarted: boolean): void;
  /** The engine's event stream broke; it keeps trying. */
  lost(err: Error): void;
  /** The stream is back: events may have been missed, the engine may have restarted. */
  reconnected(): void;
}

/** What the driver can do, reported as Placement traits (nova/virt/driver.py CAPABILITY_TRAITS_MAP). */
export interface DriverCapabilities {
  supportsAttachInterface: boolean;
  /** Glance disk formats the driver boots. */
  imageTypes: string[];
}

export interface HostInfo {
  /** What `openstack hypervisor show` names: the engine (any string). */
  hypervisorType: string;
  /**
   * The kind of instance the host runs, as Nova's HVType enum knows it (nova/objects/fields.py):
   * the conductor refuses a ComputeNode whose supported_hv_specs name anything else, and the
   * scheduler matches an image's `hypervisor_type` property against it.
   */
  hvType: string;
  /** e.g. "20.10.24". */
  hypervisorVersion: string;
  /** Where instances' file systems live on the host (its free space is the host's disk). */
  dataRoot: string;
}

export class InstanceMissing extends Error {
  constructor(readonly instanceUuid: string) {
    super(`instance ${instanceUuid} is not on this host`);
    this.name = 'InstanceMissing';
  }
}

/** Every port of [serial_console] port_range is taken. */
export class ConsolePortsExhausted extends Error {
  constructor(readonly host: string, range: readonly [number, number]) {
    super(`no free TCP port on ${host} in [serial_console] port_range ${range[0]}:${range[1]}`);
    this.name = 'ConsolePortsExhausted';
  }
}

/** The instance has no serial console: the host gives none, or its workload was made without one. */
export class ConsoleUnavailable extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'ConsoleUnavailable';
  }
}

/** Where an instance's serial console listens: raw bytes over TCP, no authentication of its own. */
export interface ConsoleAddress {
  host: string;
  port: number;
}

export interface InstanceDriver {
  readonly capabilities: DriverCapabilities;

  /** init_host: whatever the driver needs before the first spawn (e.g. its sandbox image). */
  init(): Promise<void>;
  /** The service stops: what the driver serves (consoles) closes; the instances go on running. */
  close(): Promise<void>;
  hostInfo(): Promise<HostInfo>;

  /**
   * Creates and starts the instance. Its network exists before its workload's first process
   * runs: every VIF plugged (and, with `waitForVifs`, reported plugged by Neutron), host name,
   * /etc/hosts and resolv.conf in place. On failure, what was made may be left for destroy().
   */
  spawn(req: SpawnRequest): Promise<void>;
  /**
   * Replaces the instance's workload with a fresh one from `image` (rebuild): the old one
   * stopped gracefully (`graceSeconds`) and removed, its network kept (made again from `vifs`
   * if it is gone); started unless `stopped`.
   */
  rebuild(instance: InstanceSpec, image: DriverImage, images: ImageAccess, stopped: boolean, vifs: VifSource, graceSeconds: number): Promise<void>;
  /**
   * Removes the instance from this host, best-effort: its workload, its network and the host
   * devices of `vifs`; whatever is already gone is skipped. Throws only when something that
   * exists could not be removed (`left` in the message). At a cost that does not grow with the
   * host's instances: a host device of the instance not in `vifs` is left to the VIF check
   * (src/nova-driver/manager/vif-check.ts).
   */
  destroy(instanceUuid: string, vifs: VifModel[]): Promise<DestroyReport>;

  /** Graceful stop (SIGTERM, SIGKILL after `graceSeconds`; 0: at once); a frozen instance is thawed first. */
  powerOff(instanceUuid: string, graceSeconds: number): Promise<void>;
  /**
   * A stopped instance's network taken down while its ports are bound to another host (the
   * source of a move, as libvirt unplugs a migrating guest's VIFs): its namespace given up and
   * the host devices of `vifs` removed. Its next start (powerOn) makes the network again, once
   * the ports are bound here again.
   */
  releaseNetwork(instanceUuid: string, vifs: VifModel[]): Promise<void>;
  /** Starts the workload; its network is made again first (from `vifs`, asked only then) if it is down or gone. */
  powerOn(instanceUuid: string, vifs: VifSource): Promise<void>;
  /** Stop (soft: graceful; hard: kill) and start again, in the same network. */
  reboot(instanceUuid: string, hard: boolean, graceSeconds: number, vifs: VifSource): Promise<void>;
  pause(instanceUuid: string): Promise<void>;
  unpause(instanceUuid: string): Promise<void>;
  /** Suspends the instance; a driver that cannot checkpoint it to disk freezes it with its memory kept. */
  suspend(instanceUuid: string): Promise<void>;
  resume(instanceUuid: string): Promise<void>;
  /** Applies a new flavor's limits to the instance in place (running or not). */
  updateLimits(instanceUuid: string, limits: InstanceLimits): Promise<void>;
  /**
   * Captures the instance's file system into the queued Glance image `imageId`;
   * `uploading` is called between the capture and the upload (Nova's update_task_state).
   */
  snapshot(instanceUuid: string, imageId: string, parentImageId: string | null, images: ImageAccess,
    uploading: () => Promise<void>): Promise<void>;
  /**
   * At start-up, before any capture runs: the captures a stop of the service cut short, left
   * in this host's engine, each with the Glance image it was for (of every host sharing the
   * engine, as test hosts may).
   */
  interruptedCaptures(): Promise<InterruptedCapture[]>;
  /** Removes what such a capture left on this host; no-op if nothing is left. */
  dropCapture(capture: InterruptedCapture): Promise<void>;

  /** null when the instance has nothing on this host. */
  getInfo(instanceUuid: string): Promise<InstanceInfo | null>;
  /** Every instance this host runs something for, including ones Nova no longer knows. */
  listInstances(): Promise<InstanceInfo[]>;
  /**
   * The instance's serial console (get_serial_console), listening from now until the instance
   * is destroyed, on the same port across restarts of the service. Throws ConsolePortsExhausted
   * when no port is free, ConsoleUnavailable when the instance has no console.
   */
  serialConsole(instanceUuid: string): Promise<ConsoleAddress>;
  /** What the instance wrote to its console (stdout and stderr), the last `tailLines` if given. */
  consoleOutput(instanceUuid: string, tailLines?: number): Promise<string>;

  /**
   * Makes every VIF present in the instance's network as eth0, eth1, ... in this order, mending
   * what is missing (a new VIF is plugged, a present one left alone), and its resolver follows.
   * A VIF of a type this host cannot plug is reported, not an error: the others are still
   * checked. null when the instance's network does not exist (it is made at its next start).
   */
  plugVifs(instanceUuid: string, vifs: VifModel[]): Promise<VifCheck[] | null>;
  /**
   * For a check of every instance: plugVifs with the engine read once for all of them, where
   * its listing says where each network is; valid for an instance no operation of this service
   * has changed since the round began.
   */
  vifCheckRound(): Promise<VifCheckRound>;
  /** Removes one VIF; `remaining` are the VIFs it keeps (its resolver follows them). */
  unplugVif(instanceUuid: string, vif: VifModel, remaining: VifModel[]): Promise<void>;
  /** The host devices the driver made for VIFs, on any run. */
  vifDevices(): Promise<VifDevice[]>;
  removeVifDevice(devname: string): Promise<void>;

  /** Reports what happens to this host's instances behind the manager's back, until closed. */
  watch(watcher: InstanceWatcher): { close(): void };
}

/** InstanceDriver.vifCheckRound. */
export interface VifCheckRound {
  plugVifs(instanceUuid: string, vifs: VifModel[]): Promise<VifCheck[] | null>;
}

/** CAPABILITY_TRAITS_MAP: the traits a driver's capabilities give its resource provider. */
export function capabilityTraits(c: DriverCapabilities): string[] {
  return [
    ...(c.supportsAttachInterface ? ['COMPUTE_NET_ATTACH_INTERFACE'] : []),
    ...c.imageTypes.map((t) => `COMPUTE_IMAGE_TYPE_${t.toUpperCase()}`),
  ];
}
