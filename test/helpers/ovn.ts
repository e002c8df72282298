/**
 * The ML2/OVN cloud's data plane as a test sees it: OVN's databases (through the release's
 * tools, lib/ovn.sh) and a compute host's Open vSwitch database.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLOUD_DIR, computeConfValue, inRelease } from './cloud.js';

const run = promisify(execFile);
const db = (name: 'ovnnb_db' | 'ovnsb_db'): string => `--db=unix:${join(CLOUD_DIR, 'run', 'ovn', `${name}.sock`)}`;

/** OVN's view of a Neutron port: its logical switch port is up once ovn-controller claimed it. */
export async function ovnPortUp(portId: string): Promise<boolean> {
  return (await inRelease('ovn-nbctl', [db('ovnnb_db'), 'lsp-get-up', portId])).trim() === 'up';
}

/** The chassis that claimed a Neutron port (its Port_Binding's), by name; '' when none has. */
export async function ovnChassisOf(portId: string): Promise<string> {
  const chassis = (await inRelease('ovn-sbctl', [db('ovnsb_db'), '--bare', '--columns=chassis', 'find', 'Port_Binding', `logical_port=${portId}`])).trim();
  if (!chassis) return '';
  return (await inRelease('ovn-sbctl', [db('ovnsb_db'), '--bare', '--columns=name', 'list', 'Chassis', chassis])).trim();
}

/**
 * The OVS ports (os-vif's external_ids:iface-id) of a Neutron port on a compute host's switch:
 * `ovsdb` is its database (default: the cloud's own host's).
 */
export async function ovsPortsOf(portId: string, ovsdb = computeConfValue('os_vif_ovs', 'ovsdb_connection')): Promise<string> {
  const { stdout } = await run('ovs-vsctl', [...(ovsdb ? [`--db=${ovsdb}`] : []), '--bare', '--columns=name', 'find', 'Interface', `external_ids:iface-id=${portId}`]);
  return stdout.trim();
}
