/**
 * The VIF pluggers of this host, one per Neutron `binding:vif_type`: a new kind of port is one
 * new VifPlugger module, a line here, and its settings in PluggerSettings (filled from the
 * configuration by src/config/types.ts pluggerSettings).
 */
import type { VifModel } from './network-info.js';
import type { VifPlugger } from './vif-plug.js';
import { LinuxBridgePlugger } from './linux-bridge-plug.js';
import { OvsPlugger, type OvsSettings } from './ovs-plug.js';

export class UnpluggableVif extends Error {
  constructor(vif: VifModel) {
    super(`port ${vif.id} has vif_type ${vif.type}, which this host cannot plug`);
    this.name = 'UnpluggableVif';
  }
}

/** What the pluggers need from the configuration (src/network knows no config files). */
export interface PluggerSettings {
  /** The compute host's name ([DEFAULT] host): the devices a plugger makes record it. */
  host: string;
  ovs: OvsSettings;
}

export class VifPluggers {
  constructor(readonly all: readonly VifPlugger[]) {}

  /** Every plugger this build knows, with this host's settings. */
  static forHost(settings: PluggerSettings): VifPluggers {
    return new VifPluggers([new LinuxBridgePlugger(settings.host), new OvsPlugger(settings.host, settings.ovs)]);
  }

  /** The plugger for the VIF's type; throws UnpluggableVif when none handles it. */
  for(vif: VifModel): VifPlugger {
    const p = this.find(vif);
    if (!p) throw new UnpluggableVif(vif);
    return p;
  }

  /** The plugger for the VIF's type, or null (e.g. `unbound`, `binding_failed`). */
  find(vif: VifModel): VifPlugger | null {
    return this.all.find((x) => x.vifTypes.includes(vif.type)) ?? null;
  }

  /**
   * Removes the VIF's host device whatever its type says now: a port unbound or rebound since
   * it was plugged (vif_type `unbound`) still left a device here. No-op when it is gone.
   */
  async remove(vif: VifModel): Promise<void> {
    const known = this.find(vif);
    for (const p of known ? [known] : this.all) await p.remove(vif.devname);
  }
}
