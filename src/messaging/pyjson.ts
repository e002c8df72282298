/**
 * JSON text exactly as Python's `json.dumps` writes it with default arguments (what
 * oslo_serialization.jsonutils.dumps and kombu use): `", "` and `": "` separators and
 * `ensure_ascii=True` (every character outside printable ASCII as `\uXXXX`). Sending what
 * oslo.messaging sends byte for byte keeps traces comparable; JSON.parse reads both forms.
 *
 * One loss is inherent to JavaScript numbers: a Python float with an integral value (`16.0`)
 * parses to 16 and is written back as `16`. Python peers coerce such fields (FloatField).
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f',
};

/** A JSON string literal with Python's ensure_ascii escaping. */
export function pyJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    const code = s.charCodeAt(i);
    const short = SHORT_ESCAPES[ch];
    if (short !== undefined) out += short;
    else if (code < 0x20 || code > 0x7e) out += '\\u' + code.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}

/** A number as Python's float repr / int str would print it. */
export function pyJsonNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return Object.is(n, -0) ? '-0.0' : String(n);
  // Python's repr switches to exponent notation at 1e16 and below 1e-4, with two exponent digits at least.
  const abs = Math.abs(n);
  let text: string;
  if (abs >= 1e16 || abs < 1e-4) {
    text = n.toExponential();
    const m = /^(-?[\d.]+)e([+-])(\d+)$/.exec(text);
    if (m) text = `${m[1]}e${m[2]}${m[3].padStart(2, '0')}`;
  } else {
    text = String(n);
  }
  return text;
}

/** Python `json.dumps(value)`. `undefined` members are skipped as JSON.stringify does; objects with toJSON are converted first. */
export function pyJsonDumps(value: unknown): string {
  return dump(value, new Set());
}

function dump(value: unknown, seen: Set<unknown>): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'boolean': return value ? 'true' : 'false';
    case 'number': return pyJsonNumber(value);
    case 'bigint': return value.toString();
    case 'string': return pyJsonString(value);
    case 'object': break;
    default: return 'null';
  }
  const withToJson = value as { toJSON?: () => unknown };
  if (typeof withToJson.toJSON === 'function') return dump(withToJson.toJSON(), seen);
  if (seen.has(value)) throw new TypeError('Circular reference in a message');
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      return '[' + value.map((v) => dump(v === undefined ? null : v, seen)).join(', ') + ']';
    }
    const parts: string[] = [];
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === undefined || typeof v === 'function') continue;
      parts.push(pyJsonString(k) + ': ' + dump(v, seen));
    }
    return '{' + parts.join(', ') + '}';
  } finally {
    seen.delete(value);
  }
}
