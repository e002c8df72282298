/**
 * vif_type `ovs` (ML2/OVN and ML2/OVS): a veth pair `tap<port[:11]>` / peer, the peer moved
 * into the container's namespace as the Linux bridge plug does, the tap added to the OVS
 * bridge as os-vif's create_ovs_vif_port adds a port (external_ids iface-id, iface-status,
 * attached-mac, vm-uuid), with the network's MTU on both veth ends and as mtu_request.
 * ovn-controller, or the OVS agent, finds the port by its iface-id and reports it up. With `ovs_hybrid_plug` (ML2/OVS with the iptables_hybrid
 * firewall) the tap goes into a Linux bridge `qbr<id>` joined to OVS by the veth pair
 * `qvb<id>` / `qvo<id>`, and `qvo<id>` is the OVS port, as os-vif's VIFBridge plug does.
 *
 * On the userspace (`netdev`) datapath, the only one without the openvswitch kernel module,
 * a veth's checksum offload breaks TCP (the switch forwards partial checksums; the receiver
 * drops them), so the container end's TX checksum offload is turned off, unless the switch's
 * userspace TSO (`other_config:userspace-tso-enable`) completes them itself.
 *
 * The tap's alias names the instance, and the OVS row records this host, so devices of an
 * instance that is gone are found even after the container (and with it the veth) is gone.
 */
import { existsSync } from 'node:fs';
import { NIC_NAME_LEN, type VifModel } from './network-info.js';
import type { EnsureOutcome, PlugTarget, PluggedDevice, VifPlugger } from './vif-plug.js';
import { HostLinks, PlugError, hostExec, mtuOf, type Exec, type LinkInfo } from './host-links.js';
import { OvsUnavailable, OvsVsctl, type OvsdbValue } from './ovs-vsctl.js';

export interface OvsSettings {
  /** The bridge when the binding names none ([neutron] ovs_bridge). */
  bridge: string;
  /** [os_vif_ovs] ovsdb_connection; undefined: ovs-vsctl's default socket. */
  ovsdbConnection?: string;
  /** [os_vif_ovs] ovs_vsctl_timeout, seconds. */
  vsctlTimeoutSeconds: number;
}

/** Recorded as the tap's alias: `nova-container-ovs:<host>:<instance uuid>` (not the Linux bridge plug's prefix). */
const ALIAS_PREFIX = 'nova-container-ovs:';
/** The container end's name while it is still on the host (oc + 12 hex digits of the port id). */
const TEMP_PEER = /^oc[0-9a-f]{12}$/;
/** The OVS Interface's external_ids key naming the compute host that plugged it. */
const OWNER_KEY = 'nova-container-host';

export interface OvsDeviceNames { tap: string; qbr: string; qvb: string; qvo: string }

/** os-vif's and Nova's names: prefix + port id, cut to 14 characters. */
export function deviceNames(portId: string): OvsDeviceNames {
  const name = (prefix: string) => `${prefix}${portId}`.slice(0, NIC_NAME_LEN);
  return { tap: name('tap'), qbr: name('qbr'), qvb: name('qvb'), qvo: name('qvo') };
}

/** Hybrid plug (a Linux bridge in front of OVS) when the binding asks for it. */
export function isHybrid(vif: VifModel): boolean {
  return vif.details.ovs_hybrid_plug === true;
}

/** The binding's bridge_name (ML2/OVS), else the configured one (ML2/OVN sends none). */
export function bridgeOf(vif: VifModel, fallback: string): string {
  const named = vif.details.bridge_name;
  return typeof named === 'string' && named !== '' ? named : fallback;
}

/** The binding's datapath_type (ML2/OVS sends its agent's; ML2/OVN none). */
export function requestedDatapath(vif: VifModel): string | null {
  const dp = vif.details.datapath_type;
  return typeof dp === 'string' && dp !== '' ? dp : null;
}

/**
 * The datapath of a bridge this plugger must create with none requested: the one
 * ovn-controller would give it (`external_ids:ovn-bridge-datapath-type` of the switch), else
 * `system` (os-vif's default), which needs the openvswitch kernel module; without it only the
 * userspace `netdev` works.
 */
export function datapathForNewBridge(kernelModuleLoaded: boolean, ovnBridgeDatapath: string | null): string {
  return ovnBridgeDatapath ?? (kernelModuleLoaded ? 'system' : 'netdev');
}

