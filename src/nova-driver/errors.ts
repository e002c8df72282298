/**
 * Python exceptions as they cross oslo.messaging. A failure travels as the JSON string
 * `{"class", "module", "message", "tb", "args", "kwargs"}` (oslo_messaging/_drivers/common.py
 * serialize_remote_exception); the caller rebuilds `module.class(*args, **kwargs)` when the
 * module is `builtins` or allowed (nova: `nova.exception`), otherwise raises RemoteError.
 *
 * Every class here names a real Python class (module and name) and takes the real kwargs, so
 * what we raise arrives in nova-api as the exception Nova's own compute would have raised,
 * and what the conductor raises arrives here as a typed value: test it with `instanceof` or
 * with `err.name` (= the Python class name, e.g. 'ComputeHostNotFound').
 */

export type Kwargs = Record<string, unknown>;

export interface NovaErrorInit {
  pyClass: string;
  pyModule: string;
  message: string;
  /** Python `exc.args`; defaults to `[message]` (or `[]` for an empty message). */
  args?: unknown[];
  /** Python `exc.kwargs` (NovaException and oslo RPCException carry one); `{}` otherwise. */
  kwargs?: Kwargs;
}

/** Any Python exception that can cross the wire. `name` is the Python class name. */
export class NovaError extends Error {
  readonly pyClass: string;
  readonly pyModule: string;
  readonly pyArgs: unknown[];
  readonly kwargs: Kwargs;
  /** Traceback lines the remote side sent, when this error was received over RPC. */
  remoteTraceback?: string[];

