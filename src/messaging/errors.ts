/**
 * Python exceptions as they cross oslo.messaging. A failure travels as the JSON string
 * `{"class", "module", "message", "tb", "args", "kwargs"}` (oslo_messaging/_drivers/common.py
 * serialize_remote_exception); the caller rebuilds `module.class(*args, **kwargs)` when the
 * module is `builtins` or allowed (allowed_remote_exmods), otherwise raises RemoteError.
 *
 * PyError is any such exception; the classes here are the ones the messaging layer itself
 * raises or rebuilds: Python builtins and oslo_messaging's own. An application adds its
 * exceptions (e.g. nova.exception) as PyError subclasses and tells failure.ts about them
 * through ErrorHooks.
 */

export type Kwargs = Record<string, unknown>;

export interface PyErrorInit {
  pyClass: string;
  pyModule: string;
  message: string;
  /** Python `exc.args`; defaults to `[message]` (or `[]` for an empty message). */
  args?: unknown[];
  /** Python `exc.kwargs` (oslo RPCException and many application exceptions carry one); `{}` otherwise. */
  kwargs?: Kwargs;
}

/** Any Python exception that can cross the wire. `name` is the Python class name. */
export class PyError extends Error {
  readonly pyClass: string;
  readonly pyModule: string;
  readonly pyArgs: unknown[];
  readonly kwargs: Kwargs;
  /** Traceback lines the remote side sent, when this error was received over RPC. */
  remoteTraceback?: string[];

  constructor(init: PyErrorInit) {
    super(init.message);
    this.pyClass = init.pyClass;
    this.pyModule = init.pyModule;
    this.pyArgs = init.args ?? (init.message === '' ? [] : [init.message]);
    this.kwargs = init.kwargs ?? {};
    // Own property so that err.name === 'InstanceNotFound', like Python's class name.
    Object.defineProperty(this, 'name', { value: init.pyClass, enumerable: false, configurable: true, writable: true });
  }

  /** `module.Class`, the key failures are looked up by. */
  get qualifiedName(): string {
    return `${this.pyModule}.${this.pyClass}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Python str() and repr() of JSON-like values (what exception messages are built with)

/** Python `str(value)` for JSON-like values. */
export function pyStr(value: unknown): string {
  if (typeof value === 'string') return value;
  return pyRepr(value);
}

/** Python `repr(value)` for JSON-like values. */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : (Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf');
  if (typeof value === 'string') {
    const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
    let out = quote;
    for (const ch of value) {
      if (ch === '\\') out += '\\\\';
      else if (ch === quote) out += '\\' + ch;
      else if (ch === '\n') out += '\\n';
      else if (ch === '\r') out += '\\r';
      else if (ch === '\t') out += '\\t';
      else out += ch;
    }
    return out + quote;
  }
  if (Array.isArray(value)) return '[' + value.map(pyRepr).join(', ') + ']';
  if (value instanceof Error) return `${value.name}(${pyRepr(value.message)})`;
  if (typeof value === 'object') {
    return '{' + Object.entries(value as Kwargs).map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`).join(', ') + '}';
  }
  return String(value);
}

// ---------------------------------------------------------------------------------------------
// Python builtins

/** A Python builtin exception (`module: builtins`), constructed like `ValueError("text")`. */
export class PyBuiltinError extends PyError {
  static pyClassName = 'Exception';
  constructor(message = '', args?: unknown[]) {
    const cls = new.target as unknown as { pyClassName: string };
    super({ pyClass: cls.pyClassName, pyModule: 'builtins', message, args });
  }
}

export class PyException extends PyBuiltinError { static override pyClassName = 'Exception'; }
export class NotImplementedError extends PyBuiltinError { static override pyClassName = 'NotImplementedError'; }
export class ValueError extends PyBuiltinError { static override pyClassName = 'ValueError'; }
/** Python's TypeError (named so it does not shadow the JavaScript global). */
export class PyTypeError extends PyBuiltinError { static override pyClassName = 'TypeError'; }
export class PyKeyError extends PyBuiltinError { static override pyClassName = 'KeyError'; }
export class PyAttributeError extends PyBuiltinError { static override pyClassName = 'AttributeError'; }

// ---------------------------------------------------------------------------------------------
// oslo.messaging

/** oslo_messaging.rpc.dispatcher.NoSuchMethod: no endpoint of a compatible version has the method. */
export class NoSuchMethod extends PyError {
  readonly method: string;
  constructor(method: string, message?: string) {
    super({ pyClass: 'NoSuchMethod', pyModule: 'oslo_messaging.rpc.dispatcher', message: message ?? `Endpoint does not support RPC method ${method}` });
    this.method = method;
  }
}