/** What the plugger reads from the switch's Open_vSwitch row. */
export interface SwitchConfig {
  /** other_config:userspace-tso-enable: the userspace datapath completes partial checksums itself. */
  userspaceTso: boolean;
  /** external_ids:ovn-bridge-datapath-type, what ovn-controller creates its bridge with. */
  ovnBridgeDatapath: string | null;
}

/** Whether the container end's TX checksum offload must be off for TCP to work. */
export function needsTxChecksumOff(datapath: string, userspaceTso: boolean): boolean {
  return datapath === 'netdev' && !userspaceTso;
}

/** The Interface's external_ids, as os-vif sets them, plus the owning host. */
export function externalIds(vif: VifModel, instanceUuid: string, host: string): Record<string, string> {
  return {
    'iface-id': vif.ovs_interfaceid ?? vif.id,
    'iface-status': 'active',
    'attached-mac': vif.address,
    'vm-uuid': instanceUuid,
    [OWNER_KEY]: host,
  };
}

/** `set Interface` arguments giving the port its external_ids and, when known, mtu_request. */
export function interfaceSettings(port: string, ids: Record<string, string>, mtu: string | null): string[] {
  return ['set', 'Interface', port, ...Object.entries(ids).map(([k, v]) => `external_ids:${k}=${v}`), ...(mtu ? [`mtu_request=${mtu}`] : [])];
}

const kernelModuleLoaded = (): boolean => existsSync('/sys/module/openvswitch');

export class OvsPlugger implements VifPlugger {
  readonly vifTypes = ['ovs'] as const;
  private readonly alias: string;
  private readonly links: HostLinks;
  private readonly vsctl: OvsVsctl;
  private ethtoolChecked = false;

  constructor(private readonly host: string, private readonly settings: OvsSettings, private readonly exec: Exec = hostExec,
    private readonly hasKernelModule: () => boolean = kernelModuleLoaded) {
    this.alias = `${ALIAS_PREFIX}${host}:`;
    this.links = new HostLinks(exec);
    this.vsctl = new OvsVsctl({ connection: settings.ovsdbConnection, timeoutSeconds: settings.vsctlTimeoutSeconds }, exec);
  }

  async plug(vif: VifModel, target: PlugTarget): Promise<void> {
    const names = deviceNames(vif.id);
    const bridge = bridgeOf(vif, this.settings.bridge);
    const peer = `oc${vif.id.replace(/-/g, '')}`.slice(0, NIC_NAME_LEN); // temporary name until it is inside (TEMP_PEER)
    const mtu = mtuOf(vif);
    const config = await this.switchConfig();
    const txOff = needsTxChecksumOff(await this.ensureBridge(bridge, requestedDatapath(vif), config), config.userspaceTso);
    if (txOff) await this.requireEthtool();
    await this.removeDevices(names); // a stale plug from before a restart
    await this.links.deleteIfExists(peer); // a plug cut short
    await this.links.addVeth(names.tap, peer, mtu);
    try {
      await this.links.ip(['link', 'set', 'dev', names.tap, 'alias', `${this.alias}${target.instanceUuid}`]);
      await this.links.ip(['link', 'set', names.tap, 'up']);
      if (isHybrid(vif)) await this.plugHybridBridge(names, mtu);
      const port = isHybrid(vif) ? names.qvo : names.tap;
      await this.vsctl.run([['--may-exist', 'add-port', bridge, port], interfaceSettings(port, externalIds(vif, target.instanceUuid, this.host), mtu)]);
      await this.links.moveIntoContainer(vif, peer, target);
      if (txOff) await this.links.inNamespace(target.netns, 'ethtool', ['-K', target.ifname, 'tx', 'off']);
    } catch (err) {
      await this.removeDevices(names).catch(() => undefined);
      throw err;
    }
  }