  constructor(init: NovaErrorInit) {
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
// Python-style string formatting (what `msg_fmt % kwargs` produces)

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

/**
 * `fmt % kwargs` for `%(name)s`, `%(name)r`, `%(name)d`/`%(name)i` and `%%`. Throws, as Python
 * does, when a key is missing or a %d value is not a number.
 */
export function pyFormat(fmt: string, kwargs: Kwargs): string {
  return fmt.replace(/%(?:\(([^)]*)\))?([sdirf%])/g, (whole, key: string | undefined, conv: string) => {
    if (conv === '%' && key === undefined) return '%';
    if (key === undefined) throw new TypeError(`unsupported format ${whole}`);
    if (!(key in kwargs)) throw new TypeError(`format key ${key} missing`);
    const v = kwargs[key];
    switch (conv) {
      case 's': return pyStr(v);
      case 'r': return pyRepr(v);
      case 'd': case 'i': {
        const n = typeof v === 'number' ? v : typeof v === 'boolean' ? Number(v) : NaN;
        if (!Number.isFinite(n)) throw new TypeError(`%${conv} format: a number is required, not ${typeof v}`);
        return String(Math.trunc(n));
      }
      case 'f': {
        if (typeof v !== 'number') throw new TypeError('%f format: a number is required');
        return v.toFixed(6);
      }
      default: throw new TypeError(`unsupported format ${whole}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// nova.exception

interface NovaExceptionClass {
  msgFmt: string;
  code: number;
  pyClassName?: string;
}

/**
 * nova.exception.NovaException: message from `msgFmt % kwargs`, `kwargs.code` defaulting to
 * the class code (nova/exception.py NovaException.__init__).
 */
export class NovaException extends NovaError {
  static msgFmt = 'An unknown exception occurred.';
  static code = 500;
  /** Python class name when it differs from the JS class name. */
  static pyClassName?: string;

  constructor(kwargs: Kwargs = {}, message?: string | null) {
    const cls = new.target as unknown as NovaExceptionClass & { name: string };
    const kw: Kwargs = { ...kwargs };
    if (!('code' in kw)) kw.code = cls.code;
    let text: string;
    if (message !== undefined && message !== null && message !== '') {
      text = String(message);
    } else {
      try {
        text = pyFormat(cls.msgFmt, kw);
      } catch {
        text = cls.msgFmt;
      }
    }
    super({ pyClass: cls.pyClassName ?? cls.name, pyModule: 'nova.exception', message: text, kwargs: kw });
  }

  /** The HTTP-ish code Nova attaches (kwargs.code). */
  get code(): unknown {
    return this.kwargs.code;
  }
}

export class NotFound extends NovaException {
  static override msgFmt = 'Resource could not be found.';
  static override code = 404;
}

export class Invalid extends NovaException {
  static override msgFmt = 'Bad Request - Invalid Parameters';
  static override code = 400;
}

export class InvalidInput extends Invalid {
  static override msgFmt = 'Invalid input received: %(reason)s';
  constructor(kwargs: { reason: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class InstanceNotFound extends NotFound {
  static override msgFmt = 'Instance %(instance_id)s could not be found.';
  constructor(kwargs: { instance_id: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class ImageNotFound extends NotFound {
  static override msgFmt = 'Image %(image_id)s could not be found.';
  constructor(kwargs: { image_id: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class HostNotFound extends NotFound {
  static override msgFmt = 'Host %(host)s could not be found.';
  constructor(kwargs: { host: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class ComputeHostNotFound extends HostNotFound {
  static override msgFmt = 'Compute host %(host)s could not be found.';
}

export class ServiceNotFound extends NotFound {
  static override msgFmt = 'Service %(service_id)s could not be found.';
  constructor(kwargs: { service_id: unknown } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class PortNotFound extends NotFound {
  static override msgFmt = 'Port id %(port_id)s could not be found.';
  constructor(kwargs: { port_id: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class MigrationNotFound extends NotFound {
  static override msgFmt = 'Migration %(migration_id)s could not be found.';
  constructor(kwargs: { migration_id: unknown } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class ConsoleNotAvailable extends NotFound {
  static override msgFmt = 'Guest does not have a console available.';
}

export class InstanceInvalidState extends Invalid {
  static override msgFmt = 'Instance %(instance_uuid)s in %(attr)s %(state)s. Cannot %(method)s while the instance is in this state.';
  constructor(kwargs: { attr: string; instance_uuid: string; state: unknown; method: string } & Kwargs, message?: string | null) {
    super(kwargs, message);
  }
}

export class InstanceIsLocked extends InstanceInvalidState {
  static override msgFmt = 'Instance %(instance_uuid)s is locked';
  constructor(kwargs: { instance_uuid: string } & Kwargs, message?: string | null) {
    super(kwargs as { attr: string; instance_uuid: string; state: unknown; method: string } & Kwargs, message);
  }
}

export class InstanceNotRunning extends Invalid {
  static override msgFmt = 'Instance %(instance_id)s is not running.';
  constructor(kwargs: { instance_id: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class InstanceNotReady extends Invalid {
  static override msgFmt = 'Instance %(instance_id)s is not ready';
  constructor(kwargs: { instance_id: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class InstanceNotRescuable extends Invalid {
  static override msgFmt = 'Instance %(instance_id)s cannot be rescued: %(reason)s';
  constructor(kwargs: { instance_id: string; reason: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class InstanceNotInRescueMode extends Invalid {
  static override msgFmt = 'Instance %(instance_id)s is not in rescue mode';
  constructor(kwargs: { instance_id: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

class ReasonInvalid extends Invalid {
  constructor(kwargs: { reason: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}
export class InstancePowerOnFailure extends ReasonInvalid { static override msgFmt = 'Failed to power on instance: %(reason)s'; }
export class InstancePowerOffFailure extends ReasonInvalid { static override msgFmt = 'Failed to power off instance: %(reason)s'; }
export class InstanceRebootFailure extends ReasonInvalid { static override msgFmt = 'Failed to reboot instance: %(reason)s'; }
export class InstanceTerminationFailure extends ReasonInvalid { static override msgFmt = 'Failed to terminate instance: %(reason)s'; }
export class InstanceSuspendFailure extends ReasonInvalid { static override msgFmt = 'Failed to suspend instance: %(reason)s'; }
export class InstanceResumeFailure extends ReasonInvalid { static override msgFmt = 'Failed to resume instance: %(reason)s'; }
export class InstanceDeployFailure extends ReasonInvalid { static override msgFmt = 'Failed to deploy instance: %(reason)s'; }

export class ImageUnacceptable extends Invalid {
  static override msgFmt = 'Image %(image_id)s is unacceptable: %(reason)s';
  constructor(kwargs: { image_id: string; reason: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class ConsoleTypeInvalid extends Invalid {
  static override msgFmt = 'Invalid console type %(console_type)s';
  constructor(kwargs: { console_type: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class ConsoleTypeUnavailable extends Invalid {
  static override msgFmt = 'Unavailable console type %(console_type)s.';
  constructor(kwargs: { console_type: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class ServiceUnavailable extends Invalid {
  static override msgFmt = 'Service is unavailable at this time.';
}

export class ComputeResourcesUnavailable extends ServiceUnavailable {
  static override msgFmt = 'Insufficient compute resources: %(reason)s.';
  constructor(kwargs: { reason: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class UnsupportedHardware extends Invalid {
  static override msgFmt = "Requested hardware '%(model)s' is not supported by the '%(virt)s' virt driver";
  constructor(kwargs: { model: string; virt: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class InstanceExists extends NovaException {
  static override msgFmt = 'Instance %(name)s already exists.';
  constructor(kwargs: { name: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class InstanceUpdateConflict extends NovaException {
  static override msgFmt = 'Conflict updating instance %(instance_uuid)s. Expected: %(expected)s. Actual: %(actual)s';
  constructor(kwargs: { instance_uuid: string; expected: unknown; actual: unknown } & Kwargs, message?: string | null) {
    super(kwargs, message);
  }
}

export class UnexpectedTaskStateError extends InstanceUpdateConflict {}
export class UnexpectedDeletingTaskStateError extends UnexpectedTaskStateError {}

export class InstanceActionNotFound extends NovaException {
  static override msgFmt = 'Action for request_id %(request_id)s on instance %(instance_uuid)s not found';
  constructor(kwargs: { request_id: string; instance_uuid: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class BuildAbortException extends NovaException {
  static override msgFmt = 'Build of instance %(instance_uuid)s aborted: %(reason)s';
  constructor(kwargs: { instance_uuid: string; reason: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class RescheduledException extends NovaException {
  static override msgFmt = 'Build of instance %(instance_uuid)s was re-scheduled: %(reason)s';
  constructor(kwargs: { instance_uuid: string; reason: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class InterfaceAttachFailed extends NovaException {
  static override msgFmt = 'Failed to attach network adapter device to %(instance_uuid)s';
  constructor(kwargs: { instance_uuid: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

export class VirtualInterfaceCreateException extends NovaException {
  static override msgFmt = 'Virtual Interface creation failed';
}

export class InternalError extends NovaException {
  static override msgFmt = '%(err)s';
  constructor(kwargs: { err: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

// ---------------------------------------------------------------------------------------------
// Python builtins

/** A Python builtin exception (`module: builtins`), constructed like `ValueError("text")`. */
export class PyBuiltinError extends NovaError {
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
export class NoSuchMethod extends NovaError {
  readonly method: string;
  constructor(method: string, message?: string) {
    super({ pyClass: 'NoSuchMethod', pyModule: 'oslo_messaging.rpc.dispatcher', message: message ?? `Endpoint does not support RPC method ${method}` });
    this.method = method;
  }
}

/** oslo_messaging.rpc.dispatcher.UnsupportedVersion: no endpoint with that namespace and a compatible version. */
export class UnsupportedVersion extends NovaError {
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
export class UnsupportedRpcEnvelopeVersion extends NovaError {
  constructor(version: unknown) {
    super({
      pyClass: 'UnsupportedRpcEnvelopeVersion', pyModule: 'oslo_messaging._drivers.common',
      message: `Specified RPC envelope version, ${pyStr(version)}, not supported by this endpoint.`,
      kwargs: { version },
    });
  }
}

/** oslo_messaging.exceptions.MessagingTimeout: no reply (or no call-monitor heartbeat) in time. */
export class MessagingTimeout extends NovaError {
  constructor(message: string) {
    super({ pyClass: 'MessagingTimeout', pyModule: 'oslo_messaging.exceptions', message });
  }
}

/** oslo_messaging.exceptions.MessageDeliveryFailure: the broker refused or lost a publish. */
export class MessageDeliveryFailure extends NovaError {
  constructor(message: string) {
    super({ pyClass: 'MessageDeliveryFailure', pyModule: 'oslo_messaging.exceptions', message });
  }
}

/** oslo_messaging.exceptions.InvalidTarget, e.g. a call with a fanout target. */
export class InvalidTarget extends NovaError {
  constructor(message: string) {
    super({ pyClass: 'InvalidTarget', pyModule: 'oslo_messaging.exceptions', message });
  }
}

/**
 * oslo_messaging.RemoteError: a remote failure whose module is not allowed to be rebuilt
 * (or could not be). `excType` is the remote class name.
 */
export class RemoteError extends NovaError {
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
// Registry used to rebuild received failures

/** Builds an error from a received failure's message, args and kwargs. */
export type RemoteFactory = (message: string, args: unknown[], kwargs: Kwargs) => NovaError;

const registry = new Map<string, RemoteFactory>();

/** Makes `module.className` failures arrive as instances built by `factory`. */
export function registerRemoteError(module: string, className: string, factory: RemoteFactory): void {
  registry.set(`${module}.${className}`, factory);
}

export function remoteErrorFactory(module: string, className: string): RemoteFactory | undefined {
  return registry.get(`${module}.${className}`);
}

type NovaExceptionCtor = (new (kwargs: Kwargs, message?: string | null) => NovaException) & { pyClassName?: string; name: string };

const NOVA_CLASSES: NovaExceptionCtor[] = [
  NovaException, NotFound, Invalid, InvalidInput, InstanceNotFound, ImageNotFound, HostNotFound, ComputeHostNotFound,
  ServiceNotFound, PortNotFound, MigrationNotFound, ConsoleNotAvailable, InstanceInvalidState,
  InstanceIsLocked as unknown as NovaExceptionCtor, InstanceNotRunning, InstanceNotReady, InstanceNotRescuable,
  InstanceNotInRescueMode, InstancePowerOnFailure, InstancePowerOffFailure, InstanceRebootFailure,
  InstanceTerminationFailure, InstanceSuspendFailure, InstanceResumeFailure, InstanceDeployFailure, ImageUnacceptable,
  ConsoleTypeInvalid, ConsoleTypeUnavailable, ServiceUnavailable, ComputeResourcesUnavailable, UnsupportedHardware,
  InstanceExists, InstanceUpdateConflict, UnexpectedTaskStateError, UnexpectedDeletingTaskStateError,
  InstanceActionNotFound, BuildAbortException, RescheduledException, VirtualInterfaceCreateException, InternalError,
];

for (const cls of NOVA_CLASSES) {
  // Python rebuilds klass(*args, **kwargs): args[0] is the already formatted message.
  registerRemoteError('nova.exception', cls.pyClassName ?? cls.name, (message, args, kwargs) =>
    new cls(kwargs, typeof args[0] === 'string' ? args[0] : message));
}

const BUILTIN_CLASSES: (new (message?: string, args?: unknown[]) => PyBuiltinError)[] = [
  PyException, NotImplementedError, ValueError, PyTypeError, PyKeyError, PyAttributeError,
];
for (const cls of BUILTIN_CLASSES) {
  const name = (cls as unknown as { pyClassName: string }).pyClassName;
  registerRemoteError('builtins', name, (message, args) => new cls(message, args));
}

registerRemoteError('oslo_messaging.rpc.dispatcher', 'NoSuchMethod', (message) => {
  const m = /RPC method (.*)$/.exec(message);
  return new NoSuchMethod(m ? m[1] : '', message);
});
registerRemoteError('oslo_messaging.rpc.dispatcher', 'UnsupportedVersion', (message) => {
  const m = /RPC version (\S+?)(?:\. Attempted method: (.*))?$/.exec(message);
  return new UnsupportedVersion(m ? m[1] : '', m?.[2] ?? null, message);
});
registerRemoteError('oslo_messaging._drivers.common', 'UnsupportedRpcEnvelopeVersion', (_m, _a, kwargs) =>
  new UnsupportedRpcEnvelopeVersion(kwargs.version));
registerRemoteError('oslo_messaging.exceptions', 'MessagingTimeout', (message) => new MessagingTimeout(message));
registerRemoteError('oslo_messaging.exceptions', 'MessageDeliveryFailure', (message) => new MessageDeliveryFailure(message));
