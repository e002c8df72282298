import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { GROUPS, type OptionSpec } from './options.js';
import { parseIni, IniSyntaxError, type IniSections, type IniValue } from './ini.js';
import type { Config } from './types.js';

/** One clear line naming the file, section and key (where there is one). */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Raw = Record<string, Record<string, unknown>>;

let validator: ReturnType<typeof compileSchema> | undefined;

const BOOLEAN_WORDS: Record<string, boolean> = {
  true: true, yes: true, on: true, '1': true, false: false, no: false, off: false, '0': false,
};

/** Reads the files in order (later ones win, as with oslo.config) and validates every option. */
export function loadConfig(files: string[]): Config {
  if (files.length === 0) throw new ConfigError('no --config-file given');
  const sections: IniSections = new Map();
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    try {
      parseIni(text, file, sections);
    } catch (err) {
      if (err instanceof IniSyntaxError) throw new ConfigError(err.message);
      throw err;
    }
  }
  return buildConfig(sections);
}

export function buildConfig(sections: IniSections): Config {
  const raw: Raw = {};
  for (const group of GROUPS) {
    const values: Record<string, unknown> = {};
    const section = sections.get(group.name);
    for (const opt of group.options) {
      const entry = section ? entryOf(group.name, opt.name, sections)?.entry : undefined;
      if (entry === undefined) {
        if (opt.default !== undefined) values[opt.name] = opt.default;
        continue;
      }
      const text = interpolate(entry.values[entry.values.length - 1], group.name, sections, where(group.name, opt.name, sections));
      values[opt.name] = convert(text, opt, where(group.name, opt.name, sections));
    }
    raw[group.name] = values;
  }
  const validate = validator ??= compileSchema();
  if (!validate(raw)) {
    const err = (validate.errors ?? [])[0];
    throw new ConfigError(describe(err, sections));
  }
  for (const group of GROUPS) {
    for (const opt of group.options) {
      const value = raw[group.name][opt.name];
      if (!opt.check || typeof value !== 'string') continue;
      try {
        opt.check(value);
      } catch (err) {
        throw new ConfigError(`${where(group.name, opt.name, sections)}: ${(err as Error).message}${got(group.name, opt.name, sections)}`);
      }
    }
  }
  for (const group of GROUPS) {
    try {
      group.check?.(raw[group.name], raw);
    } catch (err) {
      const option = (err as { option?: unknown }).option;
      if (typeof option !== 'string') throw err;
      const owner = group.options.some((o) => o.name === option) ? group.name : 'DEFAULT';
      throw new ConfigError(`${where(owner, option, sections)}: ${(err as Error).message}${got(owner, option, sections)}`);
    }
  }
  return raw as unknown as Config;
}

/** The file entry of an option, under its name or else under one of its deprecated names. */
function entryOf(group: string, key: string, sections: IniSections): { key: string; entry: IniValue } | undefined {
  const spec = GROUPS.find((g) => g.name === group)?.options.find((o) => o.name === key);
  for (const name of [key, ...(spec?.deprecatedNames ?? [])]) {
    const entry = sections.get(group)?.get(name);
    if (entry) return { key: name, entry };
  }
  return undefined;
}

/** ` (got "value")` for a value from a file, nothing for secret options. */
function got(group: string, key: string, sections: IniSections): string {
  const entry = entryOf(group, key, sections)?.entry;
  const secret = GROUPS.find((g) => g.name === group)?.options.find((o) => o.name === key)?.secret === true;
  return entry && !secret ? ` (got ${JSON.stringify(entry.values[entry.values.length - 1])})` : '';
}

function where(group: string, key: string, sections: IniSections): string {
  const at = entryOf(group, key, sections);
  return at ? `${at.entry.file}:${at.entry.line}: [${group}] ${at.key}` : `[${group}] ${key}`;
}

/** oslo.config substitution: `$name` / `${name}` from the same group, then [DEFAULT]; `$$` is `$`. */
function interpolate(value: string, group: string, sections: IniSections, at: string, depth = 0): string {
  if (depth > 10) throw new ConfigError(`${at}: substitution loops`);
  return value.replace(/\$\$|\$\{([A-Za-z0-9_.]+)\}|\$([A-Za-z0-9_]+)/g, (match, braced?: string, bare?: string) => {
    if (match === '$$') return '$';
    const name = (braced ?? bare) as string;
    const found = lookup(name, group, sections);
    if (found === undefined) throw new ConfigError(`${at}: unknown option $${name} in substitution`);
    return interpolate(found, group, sections, at, depth + 1);
  });
}

function lookup(name: string, group: string, sections: IniSections): string | undefined {
  for (const g of [group, 'DEFAULT']) {
    const entry = sections.get(g)?.get(name);
    if (entry) return entry.values[entry.values.length - 1];
    const spec = GROUPS.find((x) => x.name === g)?.options.find((o) => o.name === name);
    if (spec?.default !== undefined) return String(spec.default);
  }
  return undefined;
}

function convert(text: string, opt: OptionSpec, at: string): unknown {
  switch (opt.type) {
    case 'boolean': {
      const b = BOOLEAN_WORDS[text.trim().toLowerCase()];
      if (b === undefined) throw new ConfigError(`${at}: must be a boolean (true/false), got ${JSON.stringify(text)}`);
      return b;
    }
    case 'integer':
    case 'float': {
      const n = Number(text.trim());
      return text.trim() === '' || Number.isNaN(n) ? text : n;
    }
    case 'list':
      return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
    default:
      return text;
  }
}

function compileSchema() {
  const properties: Record<string, unknown> = {};
  for (const group of GROUPS) {
    const props: Record<string, unknown> = {};
    const required: string[] = [];
    for (const opt of group.options) {
      props[opt.name] = optionSchema(opt);
      if (opt.required) required.push(opt.name);
    }
    properties[group.name] = { type: 'object', properties: props, required };
  }
  const ajv = new Ajv({ allErrors: false });
  return ajv.compile({ type: 'object', properties });
}

function optionSchema(opt: OptionSpec): Record<string, unknown> {
  const s: Record<string, unknown> = {};
  switch (opt.type) {
    case 'integer': s.type = 'integer'; break;
    case 'float': s.type = 'number'; break;
    case 'boolean': s.type = 'boolean'; break;
    case 'list': s.type = 'array'; s.items = { type: 'string' }; break;
    case 'uri': s.type = 'string'; s.pattern = '^[a-z][a-z0-9+.-]*://'; break;
    default: s.type = 'string';
  }
  if (opt.min !== undefined) s.minimum = opt.min;
  if (opt.max !== undefined) s.maximum = opt.max;
  if (opt.choices) s.enum = opt.choices;
  return s;
}

function describe(err: ErrorObject | undefined, sections: IniSections): string {
  if (!err) return 'invalid configuration';
  const [group, key] = err.instancePath.split('/').filter(Boolean);
  if (err.keyword === 'required') {
    const missing = String((err.params as { missingProperty: string }).missingProperty);
    return `[${group}] ${missing}: required option is not set in any config file`;
  }
  const what = err.keyword === 'pattern' ? 'must be a URL like scheme://...' : err.keyword === 'enum'
    ? `must be one of ${(err.params as { allowedValues: string[] }).allowedValues.join(', ')}` : err.message ?? 'is invalid';
  return `${where(group, key, sections)}: ${what}${got(group, key, sections)}`;
}