  async ensure(vif: VifModel, target: PlugTarget): Promise<EnsureOutcome> {
    const names = deviceNames(vif.id);
    const tap = await this.links.get(names.tap);
    // Gone, its peer never reached a container, or the peer is in a namespace that is no
    // longer the target's (the namespace's holder was restarted).
    const inside = tap?.link_netnsid !== undefined && tap.ifindex !== undefined ? await this.links.peerIn(target.netns, tap.ifindex) : null;
    if (!tap || inside === null) {
      await this.plug(vif, target);
      return 'replugged';
    }
    let mended = false;
    const bridge = bridgeOf(vif, this.settings.bridge);
    const config = await this.switchConfig();
    const datapath = await this.ensureBridge(bridge, requestedDatapath(vif), config);
    if (!tap.flags?.includes('UP')) {
      await this.links.ip(['link', 'set', names.tap, 'up']);
      mended = true;
    }
    const hybrid = isHybrid(vif) ? await this.mendHybrid(names, tap, mtuOf(vif)) : 'ok';
    if (hybrid !== 'ok') mended = true;
    // a qvo made anew is another device: ovs-vswitchd must open it again
    if (await this.mendPort(vif, isHybrid(vif) ? names.qvo : names.tap, bridge, target.instanceUuid, hybrid === 'remade')) mended = true;
    if (needsTxChecksumOff(datapath, config.userspaceTso)) {
      await this.requireEthtool();
      if (/^tx-checksumming: on/m.test(await this.links.inNamespace(target.netns, 'ethtool', ['-k', inside]))) {
        await this.links.inNamespace(target.netns, 'ethtool', ['-K', inside, 'tx', 'off']);
        mended = true;
      }
    }
    return mended ? 'reattached' : 'ok';
  }

  async plugged(): Promise<PluggedDevice[]> {
    const found = new Map<string, string | null>();
    for (const l of await this.links.list(['type', 'veth'])) {
      if (l.ifalias?.startsWith(this.alias)) found.set(l.ifname, l.ifalias.slice(this.alias.length));
      else if (TEMP_PEER.test(l.ifname)) found.set(l.ifname, null);
    }
    // OVS rows outlive their veth (the container's namespace took it along when it went)
    let rows: Record<string, OvsdbValue>[] = [];
    try {
      rows = await this.vsctl.rows('Interface', ['name', 'external_ids'], [`external_ids:${OWNER_KEY}=${this.host}`]);
    } catch (err) {
      if (!(err instanceof OvsUnavailable)) throw err; // no Open vSwitch here: only veths can be ours
    }
    for (const row of rows) {
      const name = String(row.name);
      const ids = row.external_ids as Record<string, string>;
      const tap = name.startsWith('qvo') ? `tap${name.slice(3)}` : name;
      if (!found.has(tap)) found.set(tap, ids['vm-uuid'] ?? null);
    }
    return [...found].map(([devname, instanceUuid]) => ({ devname, instanceUuid }));
  }

  async remove(devname: string): Promise<void> {
    if (TEMP_PEER.test(devname)) await this.links.deleteIfExists(devname);
    else if (devname.startsWith('tap')) await this.removeDevices(deviceNames(devname.slice(3)));
  }

  /**
   * The bridge, created when missing, and its datapath type: the requested one is set (as
   * os-vif's ensure_ovs_bridge does); with none requested (ML2/OVN) an existing bridge is left
   * as its maker (ovn-controller or the operator) set it, since the chassis reports that type to
   * Neutron, and a new one gets the datapath ovn-controller would give it, or this host can run.
   */
  private async ensureBridge(bridge: string, requested: string | null, config: SwitchConfig): Promise<string> {
    const [row] = await this.vsctl.rows('Bridge', ['datapath_type'], [`name=${bridge}`]);
    if (!row || (requested !== null && row.datapath_type !== requested)) {
      const datapath = requested ?? datapathForNewBridge(this.hasKernelModule(), config.ovnBridgeDatapath);
      await this.vsctl.run([['--may-exist', 'add-br', bridge], ['set', 'Bridge', bridge, `datapath_type=${datapath}`]]);
      return datapath;
    }
    return typeof row.datapath_type === 'string' && row.datapath_type !== '' ? row.datapath_type : 'system';
  }

  private async switchConfig(): Promise<SwitchConfig> {
    const [row] = await this.vsctl.rows('Open_vSwitch', ['other_config', 'external_ids']);
    const other = (row?.other_config ?? {}) as Record<string, string>;
    const ids = (row?.external_ids ?? {}) as Record<string, string>;
    return { userspaceTso: other['userspace-tso-enable'] === 'true', ovnBridgeDatapath: ids['ovn-bridge-datapath-type'] || null };
  }

