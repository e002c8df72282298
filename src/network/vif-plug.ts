/**
 * Plugging a port into a container: the host end is the device Neutron's agent looks for,
 * the other end becomes `ethN` inside the container's network namespace with the port's
 * MAC, addresses, routes and MTU (containers rarely run a DHCP client). One implementation
 * per `binding:vif_type`; Linux bridge today, an OVS plug can sit beside it.
 */
import type { VifModel } from './network-info.js';

export interface PlugTarget {
  /** A process inside the container: its network namespace is the container's. */
  pid: number;
  /** Name inside the container, e.g. eth0. */
  ifname: string;
}

export interface VifPlugger {
  /** vif_types this plugger handles (e.g. ['bridge']). */
  readonly vifTypes: readonly string[];
  plug(vif: VifModel, target: PlugTarget): Promise<void>;
  /** Removes the host end (and with it the container end); no-op if it is gone. */
  unplug(vif: VifModel): Promise<void>;
  /** Whether the host end exists (to re-plug after a restart). */
  isPlugged(vif: VifModel): Promise<boolean>;
}