/** oslo_messaging.rpc.dispatcher.UnsupportedVersion: no endpoint with that namespace and a compatible version. */
export class UnsupportedVersion extends PyError {
  readonly version: string;
  readonly method: string | null;
  constructor(version: string, method?: string | null, message?: string) {
    let text = `Endpoint does not support RPC version ${version}`;
    if (method) text = `${text}. Attempted method: ${method}`;
    super({ pyClass: 'UnsupportedVersion', pyModule: 'oslo_messaging.rpc.dispatcher', message: message ?? text });
    this.version = version;
    this.method = method ?? null;
  }
}

/** oslo_messaging._drivers.common.UnsupportedRpcEnvelopeVersion: `oslo.version` with another major (or a higher minor). */
export class UnsupportedRpcEnvelopeVersion extends PyError {
  constructor(version: unknown) {
    super({
      pyClass: 'UnsupportedRpcEnvelopeVersion', pyModule: 'oslo_messaging._drivers.common',
      message: `Specified RPC envelope version, ${pyStr(version)}, not supported by this endpoint.`,
      kwargs: { version },
    });
  }
}

/** An exception of oslo_messaging.exceptions, constructed like `MessagingTimeout("text")`. */
export class OsloMessagingException extends PyError {
  static pyClassName = 'MessagingException';
  constructor(message: string) {
    const cls = new.target as unknown as { pyClassName: string };
    super({ pyClass: cls.pyClassName, pyModule: 'oslo_messaging.exceptions', message });
  }
}

/** oslo_messaging.exceptions.MessagingTimeout: no reply (or no call-monitor heartbeat) in time. */
export class MessagingTimeout extends OsloMessagingException { static override pyClassName = 'MessagingTimeout'; }
/** oslo_messaging.exceptions.MessageDeliveryFailure: the broker refused or lost a publish. */
export class MessageDeliveryFailure extends OsloMessagingException { static override pyClassName = 'MessageDeliveryFailure'; }
/** oslo_messaging.exceptions.InvalidTarget, e.g. a call with a fanout target. */
export class InvalidTarget extends OsloMessagingException { static override pyClassName = 'InvalidTarget'; }
/** oslo_messaging.exceptions.InvalidTransportURL: a transport_url that cannot be parsed or used. */
export class InvalidTransportURL extends OsloMessagingException { static override pyClassName = 'InvalidTransportURL'; }

/**
 * oslo_messaging.RemoteError: a remote failure whose module is not allowed to be rebuilt
 * (or could not be). `excType` is the remote class name.
 */
export class RemoteError extends PyError {
  readonly excType: string | null;
  readonly value: string | null;
  readonly traceback: string | null;
  constructor(excType: string | null = null, value: string | null = null, traceback: string | null = null) {
    super({
      pyClass: 'RemoteError', pyModule: 'oslo_messaging.rpc.client',
      message: `Remote error: ${pyStr(excType)} ${pyStr(value)}\n${pyStr(traceback)}.`,
    });
    this.excType = excType;
    this.value = value;
    this.traceback = traceback;
  }
}

// ---------------------------------------------------------------------------------------------
// Rebuilding received failures of the classes above

/** Builds an error from a received failure's message, args and kwargs. */
export type RemoteFactory = (message: string, args: unknown[], kwargs: Kwargs) => PyError;

const BUILTIN_CLASSES: (new (message?: string, args?: unknown[]) => PyBuiltinError)[] = [
  PyException, NotImplementedError, ValueError, PyTypeError, PyKeyError, PyAttributeError,
];

const KNOWN = new Map<string, RemoteFactory>([
  ...BUILTIN_CLASSES.map((cls): [string, RemoteFactory] =>
    [`builtins.${(cls as unknown as { pyClassName: string }).pyClassName}`, (message, args) => new cls(message, args)]),
  ['oslo_messaging.rpc.dispatcher.NoSuchMethod', (message) => {
    const m = /RPC method (.*)$/.exec(message);
    return new NoSuchMethod(m ? m[1] : '', message);
  }],
  ['oslo_messaging.rpc.dispatcher.UnsupportedVersion', (message) => {
    const m = /RPC version (\S+?)(?:\. Attempted method: (.*))?$/.exec(message);
    return new UnsupportedVersion(m ? m[1] : '', m?.[2] ?? null, message);
  }],
  ['oslo_messaging._drivers.common.UnsupportedRpcEnvelopeVersion', (_m, _a, kwargs) => new UnsupportedRpcEnvelopeVersion(kwargs.version)],
  ['oslo_messaging.exceptions.MessagingTimeout', (message) => new MessagingTimeout(message)],
  ['oslo_messaging.exceptions.MessageDeliveryFailure', (message) => new MessageDeliveryFailure(message)],
]);

/** The factory for a builtin or oslo_messaging class this module defines, if it is one. */
export function knownRemoteFactory(module: string, className: string): RemoteFactory | undefined {
  return KNOWN.get(`${module}.${className}`);
}
