import { strict as assert } from 'node:assert';
import { NoSuchMethod, UnsupportedVersion, ValueError } from '../../../src/messaging/errors.js';
import { RpcDispatcher } from '../../../src/messaging/dispatcher.js';
import type { Endpoint, IncomingCall } from '../../../src/messaging/types.js';

function call(method: string, version: string, namespace: string | null = null, args: Record<string, unknown> = {}): IncomingCall {
  return { method, version, namespace, args, context: { request_id: 'req-t' }, expectsReply: true };
}

describe('messaging/dispatcher: endpoint selection like RPCDispatcher', () => {
  const compute: Endpoint = {
    namespace: null, version: '6.1',
    handlers: { async get_console_output(_c, a) { return `out ${String(a.tail_length)}`; }, async shared() { return 'v6'; } },
    schemas: { get_console_output: { type: 'object', required: ['instance', 'tail_length'], properties: { tail_length: { type: ['integer', 'null'] } } } },
  };
  const v5: Endpoint = { namespace: null, version: '5.13', handlers: { async shared() { return 'v5'; }, async old_only() { return 'old'; } } };
  const baseapi: Endpoint = { namespace: 'baseapi', version: '1.1', handlers: { async ping(_c, a) { return { service: 'compute', arg: a.arg }; } } };
  const d = new RpcDispatcher([compute, v5, baseapi]);

  it('picks the endpoint by namespace and compatible version', async () => {
    assert.equal(await d.dispatch(call('shared', '6.0')), 'v6');
    assert.equal(await d.dispatch(call('shared', '5.2')), 'v5');
    assert.equal(await d.dispatch(call('old_only', '5.13')), 'old');
    assert.deepEqual(await d.dispatch(call('ping', '1.0', 'baseapi', { arg: 'x' })), { service: 'compute', arg: 'x' });
  });

  it('raises NoSuchMethod when a compatible endpoint lacks the method', () => {
    assert.throws(() => d.resolve(call('nonexistent', '6.0')), (e: unknown) => e instanceof NoSuchMethod && e.method === 'nonexistent');
    assert.throws(() => d.resolve(call('old_only', '6.0')), NoSuchMethod);
    assert.throws(() => d.resolve(call('toString', '6.0')), NoSuchMethod);
  });

  it('raises UnsupportedVersion for a newer minor, another major or an unknown namespace', () => {
    for (const c of [call('shared', '6.2'), call('shared', '7.0'), call('ping', '1.0', 'nope'), call('ping', '2.0', 'baseapi'), call('shared', '4.0')]) {
      assert.throws(() => d.resolve(c), (e: unknown) => e instanceof UnsupportedVersion && e.version === c.version && e.method === c.method);
    }
  });

  it('validates args against the endpoint schema before running the handler', async () => {
    assert.equal(await d.dispatch(call('get_console_output', '6.0', null, { instance: {}, tail_length: 5 })), 'out 5');
    await assert.rejects(d.dispatch(call('get_console_output', '6.0', null, { tail_length: 'x' })),
      (e: unknown) => e instanceof ValueError && /get_console_output/.test(e.message) && e.pyModule === 'builtins');
  });
});
