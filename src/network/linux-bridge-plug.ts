/**
 * vif_type `bridge` (ML2 Linux bridge): a veth pair whose host end is named `tap<port[:11]>`
 * and enlisted in the network's `brq<net[:11]>` bridge (created if the agent has not yet:
 * the agent does not add a compute's taps itself, and reports the port up only once the tap
 * exists), the peer moved into the container's namespace and configured there with iproute2.
 * The tap's alias names the instance, so a device of an instance that is gone can be found.
 */
import type { VifModel } from './network-info.js';
import type { EnsureOutcome, PlugTarget, PluggedDevice, VifPlugger } from './vif-plug.js';
import { HostLinks, PlugError, mtuOf } from './host-links.js';

/** Recorded as the host end's alias: `nova-container:<host>:<instance uuid>`. */
const ALIAS_PREFIX = 'nova-container:';
/** The container end's name while it is still on the host (nc + 12 hex digits of the port id). */
const TEMP_PEER = /^nc[0-9a-f]{12}$/;

export class LinuxBridgePlugger implements VifPlugger {
  readonly vifTypes = ['bridge'] as const;
  /** The alias prefix of this service's devices (another compute host may share the machine). */
  private readonly alias: string;

  constructor(host: string, private readonly links = new HostLinks()) {
    this.alias = `${ALIAS_PREFIX}${host}:`;
  }

  /** The network's bridge, made if the agent has not made it yet. */
  private async ensureBridge(bridge: string): Promise<void> {
    if (await this.links.exists(bridge)) return;
    await this.links.ip(['link', 'add', bridge, 'type', 'bridge']).catch(async (e: unknown) => {
      if (!(await this.links.exists(bridge))) throw e; // the agent made it meanwhile: fine
    });
    await this.links.ip(['link', 'set', bridge, 'up']);
  }

  async plug(vif: VifModel, target: PlugTarget): Promise<void> {
    const tap = vif.devname;
    const bridge = vif.network.bridge;
    if (!bridge) throw new PlugError(`port ${vif.id} has no bridge to plug into`);
    const peer = `nc${vif.id.replace(/-/g, '')}`.slice(0, 14); // temporary name until it is inside (TEMP_PEER)
    await this.ensureBridge(bridge);
    await this.links.deleteIfExists(tap); // a stale plug from before a restart
    await this.links.deleteIfExists(peer); // a plug cut short
    await this.links.addVeth(tap, peer, mtuOf(vif));
    try {
      await this.links.ip(['link', 'set', 'dev', tap, 'alias', `${this.alias}${target.instanceUuid}`]);
      await this.links.ip(['link', 'set', tap, 'master', bridge]);
      await this.links.ip(['link', 'set', tap, 'up']);
      await this.links.moveIntoContainer(vif, peer, target);
    } catch (err) {
      await this.links.ip(['link', 'del', tap]).catch(() => undefined);
      throw err;
    }
  }

  async ensure(vif: VifModel, target: PlugTarget): Promise<EnsureOutcome> {
    const tap = await this.links.get(vif.devname);
    // Gone, its peer never reached a container, or the peer is in a namespace that is no
    // longer the target's (the namespace's holder was restarted).
    if (!tap || tap.link_netnsid === undefined || tap.ifindex === undefined || (await this.links.peerIn(target.netns, tap.ifindex)) === null) {
      await this.plug(vif, target);
      return 'replugged';
    }
    const bridge = vif.network.bridge;
    if (bridge && (tap.master !== bridge || !tap.flags?.includes('UP'))) {
      await this.ensureBridge(bridge);
      await this.links.ip(['link', 'set', vif.devname, 'master', bridge]);
      await this.links.ip(['link', 'set', vif.devname, 'up']);
      return 'reattached';
    }
    return 'ok';
  }

  async plugged(): Promise<PluggedDevice[]> {
    const out: PluggedDevice[] = [];
    for (const l of await this.links.list(['type', 'veth'])) {
      if (l.ifalias?.startsWith(this.alias)) out.push({ devname: l.ifname, instanceUuid: l.ifalias.slice(this.alias.length) });
      else if (TEMP_PEER.test(l.ifname)) out.push({ devname: l.ifname, instanceUuid: null });
    }
    return out;
  }

  async remove(devname: string): Promise<void> {
    await this.links.deleteIfExists(devname);
  }
}
