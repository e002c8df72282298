/** What the compute manager's handlers work with; each piece is tested against its real component. */
import type { Logger } from '../../common/log.js';
import type { InstanceDriver } from '../instance-driver.js';
import type { PortManager } from '../../network/ports.js';
import type { InstanceEvents } from './instance-events.js';
import type { PlacementClient } from '../placement.js';
import type { ConductorClient } from '../conductor.js';
import type { SchedulerClient } from '../scheduler.js';
import type { ComputeCasts } from '../compute-rpc.js';
import type { RequestContext } from '../../messaging/types.js';
import type { InstanceStore } from './instance-store.js';
import type { KeyedLock } from '../../common/keyed-lock.js';
import type { GlanceImage, GlanceImageMeta } from '../../glance-bridge/index.js';
import type { LimitsPolicy } from './flavor-limits.js';
import type { NovaObject } from '../objects/versioned-object.js';

export type { GlanceImage, GlanceImageMeta };

/** Glance images made available where instances run (glance-bridge behind it). */
export interface ImageProvider {
  /** Makes the image present (downloading it at most once); returns the driver's reference to it. `recheck`: ImageAccess.ensure's. */
  ensureImage(ctx: RequestContext, image: GlanceImageMeta, recheck?: boolean): Promise<string>;
  /** The Glance record, or null when there is no such image. */
  getImage(ctx: RequestContext, imageId: string): Promise<GlanceImage | null>;
  /** A queued Glance image with `fields`, made with the request's credentials; its id. */
  createImage(ctx: RequestContext, fields: Record<string, unknown>): Promise<string>;
  deleteImage(ctx: RequestContext, imageId: string): Promise<void>;
  /** Uploads a captured image into the queued Glance image `glanceImageId` (formats and properties set). */
  /** `whole`: upload the whole image, never a delta over `parentImageId` (a shelved instance's, which must outlive its image). */
  uploadSnapshot(ctx: RequestContext, engineRef: string, glanceImageId: string, parentImageId: string | null, whole: boolean): Promise<void>;
}

/** The resource tracker as the handlers see it (resource-tracker.ts): what an instance uses here. */
export interface HostUsage {
  /** The instance is on this host with its current flavor (built, resized, reverted, unshelved). */
  track(ctx: RequestContext, inst: NovaObject): Promise<void>;
  /** The instance left this host (deleted, offloaded). */
  untrack(ctx: RequestContext, uuid: string): Promise<void>;
}

export interface ManagerDeps {
  host: string;
  nodename: string;
  /** [DEFAULT] my_ip: recorded as a migration's dest_host. */
  hostIp: string;
  conductor: ConductorClient;
  /** This host's resource provider (= ComputeNode uuid). */
  providerUuid(): string;
  /** The id of this host's ComputeNode row: Instance 2.8 / Migration 1.8 carry it with the node name. */
  computeNodeId(): number | null;
  instances: InstanceStore;
  /** Runs the instances: the handlers' only way to them. */
  driver: InstanceDriver;
  images: ImageProvider;
  placement: PlacementClient;
  /** Neutron ports; null when the host has no [neutron] credentials. */
  ports: PortManager | null;
  /** Waiters for Neutron's external events (network-vif-plugged). */
  events: InstanceEvents;
  scheduler: SchedulerClient;
  /** Casts to other compute hosts (a move's steps on its other host). */
  computeRpc: ComputeCasts;
  /** This host's reported usage, changed one instance at a time. */
  usage: HostUsage;
  locks: KeyedLock;
  log: Logger;
  /** Seconds a graceful stop waits before killing (Nova's shutdown_timeout). */
  shutdownTimeout: number;
  /** Nova's shelved_offload_time == 0: shelve offloads at once. */
  offloadShelvedAtOnce: boolean;
  /** What a flavor does not say about an instance's limits. */
  limitsPolicy: LimitsPolicy;
  /** [serial_console] base_url and [consoleauth] token_ttl; null: [serial_console] enabled is false. */
  serialConsole: { baseUrl: string; tokenTtl: number } | null;
}
