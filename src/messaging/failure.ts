/**
 * The `failure` field of a reply: oslo_messaging/_drivers/common.py
 * serialize_remote_exception (164-198) and deserialize_remote_exception (201-250).
 */
import {
  NovaError, NovaException, RemoteError, remoteErrorFactory, type Kwargs,
} from '../nova-driver/errors.js';
import { pyJsonDumps } from './pyjson.js';

/** The decoded form of a failure string. */
export interface FailureData {
  class: string;
  module: string;
  message: string;
  tb: string[];
  args: unknown[];
  kwargs: Kwargs;
}

const REMOTE_POSTFIX = '_Remote';
const BUILTIN_MODULES = ['exceptions', 'builtins'];

/**
 * Any thrown value as a NovaError: NovaErrors as they are; anything else (a bug, a library
 * error, a thrown string) as nova.exception.NovaException with the original text, which a
 * Python caller can always rebuild.
 */
export function toNovaError(err: unknown): NovaError {
  if (err instanceof NovaError) return err;
  const text = err instanceof Error ? `${err.name}: ${err.message}` : typeof err === 'string' ? err : safeText(err);
  const wrapped = new NovaException({}, text);
  if (err instanceof Error && err.stack) wrapped.stack = err.stack;
  return wrapped;
}

function safeText(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Python-looking traceback lines from a JavaScript stack. */
export function tracebackLines(err: NovaError): string[] {
  const lines = ['Traceback (most recent call last):\n'];
  const frames = (err.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l)).reverse();
  for (const f of frames) lines.push(`  ${f.trim()}\n`);
  const prefix = err.pyModule === 'builtins' ? err.pyClass : `${err.pyModule}.${err.pyClass}`;
  lines.push(err.message ? `${prefix}: ${err.message}\n` : `${prefix}\n`);
  return lines;
}

/** The structure serialize_remote_exception builds, before JSON encoding. */
export function failureData(err: unknown): FailureData {
  const e = toNovaError(err);
  let cls = e.pyClass;
  let mod = e.pyModule;
  if (cls.endsWith(REMOTE_POSTFIX) && mod.endsWith(REMOTE_POSTFIX)) {
    cls = cls.slice(0, -REMOTE_POSTFIX.length);
    mod = mod.slice(0, -REMOTE_POSTFIX.length);
  }
  return { class: cls, module: mod, message: e.message, tb: e.remoteTraceback ?? tracebackLines(e), args: [...e.pyArgs], kwargs: { ...e.kwargs } };
}

/** The JSON *string* that goes into a reply's `failure`. */
export function serializeRemoteException(err: unknown): string {
  return pyJsonDumps(failureData(err));
}

/**
 * A received failure string as a typed error. As in oslo: builtins and modules in
 * `allowedModules` are rebuilt (registered classes as their own class, others as a NovaError
 * carrying the remote class and module), anything else becomes RemoteError.
 */
export function deserializeRemoteException(data: unknown, allowedModules: readonly string[] = ['nova.exception']): NovaError {
  let failure: Partial<FailureData>;
  try {
    const parsed: unknown = typeof data === 'string' ? JSON.parse(data) : data;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    failure = parsed as Partial<FailureData>;
  } catch {
    return new RemoteError(null, typeof data === 'string' ? data : safeText(data), null);
  }
  const trace = Array.isArray(failure.tb) ? failure.tb.map(String) : [];
  const name = typeof failure.class === 'string' ? failure.class : 'Exception';
  let module = typeof failure.module === 'string' ? failure.module : '';
  const message = typeof failure.message === 'string' ? failure.message : '';
  const args = Array.isArray(failure.args) ? failure.args : [];
  const kwargs = failure.kwargs !== null && typeof failure.kwargs === 'object' && !Array.isArray(failure.kwargs) ? failure.kwargs : {};
  if (BUILTIN_MODULES.includes(module)) module = 'builtins';

  let err: NovaError;
  if (module !== 'builtins' && !allowedModules.includes(module)) {
    err = new RemoteError(name, message, trace.join(''));
  } else {
    const factory = remoteErrorFactory(module, name);
    err = factory ? factory(message, args, kwargs) : new NovaError({ pyClass: name, pyModule: module, message, args, kwargs });
  }
  err.remoteTraceback = trace;
  return err;
}
