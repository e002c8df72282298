import { strict as assert } from 'node:assert';
import { PyError, RemoteError } from '../../../src/messaging/errors.js';
import { deserializeRemoteException, failureData, serializeRemoteException } from '../../../src/messaging/failure.js';
import {
  ComputeHostNotFound, ConsoleTypeUnavailable, HostNotFound, ImageNotFound, InstanceInvalidState, InstanceNotFound,
  InstanceNotReady, Invalid, NotFound, NovaError, NovaException, UnexpectedTaskStateError, novaErrorHooks, pyFormat,
} from '../../../src/nova-driver/errors.js';
import { loadTraces } from '../../helpers/traces.js';

function roundTrip(err: unknown, exmods: string[] = ['nova.exception']): PyError {
  return deserializeRemoteException(serializeRemoteException(err, novaErrorHooks), exmods, novaErrorHooks);
}

describe('nova-driver/errors: nova.exception on the wire', () => {
  it('formats messages and kwargs like nova.exception.NovaException (code added)', () => {
    const e = new InstanceNotFound({ instance_id: 'abc' });
    assert.equal(e.message, 'Instance abc could not be found.');
    assert.deepEqual(e.kwargs, { instance_id: 'abc', code: 404 });
    assert.deepEqual(e.pyArgs, ['Instance abc could not be found.']);
    assert.equal(e.name, 'InstanceNotFound');
    assert.equal(e.pyModule, 'nova.exception');
    assert.ok(e instanceof NotFound && e instanceof NovaException && e instanceof NovaError && e instanceof PyError && e instanceof Error);

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
    const text = serializeRemoteException(new InstanceNotFound({ instance_id: 'abc' }), novaErrorHooks);
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

  it('turns anything else that is thrown into nova.exception.NovaException, still serializable', () => {
    for (const thrown of [new TypeError('x is undefined'), 'a string', { weird: true }, 42, null]) {
      const d = JSON.parse(serializeRemoteException(thrown, novaErrorHooks)) as Record<string, unknown>;
      assert.equal(d.class, 'NovaException');
      assert.equal(d.module, 'nova.exception');
      assert.deepEqual(d.kwargs, { code: 500 });
    }
    const data = failureData(new TypeError('x is undefined'), novaErrorHooks);
    assert.equal(data.message, 'TypeError: x is undefined');
    assert.ok(data.tb.some((l) => l.includes('errors.test.js')), 'the JavaScript stack is the traceback');
  });

  it('rebuilds received failures as their nova.exception class with kwargs and remote traceback', () => {
    const back = roundTrip(new InstanceInvalidState({ attr: 'task_state', instance_uuid: 'u', state: 'spawning', method: 'stop' }));
    assert.ok(back instanceof InstanceInvalidState);
    assert.equal(back.message, 'Instance u in task_state spawning. Cannot stop while the instance is in this state.');
    assert.equal(back.kwargs.instance_uuid, 'u');
    assert.ok((back.remoteTraceback ?? []).length > 1);
  });

  it('gives RemoteError when nova.exception is not allowed, like oslo', () => {
    const r = roundTrip(new InstanceNotFound({ instance_id: 'x' }), []);
    assert.ok(r instanceof RemoteError);
    assert.equal(r.excType, 'InstanceNotFound');
    assert.equal(r.value, 'Instance x could not be found.');
  });

  it('rebuilds an unknown nova.exception class as a NovaError carrying the class name', () => {
    const text = JSON.stringify({ class: 'FlavorNotFound', module: 'nova.exception', message: 'Flavor 1 could not be found.', tb: [], args: ['Flavor 1 could not be found.'], kwargs: { flavor_id: 1, code: 404 } });
    const e = deserializeRemoteException(text, ['nova.exception'], novaErrorHooks);
    assert.equal(e.name, 'FlavorNotFound');
    assert.equal(e.pyModule, 'nova.exception');
    assert.deepEqual(e.kwargs, { flavor_id: 1, code: 404 });
    assert.ok(e instanceof NovaError && !(e instanceof NovaException) && !(e instanceof RemoteError));
  });

  it('decodes the ComputeHostNotFound the real conductor sent (trace 04) into a typed error', () => {
    const trace = loadTraces().find((t) => t.file.startsWith('04-'));
    assert.ok(trace?.replies?.[0]);
    const failure = trace.replies[0]['oslo.message_decoded'].failure;
    const e = deserializeRemoteException(failure, ['nova.exception'], novaErrorHooks);
    assert.ok(e instanceof ComputeHostNotFound);
    assert.ok(e instanceof HostNotFound && e instanceof NotFound);
    assert.equal(e.name, 'ComputeHostNotFound');
    assert.equal(e.message, 'Compute host fakehost could not be found.');
    assert.deepEqual(e.kwargs, { host: 'fakehost', code: 404 });
    assert.ok((e.remoteTraceback ?? []).some((l) => l.includes('compute_node_get_by_host_and_nodename')));
    // ... and re-serializes to what the conductor sent (same class, module, message, args, kwargs, tb).
    assert.deepEqual(JSON.parse(serializeRemoteException(e, novaErrorHooks)), JSON.parse(String(failure)));
  });
});
