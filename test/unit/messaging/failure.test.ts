import { strict as assert } from 'node:assert';
import {
  ComputeHostNotFound, ConsoleTypeUnavailable, HostNotFound, ImageNotFound, InstanceInvalidState, InstanceNotFound,
  InstanceNotReady, Invalid, MessagingTimeout, NoSuchMethod, NotFound, NotImplementedError, NovaError, NovaException,
  RemoteError, UnexpectedTaskStateError, UnsupportedVersion, ValueError, pyFormat,
} from '../../../src/nova-driver/errors.js';
import { deserializeRemoteException, failureData, serializeRemoteException } from '../../../src/messaging/failure.js';
import { loadTraces } from '../../helpers/traces.js';

function roundTrip(err: unknown, exmods: string[] = ['nova.exception']): NovaError {
  return deserializeRemoteException(serializeRemoteException(err), exmods);
}

describe('errors + rpc/failure: Python exceptions on the wire', () => {
  it('formats messages and kwargs like nova.exception.NovaException (code added)', () => {
    const e = new InstanceNotFound({ instance_id: 'abc' });
    assert.equal(e.message, 'Instance abc could not be found.');
    assert.deepEqual(e.kwargs, { instance_id: 'abc', code: 404 });
    assert.deepEqual(e.pyArgs, ['Instance abc could not be found.']);
    assert.equal(e.name, 'InstanceNotFound');
    assert.equal(e.pyModule, 'nova.exception');
    assert.ok(e instanceof NotFound && e instanceof NovaException && e instanceof NovaError && e instanceof Error);

    const s = new InstanceInvalidState({ attr: 'vm_state', instance_uuid: 'u1', state: 'stopped', method: 'reboot' });
    assert.equal(s.message, 'Instance u1 in vm_state stopped. Cannot reboot while the instance is in this state.');
    assert.equal(s.kwargs.code, 400);
    assert.ok(s instanceof Invalid);

    const t = new UnexpectedTaskStateError({ instance_uuid: 'u', expected: { task_state: [null] }, actual: { task_state: 'deleting' } });
    assert.equal(t.message, "Conflict updating instance u. Expected: {'task_state': [None]}. Actual: {'task_state': 'deleting'}");
    assert.equal(t.code, 500);
    assert.equal(new ConsoleTypeUnavailable({ console_type: 'spice' }).message, 'Unavailable console type spice.');
    assert.equal(new ImageNotFound({ image_id: 'i' }).message, 'Image i could not be found.');
    assert.equal(new InstanceNotReady({ instance_id: 'x' }).message, 'Instance x is not ready');
    // A format that cannot be filled falls back to msg_fmt, as Python does.
    assert.equal(new InstanceNotFound({} as { instance_id: string }).message, 'Instance %(instance_id)s could not be found.');
    assert.equal(new InstanceNotFound({ instance_id: 'x' }, 'custom').message, 'custom');
  });

  it('formats %(x)s/%(x)d/%(x)r like Python', () => {
    assert.equal(pyFormat('%(a)s %(b)d %(c)r %%', { a: null, b: 7.9, c: 'q' }), "None 7 'q' %");
    assert.equal(pyFormat('%(a)s', { a: [true, 'x', 1] }), "[True, 'x', 1]");
    assert.throws(() => pyFormat('%(missing)s', {}));
  });

  it('serializes like serialize_remote_exception: a JSON string with class, module, message, tb, args, kwargs', () => {
    const text = serializeRemoteException(new InstanceNotFound({ instance_id: 'abc' }));
    assert.equal(typeof text, 'string');
    const data = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(data), ['class', 'module', 'message', 'tb', 'args', 'kwargs']);
    assert.equal(data.class, 'InstanceNotFound');
    assert.equal(data.module, 'nova.exception');
    assert.equal(data.message, 'Instance abc could not be found.');
    assert.deepEqual(data.args, ['Instance abc could not be found.']);
    assert.deepEqual(data.kwargs, { instance_id: 'abc', code: 404 });
    const tb = data.tb as string[];
    assert.equal(tb[0], 'Traceback (most recent call last):\n');
    assert.equal(tb[tb.length - 1], 'nova.exception.InstanceNotFound: Instance abc could not be found.\n');
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

  it('turns anything else that is thrown into nova.exception.NovaException, still serializable', () => {
    for (const thrown of [new TypeError('x is undefined'), 'a string', { weird: true }, 42, null]) {
      const d = JSON.parse(serializeRemoteException(thrown)) as Record<string, unknown>;
      assert.equal(d.class, 'NovaException');
      assert.equal(d.module, 'nova.exception');
      assert.deepEqual(d.kwargs, { code: 500 });
    }
    assert.equal(failureData(new TypeError('x is undefined')).message, 'TypeError: x is undefined');
  });

  it('rebuilds received failures as typed errors (module allowed) with kwargs and remote traceback', () => {
    const back = roundTrip(new InstanceInvalidState({ attr: 'task_state', instance_uuid: 'u', state: 'spawning', method: 'stop' }));
    assert.ok(back instanceof InstanceInvalidState);
    assert.equal(back.message, 'Instance u in task_state spawning. Cannot stop while the instance is in this state.');
    assert.equal(back.kwargs.instance_uuid, 'u');
    assert.ok((back.remoteTraceback ?? []).length > 1);
    const builtin = roundTrip(new NotImplementedError('nope'), []);
    assert.ok(builtin instanceof NotImplementedError);
    assert.equal(builtin.message, 'nope');
  });

  it('gives RemoteError for modules not allowed, like oslo', () => {
    const r = roundTrip(new InstanceNotFound({ instance_id: 'x' }), []);
    assert.ok(r instanceof RemoteError);
    assert.equal(r.excType, 'InstanceNotFound');
    assert.equal(r.value, 'Instance x could not be found.');
    const nsm = roundTrip(new NoSuchMethod('m'));
    assert.ok(nsm instanceof RemoteError && nsm.excType === 'NoSuchMethod');
    const typed = roundTrip(new NoSuchMethod('m'), ['oslo_messaging.rpc.dispatcher']);
    assert.ok(typed instanceof NoSuchMethod && typed.method === 'm');
  });

  it('rebuilds an unknown nova.exception class as a NovaError carrying the class name', () => {
    const text = JSON.stringify({ class: 'FlavorNotFound', module: 'nova.exception', message: 'Flavor 1 could not be found.', tb: [], args: ['Flavor 1 could not be found.'], kwargs: { flavor_id: 1, code: 404 } });
    const e = deserializeRemoteException(text);
    assert.equal(e.name, 'FlavorNotFound');
    assert.equal(e.pyModule, 'nova.exception');
    assert.deepEqual(e.kwargs, { flavor_id: 1, code: 404 });
    assert.ok(!(e instanceof RemoteError));
  });

  it('survives garbage in the failure field', () => {
    for (const junk of ['not json', '[]', 'null', '{}']) {
      const e = deserializeRemoteException(junk);
      assert.ok(e instanceof NovaError, junk);
    }
  });

  it('decodes the ComputeHostNotFound the real conductor sent (trace 04) into a typed error', () => {
    const trace = loadTraces().find((t) => t.file.startsWith('04-'));
    assert.ok(trace?.replies?.[0]);
    const failure = trace.replies[0]['oslo.message_decoded'].failure;
    const e = deserializeRemoteException(failure);
    assert.ok(e instanceof ComputeHostNotFound);
    assert.ok(e instanceof HostNotFound && e instanceof NotFound);
    assert.equal(e.name, 'ComputeHostNotFound');
    assert.equal(e.message, 'Compute host fakehost could not be found.');
    assert.deepEqual(e.kwargs, { host: 'fakehost', code: 404 });
    assert.ok((e.remoteTraceback ?? []).some((l) => l.includes('compute_node_get_by_host_and_nodename')));
    // ... and re-serializes to what the conductor sent (same class, module, message, args, kwargs, tb).
    assert.deepEqual(JSON.parse(serializeRemoteException(e)), JSON.parse(String(failure)));
  });

  it('names MessagingTimeout as the conductor client expects', () => {
    const e = new MessagingTimeout('Timed out waiting for a reply to message ID x');
    assert.equal(e.name, 'MessagingTimeout');
    assert.equal(e.pyModule, 'oslo_messaging.exceptions');
  });
});