  private async requireEthtool(): Promise<void> {
    if (this.ethtoolChecked) return;
    try {
      await this.exec('ethtool', ['--version']);
    } catch (err) {
      throw new PlugError(`ethtool cannot run (${(err as Error).message}): a port on a netdev (userspace) OVS bridge needs the container side's TX checksum offload turned off, or TCP fails (install the ethtool package, or set other_config:userspace-tso-enable=true on the switch)`);
    }
    this.ethtoolChecked = true;
  }

  /** os-vif's hybrid plug: qbr (MAC ageing 0, as os-vif) with the tap and qvb, qvo for OVS. */
  private async plugHybridBridge(names: OvsDeviceNames, mtu: string | null): Promise<void> {
    if (!(await this.links.exists(names.qbr))) await this.links.ip(['link', 'add', names.qbr, 'type', 'bridge', 'ageing_time', '0']);
    await this.links.ip(['link', 'set', names.qbr, 'up']);
    await this.links.ip(['link', 'set', names.tap, 'master', names.qbr]);
    await this.links.addVeth(names.qvb, names.qvo, mtu);
    for (const dev of [names.qvb, names.qvo]) await this.links.ip(['link', 'set', dev, 'up', 'promisc', 'on']);
    await this.links.ip(['link', 'set', names.qvb, 'master', names.qbr]);
  }

  /**
   * The hybrid plug's devices as plugHybridBridge made them: 'relinked' when the tap or qvb
   * was put back into qbr (or qbr made or set up), 'remade' when the qvb/qvo pair was made anew.
   */
  private async mendHybrid(names: OvsDeviceNames, tap: LinkInfo, mtu: string | null): Promise<'ok' | 'relinked' | 'remade'> {
    const [qbr, qvb, qvo] = await Promise.all([this.links.get(names.qbr), this.links.get(names.qvb), this.links.get(names.qvo)]);
    if (!qvb || !qvo) {
      await this.links.deleteIfExists(names.qvb); // its peer qvo goes with it
      await this.plugHybridBridge(names, mtu);
      return 'remade';
    }
    let relinked = false;
    if (!qbr) await this.links.ip(['link', 'add', names.qbr, 'type', 'bridge', 'ageing_time', '0']);
    if (!qbr?.flags?.includes('UP')) {
      await this.links.ip(['link', 'set', names.qbr, 'up']);
      relinked = true;
    }
    for (const [dev, link] of [[names.tap, tap], [names.qvb, qvb]] as const) {
      if (link.master === names.qbr) continue;
      await this.links.ip(['link', 'set', dev, 'master', names.qbr]);
      relinked = true;
    }
    return relinked ? 'relinked' : 'ok';
  }

  /**
   * The OVS port as plug made it, or made again: on the bridge, with the external_ids and
   * mtu_request, and opened by ovs-vswitchd (an ofport, no error); with `remake`, made again
   * whatever it looks like. True when it was mended.
   */
  private async mendPort(vif: VifModel, port: string, bridge: string, instanceUuid: string, remake: boolean): Promise<boolean> {
    const ids = externalIds(vif, instanceUuid, this.host);
    const mtu = mtuOf(vif);
    const [row] = await this.vsctl.rows('Interface', ['external_ids', 'mtu_request', 'ofport', 'error'], [`name=${port}`]);
    const intact = !remake && row !== undefined
      && Object.entries(ids).every(([k, v]) => (row.external_ids as Record<string, string>)[k] === v)
      && (mtu === null || row.mtu_request === Number(mtu))
      && typeof row.ofport === 'number' && row.ofport > 0 && row.error === null
      && (await this.vsctl.run([['port-to-br', port]]))[0] === bridge;
    if (intact) return false;
    await this.vsctl.run([['--if-exists', 'del-port', port], ['add-port', bridge, port], interfaceSettings(port, ids, mtu)]);
    return true;
  }

  /** The OVS ports (tap or qvo) and the host devices of one port; what is gone is skipped. */
  private async removeDevices(names: OvsDeviceNames): Promise<void> {
    try {
      await this.vsctl.run([['--if-exists', 'del-port', names.tap], ['--if-exists', 'del-port', names.qvo]]);
    } catch (err) {
      if (!(err instanceof OvsUnavailable)) throw err; // no Open vSwitch here: no port to remove
    }
    for (const dev of [names.tap, names.qvb, names.qbr]) await this.links.deleteIfExists(dev);
  }
}
