/**
 * The oslo.messaging 2.0 envelope (oslo_messaging/_drivers/common.py 36-69, serialize_msg
 * 288-294, deserialize_msg 297-339): `{"oslo.version": "2.0", "oslo.message": "<JSON text>"}`.
 */
import { UnsupportedRpcEnvelopeVersion } from './errors.js';
import { pyJsonDumps } from './pyjson.js';

export const ENVELOPE_VERSION = '2.0';
export const VERSION_KEY = 'oslo.version';
export const MESSAGE_KEY = 'oslo.message';

export interface Envelope {
  'oslo.version': string;
  'oslo.message': string;
}

/** A body that is not what the RPC layer can read (not UTF-8 JSON, not an object, ...). */
export class MalformedMessageError extends Error {
  constructor(message: string, readonly preview?: string) {
    super(message);
    this.name = 'MalformedMessageError';
  }
}

/**
 * oslo_messaging._utils.version_is_compatible: same major, requested minor <= implemented
 * minor (and revision when minors are equal). A null implemented version accepts anything.
 * Unparsable versions are incompatible (Python would raise ValueError).
 */
export function versionIsCompatible(impVersion: string | null | undefined, version: string | null | undefined): boolean {
  if (impVersion === null || impVersion === undefined) return true;
  if (version === null || version === undefined) return false;
  const req = parseVersion(version);
  const imp = parseVersion(impVersion);
  if (!req || !imp) return false;
  if (req[0] !== imp[0]) return false;
  if (req[1] > imp[1]) return false;
  if (req[1] === imp[1] && req[2] > imp[2]) return false;
  return true;
}

function parseVersion(v: string): [number, number, number] | null {
  if (typeof v !== 'string') return null;
  const parts = v.split('.');
  if (parts.length < 2) return null;
  const nums = [parts[0], parts[1], parts[2] ?? '0'].map((p) => (/^\s*[+-]?\d+\s*$/.test(p) ? parseInt(p, 10) : NaN));
  if (nums.some((n) => Number.isNaN(n))) return null;
  return [nums[0], nums[1], nums[2]];
}

/** serialize_msg: the inner message as Python-compatible JSON text inside the envelope. */
export function serializeMsg(msg: Record<string, unknown>): Envelope {
  return { [VERSION_KEY]: ENVELOPE_VERSION, [MESSAGE_KEY]: pyJsonDumps(msg) } as Envelope;
}

/**
 * deserialize_msg: an object with both envelope keys is unwrapped (the version must be
 * compatible with 2.0, else UnsupportedRpcEnvelopeVersion); anything else is returned as is
 * (a 1.0 message, or a non-object).
 */
export function deserializeMsg(msg: unknown): unknown {
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return msg;
  const m = msg as Record<string, unknown>;
  if (!(VERSION_KEY in m) || !(MESSAGE_KEY in m)) return msg;
  const version = m[VERSION_KEY];
  if (typeof version !== 'string' || !versionIsCompatible(ENVELOPE_VERSION, version)) {
    throw new UnsupportedRpcEnvelopeVersion(version);
  }
  const inner = m[MESSAGE_KEY];
  if (typeof inner !== 'string') throw new MalformedMessageError('oslo.message is not a string');
  try {
    return JSON.parse(inner) as unknown;
  } catch (err) {
    throw new MalformedMessageError(`oslo.message is not JSON: ${(err as Error).message}`, preview(inner));
  }
}

/** The AMQP body for a message: the envelope as Python-compatible JSON, UTF-8. */
export function encodeBody(msg: Record<string, unknown>): Buffer {
  return Buffer.from(pyJsonDumps(serializeMsg(msg)), 'utf8');
}

/** AMQP body bytes -> the parsed envelope (still wrapped). Throws MalformedMessageError. */
export function parseBody(body: Buffer): unknown {
  const text = body.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new MalformedMessageError(`body is not JSON: ${(err as Error).message}`, preview(text));
  }
}

/** AMQP body bytes -> the inner message object. Throws MalformedMessageError / UnsupportedRpcEnvelopeVersion. */
export function decodeBody(body: Buffer): Record<string, unknown> {
  const msg = deserializeMsg(parseBody(body));
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
    throw new MalformedMessageError(`message is not a JSON object (${msg === null ? 'null' : Array.isArray(msg) ? 'array' : typeof msg})`);
  }
  return msg as Record<string, unknown>;
}

/** A short log-safe excerpt of a body: auth tokens blanked, at most 200 characters. */
export function preview(text: string): string {
  return scrubTokens(text).slice(0, 200);
}

/** Blanks `_context_auth_token` / `auth_token` values (also inside escaped inner JSON). */
export function scrubTokens(text: string): string {
  return text.replace(/(auth_token\\*"\s*:\s*\\*")((?:[^"\\]|\\(?!"))*)(\\*")/g, '$1***$3');
}
