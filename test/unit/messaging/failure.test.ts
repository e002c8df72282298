import { strict as assert } from 'node:assert';
import {
  MessagingTimeout, NoSuchMethod, NotImplementedError, PyError, PyException, RemoteError, UnsupportedRpcEnvelopeVersion,
  UnsupportedVersion, ValueError, type Kwargs,
} from '../../../src/messaging/errors.js';
import { deserializeRemoteException, failureData, serializeRemoteException, type ErrorHooks } from '../../../src/messaging/failure.js';

/** An application exception module, as the compute service's nova.exception. */
class AppError extends PyError {
  constructor(kwargs: Kwargs) {
    super({ pyClass: 'AppError', pyModule: 'app.exception', message: `app failed: ${String(kwargs.what)}`, kwargs });
  }
}
const appHooks: ErrorHooks = {
  toPyError: (err) => new AppError({ what: err instanceof Error ? err.message : String(err) }),
  fromFailure: (module, className, _message, _args, kwargs) => (module === 'app.exception' && className === 'AppError' ? new AppError(kwargs) : undefined),
};

function roundTrip(err: unknown, exmods: string[] = [], hooks: ErrorHooks = {}): PyError {
  return deserializeRemoteException(serializeRemoteException(err, hooks), exmods, hooks);
}

describe('messaging/failure: Python exceptions on the wire', () => {
  it('serializes like serialize_remote_exception: a JSON string with class, module, message, tb, args, kwargs', () => {
    const text = serializeRemoteException(new UnsupportedRpcEnvelopeVersion('3.0'));
    const data = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(data), ['class', 'module', 'message', 'tb', 'args', 'kwargs']);
    assert.deepEqual([data.class, data.module, data.message], ['UnsupportedRpcEnvelopeVersion', 'oslo_messaging._drivers.common',
      'Specified RPC envelope version, 3.0, not supported by this endpoint.']);
    assert.deepEqual(data.args, ['Specified RPC envelope version, 3.0, not supported by this endpoint.']);
    assert.deepEqual(data.kwargs, { version: '3.0' });
    const tb = data.tb as string[];
    assert.equal(tb[0], 'Traceback (most recent call last):\n');
    assert.equal(tb[tb.length - 1], 'oslo_messaging._drivers.common.UnsupportedRpcEnvelopeVersion: Specified RPC envelope version, 3.0, not supported by this endpoint.\n');
    assert.ok(tb.every((l) => typeof l === 'string' && l.endsWith('\n')));
  });

  it('serializes builtins and oslo dispatcher errors with their real modules and no kwargs', () => {
    const ni = failureData(new NotImplementedError());
    assert.deepEqual([ni.class, ni.module, ni.message, ni.args, ni.kwargs], ['NotImplementedError', 'builtins', '', [], {}]);
    const ve = failureData(new ValueError('bad'));
    assert.deepEqual([ve.class, ve.module, ve.args], ['ValueError', 'builtins', ['bad']]);
    assert.equal(ve.tb[ve.tb.length - 1], 'ValueError: bad\n');
    const nsm = failureData(new NoSuchMethod('foo'));
    assert.deepEqual([nsm.class, nsm.module, nsm.message, nsm.kwargs], ['NoSuchMethod', 'oslo_messaging.rpc.dispatcher', 'Endpoint does not support RPC method foo', {}]);
    const uv = failureData(new UnsupportedVersion('7.0', 'foo'));
    assert.equal(uv.message, 'Endpoint does not support RPC version 7.0. Attempted method: foo');
  });

  it('sends anything else that is thrown as builtins.Exception, or as hooks.toPyError makes it', () => {
    for (const thrown of [new TypeError('x is undefined'), 'a string', { weird: true }, 42, null]) {
      const d = JSON.parse(serializeRemoteException(thrown)) as Record<string, unknown>;
      assert.deepEqual([d.class, d.module, d.kwargs], ['Exception', 'builtins', {}]);
    }
    assert.equal(failureData(new TypeError('x is undefined')).message, 'TypeError: x is undefined');
    const viaHook = failureData(new TypeError('x is undefined'), appHooks);
    assert.deepEqual([viaHook.class, viaHook.module, viaHook.kwargs], ['AppError', 'app.exception', { what: 'x is undefined' }]);
    // A PyError is never handed to the hook.
    assert.equal(failureData(new ValueError('v'), appHooks).class, 'ValueError');
  });

  it('rebuilds received builtins and oslo_messaging failures as typed errors with the remote traceback', () => {
    const builtin = roundTrip(new NotImplementedError('nope'));
    assert.ok(builtin instanceof NotImplementedError);
    assert.equal(builtin.message, 'nope');
    assert.ok((builtin.remoteTraceback ?? []).length > 1);
    assert.ok(roundTrip('thrown text') instanceof PyException);
    const typed = roundTrip(new NoSuchMethod('m'), ['oslo_messaging.rpc.dispatcher']);
    assert.ok(typed instanceof NoSuchMethod && typed.method === 'm');
    const uv = roundTrip(new UnsupportedVersion('7.0', 'foo'), ['oslo_messaging.rpc.dispatcher']);
    assert.ok(uv instanceof UnsupportedVersion && uv.version === '7.0' && uv.method === 'foo');
  });

  it("rebuilds an allowed module's classes through hooks.fromFailure, unknown ones as a PyError with the class name", () => {
    const app = roundTrip(new AppError({ what: 'w' }), ['app.exception'], appHooks);
    assert.ok(app instanceof AppError);
    assert.deepEqual(app.kwargs, { what: 'w' });
    const plain = roundTrip(new AppError({ what: 'w' }), ['app.exception']);
    assert.ok(plain instanceof PyError && !(plain instanceof AppError) && !(plain instanceof RemoteError));
    assert.deepEqual([plain.name, plain.pyModule, plain.message], ['AppError', 'app.exception', 'app failed: w']);
  });

  it('gives RemoteError for modules not allowed, like oslo, whatever the hooks know', () => {
    const r = roundTrip(new AppError({ what: 'x' }), [], appHooks);
    assert.ok(r instanceof RemoteError);
    assert.equal(r.excType, 'AppError');
    assert.equal(r.value, 'app failed: x');
    const nsm = roundTrip(new NoSuchMethod('m'));
    assert.ok(nsm instanceof RemoteError && nsm.excType === 'NoSuchMethod');
  });

  it('survives garbage in the failure field', () => {
    for (const junk of ['not json', '[]', 'null', '{}']) {
      const e = deserializeRemoteException(junk);
      assert.ok(e instanceof PyError, junk);
    }
  });

  it('names MessagingTimeout as the conductor client expects', () => {
    const e = new MessagingTimeout('Timed out waiting for a reply to message ID x');
    assert.equal(e.name, 'MessagingTimeout');
    assert.equal(e.pyModule, 'oslo_messaging.exceptions');
  });
});
