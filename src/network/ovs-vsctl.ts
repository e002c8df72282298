/**
 * Open vSwitch's database through `ovs-vsctl`, called as os-vif's vsctl backend calls it:
 * `ovs-vsctl --timeout=<s> --oneline [--db=<connection>] -- <command> -- <command> ...`, every
 * command of one call in one OVSDB transaction.
 */
import { CommandFailed, PlugError, type Exec } from './host-links.js';

export interface OvsdbSettings {
  /** `--db`: unix:<path>, tcp:<ip>:<port>...; undefined: ovs-vsctl's default socket. */
  connection?: string;
  /** ovs-vsctl's own `--timeout` (it also bounds the wait for ovs-vswitchd to apply a change). */
  timeoutSeconds: number;
}

/** Open vSwitch is not there: ovs-vsctl is not installed, or its database does not answer. */
export class OvsUnavailable extends PlugError {
  constructor(message: string) {
    super(message);
    this.name = 'OvsUnavailable';
  }
}

/** A column's value as `--format=json` prints it, decoded: maps to records, an empty set to null. */
export type OvsdbValue = string | number | boolean | null | Record<string, string> | OvsdbValue[];

/** OVSDB's JSON notation: ["map", [[k, v]...]], ["set", [...]], ["uuid", "..."], or an atom. */
export function decodeOvsdb(value: unknown): OvsdbValue {
  if (!Array.isArray(value)) return value as string | number | boolean;
  const [tag, body] = value as [string, unknown];
  if (tag === 'map') return Object.fromEntries((body as [unknown, unknown][]).map(([k, v]) => [String(k), String(v)]));
  if (tag === 'set') {
    const items = (body as unknown[]).map(decodeOvsdb);
    return items.length === 0 ? null : items.length === 1 ? items[0] : items;
  }
  return String(body); // uuid, named-uuid
}

export class OvsVsctl {
  constructor(private readonly settings: OvsdbSettings, private readonly exec: Exec) {}

  /** The argument list of one call running `commands` (each a command and its arguments). */
  argv(commands: string[][], format?: 'json'): string[] {
    return [
      `--timeout=${this.settings.timeoutSeconds}`, '--oneline',
      ...(format ? [`--format=${format}`] : []),
      ...(this.settings.connection ? [`--db=${this.settings.connection}`] : []),
      ...commands.flatMap((c) => ['--', ...c]),
    ];
  }

  /** Runs the commands in one transaction; one output line per command. */
  async run(commands: string[][]): Promise<string[]> {
    return (await this.call(this.argv(commands))).replace(/\n$/, '').split('\n');
  }

  /** `find` (with conditions) or `list` of `columns` of a table, one record per row. */
  async rows(table: string, columns: string[], conditions?: string[]): Promise<Record<string, OvsdbValue>[]> {
    const command = conditions ? ['find', table, ...conditions] : ['list', table];
    const out = await this.call(this.argv([[`--columns=${columns.join(',')}`, ...command]], 'json'));
    let parsed: { headings: string[]; data: unknown[][] };
    try {
      parsed = JSON.parse(out) as { headings: string[]; data: unknown[][] };
    } catch {
      throw new PlugError(`ovs-vsctl ${command.join(' ')}: output is not JSON: ${out.slice(0, 200)}`);
    }
    return parsed.data.map((row) => Object.fromEntries(parsed.headings.map((h, i) => [h, decodeOvsdb(row[i])])));
  }

  private async call(args: string[]): Promise<string> {
    try {
      // ovs-vsctl's own --timeout fires first; this one only guards against a hung process
      return await this.exec('ovs-vsctl', args, (this.settings.timeoutSeconds + 5) * 1000);
    } catch (err) {
      if (!(err instanceof CommandFailed)) throw err;
      if (err.missing) throw new OvsUnavailable('ovs-vsctl not found: ports of vif_type ovs need Open vSwitch (install the openvswitch-switch package)');
      if (/database connection failed/.test(err.stderr)) {
        throw new OvsUnavailable(`cannot reach the Open vSwitch database (${this.settings.connection ?? 'ovs-vsctl\'s default socket'}; [os_vif_ovs] ovsdb_connection): ${err.stderr}`);
      }
      throw new PlugError(`ovs-vsctl ${args.join(' ')}: ${err.stderr}`);
    }
  }
}
