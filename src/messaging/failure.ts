/**
 * The `failure` field of a reply: oslo_messaging/_drivers/common.py
 * serialize_remote_exception (164-198) and deserialize_remote_exception (201-250).
 */
import { knownRemoteFactory, PyError, PyException, RemoteError, type Kwargs } from './errors.js';
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

/**
 * How an application's own exceptions cross the wire. The messaging layer knows Python's
 * builtins and oslo_messaging's exceptions; an application (the compute service: nova.exception)
 * says what a thrown value without a Python identity becomes, and which of its classes a
 * received failure is rebuilt as.
 */
export interface ErrorHooks {
  /**
   * The Python exception to send for a thrown value that is no PyError (a bug, a library
   * error, a thrown string). Without this hook it is a builtins.Exception with the text.
   */
  toPyError?(err: unknown): PyError;
  /**
   * The caller's class for a received failure `module.className` whose module is allowed
   * (and is no builtin or oslo_messaging class); undefined rebuilds it as a plain PyError.
   */
  fromFailure?(module: string, className: string, message: string, args: unknown[], kwargs: Kwargs): PyError | undefined;
}

const REMOTE_POSTFIX = '_Remote';
const BUILTIN_MODULES = ['exceptions', 'builtins'];

/**
 * Any thrown value as a PyError: PyErrors as they are; anything else as hooks.toPyError
 * makes it, else builtins.Exception with the original text, which a Python caller can always
 * rebuild. The JavaScript stack is kept for the traceback.
 */
export function toPyError(err: unknown, hooks: ErrorHooks = {}): PyError {
  if (err instanceof PyError) return err;
  if (hooks.toPyError) return hooks.toPyError(err);
  const wrapped = new PyException(thrownText(err));
  if (err instanceof Error && err.stack) wrapped.stack = err.stack;
  return wrapped;
}

/** `Name: message` of an Error, a string as it is, anything else as JSON. */
export function thrownText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : typeof err === 'string' ? err : safeText(err);
}

function safeText(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Python-looking traceback lines from a JavaScript stack. */
export function tracebackLines(err: PyError): string[] {
  const lines = ['Traceback (most recent call last):\n'];
  const frames = (err.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l)).reverse();
  for (const f of frames) lines.push(`  ${f.trim()}\n`);
  const prefix = err.pyModule === 'builtins' ? err.pyClass : `${err.pyModule}.${err.pyClass}`;
  lines.push(err.message ? `${prefix}: ${err.message}\n` : `${prefix}\n`);
  return lines;
}

/** The structure serialize_remote_exception builds, before JSON encoding. */
export function failureData(err: unknown, hooks: ErrorHooks = {}): FailureData {
  const e = toPyError(err, hooks);
  let cls = e.pyClass;
  let mod = e.pyModule;
  if (cls.endsWith(REMOTE_POSTFIX) && mod.endsWith(REMOTE_POSTFIX)) {
    cls = cls.slice(0, -REMOTE_POSTFIX.length);
    mod = mod.slice(0, -REMOTE_POSTFIX.length);
  }
  return { class: cls, module: mod, message: e.message, tb: e.remoteTraceback ?? tracebackLines(e), args: [...e.pyArgs], kwargs: { ...e.kwargs } };
}

/** The JSON *string* that goes into a reply's `failure`. */
export function serializeRemoteException(err: unknown, hooks: ErrorHooks = {}): string {
  return pyJsonDumps(failureData(err, hooks));
}

/**
 * A received failure string as a typed error. As in oslo: builtins and modules in
 * `allowedModules` are rebuilt (our builtin and oslo_messaging classes, then the caller's
 * through hooks.fromFailure, others as a PyError carrying the remote class and module),
 * anything else becomes RemoteError.
 */
export function deserializeRemoteException(data: unknown, allowedModules: readonly string[] = [], hooks: ErrorHooks = {}): PyError {
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

  let err: PyError;
  if (module !== 'builtins' && !allowedModules.includes(module)) {
    err = new RemoteError(name, message, trace.join(''));
  } else {
    const known = knownRemoteFactory(module, name);
    err = (known ? known(message, args, kwargs) : hooks.fromFailure?.(module, name, message, args, kwargs))
      ?? new PyError({ pyClass: name, pyModule: module, message, args, kwargs });
  }
  err.remoteTraceback = trace;
  return err;
}
