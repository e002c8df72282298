/**
 * Plugging a port into a container: the host end is the device Neutron's agent looks for,
 * the other end becomes `ethN` inside the container's network namespace with the port's
 * MAC, addresses, routes and MTU (containers rarely run a DHCP client). One implementation
 * per `binding:vif_type`; Linux bridge today, an OVS plug can sit beside it.
 */
import type { VifModel } from './network-info.js';

export interface PlugTarget {
  /**
   * The container's network namespace as a path: `/proc/<pid>/ns/net` of a process in it, or a
   * namespace kept by a bind mount (`/run/netns/<name>`); nsenter and `ip link set ... netns`
   * take either.
   */
  netns: string;
  /** Name inside the container, e.g. eth0. */
  ifname: string;
  /** The instance the device belongs to: recorded on the host end, so a stale one can be told. */
  instanceUuid: string;
}

/** The network namespace of process `pid` as a PlugTarget path. */
export function processNetns(pid: number): string {
  return `/proc/${pid}/ns/net`;
}

/** What `ensure` found and did. */
export type EnsureOutcome = 'ok' | 'reattached' | 'replugged';

/** A host device this plugger made; `instanceUuid` null when a plug was cut short before it was recorded. */
export interface PluggedDevice {
  devname: string;
  instanceUuid: string | null;
}

export interface VifPlugger {
  /** vif_types this plugger handles (e.g. ['bridge']). */
  readonly vifTypes: readonly string[];
  plug(vif: VifModel, target: PlugTarget): Promise<void>;
  /**
   * Checks a VIF of a running container and mends it: re-attached to its bridge when it
   * lost it, plugged again when the host end is gone or its peer is not in the target's
   * namespace (it never left the host, or that namespace was made anew).
   */
  ensure(vif: VifModel, target: PlugTarget): Promise<EnsureOutcome>;
  /** The host devices this plugger made (on any run of the service). */
  plugged(): Promise<PluggedDevice[]>;
  /** Removes one of them by name (and with the host end, the container end); no-op if it is gone. */
  remove(devname: string): Promise<void>;
}
