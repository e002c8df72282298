/**
 * nova.exception as it crosses oslo.messaging, and the hooks that plug it into src/messaging.
 * Every class here names a real Python class (module and name) and takes the real kwargs, so
 * what we raise arrives in nova-api as the exception Nova's own compute would have raised,
 * and what the conductor raises arrives here as a typed value: test it with `instanceof` or
 * with `err.name` (= the Python class name, e.g. 'ComputeHostNotFound').
 *
 * Python builtins and oslo_messaging's exceptions are src/messaging's (messaging/errors.ts).
 */
import { NotImplementedError, PyError, pyRepr, pyStr, type Kwargs } from '../messaging/errors.js';
import { thrownText, type ErrorHooks } from '../messaging/failure.js';

/**
 * The compute service's name for any Python exception that crosses the wire, nova.exception
 * or not (builtins, oslo_messaging): messaging's PyError.
 */
export { PyError as NovaError };
/** Raised by compute handlers for what this host does not support (Nova's virt drivers do the same). */
export { NotImplementedError };
export type { Kwargs };

// ---------------------------------------------------------------------------------------------
// Python-style string formatting (what `msg_fmt % kwargs` produces)

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
export class NovaException extends PyError {
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

export class InstanceEvacuateNotSupportedTargetState extends Invalid {
  static override msgFmt = 'Target state \'%(target_state)s\' for instance evacuate is not supported.';
  constructor(kwargs: { target_state: string } & Kwargs, message?: string | null) { super(kwargs, message); }
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

export class MigrationError extends NovaException {
  static override msgFmt = 'Migration error: %(reason)s';
  constructor(kwargs: { reason: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

/** What the conductor's live-migration task takes as "not this host": it keeps the instance's state and tries another. */
export class MigrationPreCheckError extends MigrationError {
  static override msgFmt = 'Migration pre-check error: %(reason)s';
}

export class InternalError extends NovaException {
  static override msgFmt = '%(err)s';
  constructor(kwargs: { err: string } & Kwargs, message?: string | null) { super(kwargs, message); }
}

// ---------------------------------------------------------------------------------------------
// The hooks src/messaging calls

type NovaExceptionCtor = (new (kwargs: Kwargs, message?: string | null) => NovaException) & { pyClassName?: string; name: string };

const NOVA_CLASSES: NovaExceptionCtor[] = [
  NovaException, NotFound, Invalid, InvalidInput, InstanceNotFound, ImageNotFound, HostNotFound, ComputeHostNotFound,
  ServiceNotFound, PortNotFound, MigrationNotFound, ConsoleNotAvailable, InstanceInvalidState,
  InstanceIsLocked as unknown as NovaExceptionCtor, InstanceNotRunning, InstanceNotReady, InstanceNotRescuable,
  InstanceNotInRescueMode, InstancePowerOnFailure, InstancePowerOffFailure, InstanceRebootFailure,
  InstanceTerminationFailure, InstanceSuspendFailure, InstanceResumeFailure, InstanceDeployFailure, ImageUnacceptable,
  InstanceEvacuateNotSupportedTargetState, ConsoleTypeInvalid, ConsoleTypeUnavailable, ServiceUnavailable, ComputeResourcesUnavailable, UnsupportedHardware,
  InstanceExists, InstanceUpdateConflict, UnexpectedTaskStateError, UnexpectedDeletingTaskStateError,
  InstanceActionNotFound, BuildAbortException, RescheduledException, VirtualInterfaceCreateException, MigrationError,
  MigrationPreCheckError, InternalError,
];

const NOVA_BY_NAME = new Map<string, NovaExceptionCtor>(NOVA_CLASSES.map((cls) => [cls.pyClassName ?? cls.name, cls]));

/**
 * nova.exception for src/messaging: a thrown value that is no Python exception (a bug, a
 * library error, a thrown string) goes out as nova.exception.NovaException with the original
 * text; a received nova.exception failure of a class we define comes back as that class.
 */
export const novaErrorHooks: ErrorHooks = {
  toPyError(err: unknown): PyError {
    const wrapped = new NovaException({}, thrownText(err));
    if (err instanceof Error && err.stack) wrapped.stack = err.stack;
    return wrapped;
  },
  fromFailure(module, className, message, args, kwargs) {
    if (module !== 'nova.exception') return undefined;
    const cls = NOVA_BY_NAME.get(className);
    // Python rebuilds klass(*args, **kwargs): args[0] is the already formatted message.
    return cls ? new cls(kwargs, typeof args[0] === 'string' ? args[0] : message) : undefined;
  },
};

