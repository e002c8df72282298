/**
 * oslo.config's INI dialect: `[section]`, `key = value` (or `key: value`), whole-line comments
 * starting with `#` or `;`, indented continuation lines, and a repeated key keeping every value
 * (oslo's MultiStrOpt; single-valued options take the last one).
 */
export interface IniValue {
  values: string[];
  file: string;
  line: number;
}

export type IniSections = Map<string, Map<string, IniValue>>;

export class IniSyntaxError extends Error {
  constructor(readonly file: string, readonly line: number, reason: string) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'IniSyntaxError';
  }
}

export function parseIni(text: string, file: string, into: IniSections = new Map()): IniSections {
  let section: Map<string, IniValue> | null = null;
  let last: { entry: IniValue; index: number } | null = null;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    if (raw.trim() === '' || /^\s*[#;]/.test(raw)) {
      last = null;
      return;
    }
    if (/^\s/.test(raw) && last) {
      const { entry, index } = last;
      entry.values[index] = `${entry.values[index]}\n${raw.trim()}`;
      return;
    }
    const header = /^\[([^\]]+)\]\s*$/.exec(raw.trim());
    if (header) {
      const name = header[1].trim();
      section = into.get(name) ?? new Map();
      into.set(name, section);
      last = null;
      return;
    }
    const kv = /^([^=:\s][^=:]*?)\s*[=:]\s*(.*)$/.exec(raw.trim());
    if (!kv) throw new IniSyntaxError(file, lineNo, `cannot parse line: ${JSON.stringify(raw.trim())}`);
    if (!section) throw new IniSyntaxError(file, lineNo, 'option outside any [section]');
    const key = kv[1].trim();
    const value = unquote(kv[2].trim());
    const existing = section.get(key);
    if (existing && existing.file === file) {
      existing.values.push(value);
      existing.line = lineNo;
      last = { entry: existing, index: existing.values.length - 1 };
    } else {
      // A later file replaces what an earlier file said, as oslo.config does.
      const entry: IniValue = { values: [value], file, line: lineNo };
      section.set(key, entry);
      last = { entry, index: 0 };
    }
  });
  return into;
}

function unquote(value: string): string {
  if (value.length >= 2 && ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'")))) {
    return value.slice(1, -1);
  }
  return value;
}
