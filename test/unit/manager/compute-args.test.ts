/**
 * The compute endpoint's argument schemas: every compute message of the real Nova Zed capture
 * passes both checks (the dispatcher's and the handler's), and arguments that fail are
 * answered with builtins.ValueError without leaving a task_state behind.
 */
import { strict as assert } from 'node:assert';
import { RpcDispatcher } from '../../../src/messaging/dispatcher.js';
import type { IncomingCall } from '../../../src/messaging/types.js';
import { computeEndpoint } from '../../../src/nova-driver/manager/compute-endpoint.js';
import { COMPUTE_ARG_SCHEMAS, checkArgs, type InstanceMethod } from '../../../src/nova-driver/manager/compute-args.js';
import { TaskState } from '../../../src/nova-driver/manager/states.js';
import { loadTraces } from '../../helpers/traces.js';
import { argsFor, fakeCompute } from '../../helpers/fake-compute.js';

function cast(method: string, args: Record<string, unknown>): IncomingCall {
  return { method, args, namespace: null, version: '6.0', context: { request_id: 'req-args' }, expectsReply: false };
}

function isInstanceMethod(method: string): method is InstanceMethod {
  return Object.prototype.hasOwnProperty.call(COMPUTE_ARG_SCHEMAS, method);
}

describe('compute RPC argument schemas', () => {
  const traces = loadTraces().filter((t) => t.file.includes('-compute-'));

  it('the capture holds the compute messages it is checked against', () => {
    assert.deepEqual([...new Set(traces.map((t) => t.summary.method))].sort(), [
      'build_and_run_instance', 'get_console_output', 'reboot_instance', 'snapshot_instance', 'start_instance', 'stop_instance', 'terminate_instance',
    ]);
  });

  const endpoint = computeEndpoint(fakeCompute().deps, {}, '6.1');
  const dispatcher = new RpcDispatcher([endpoint]);
  for (const t of traces) {
    it(`accepts ${t.file}`, () => {
      const { method, args } = t.request['oslo.message_decoded'] as { method: string; args: Record<string, unknown> };
      assert.doesNotThrow(() => dispatcher.validate(endpoint, method, args));
      assert.ok(isInstanceMethod(method), `${method} has a schema`);
      assert.doesNotThrow(() => checkArgs(method, args));
    });
  }

  it('the dispatcher refuses a message whose instance cannot be identified, without running the handler', async () => {
    const c = fakeCompute();
    const dispatcher = new RpcDispatcher([computeEndpoint(c.deps, {}, '6.1')]);
    for (const instance of [undefined, null, { 'nova_object.name': 'Instance', 'nova_object.data': {} }, { 'nova_object.name': 'Flavor', 'nova_object.data': { uuid: 'x' } }]) {
      await assert.rejects(dispatcher.dispatch(cast('stop_instance', { instance })), { name: 'ValueError', message: /stop_instance/ });
    }
    assert.deepEqual(c.store.calls, []);
  });

  it('an identifiable instance with a bad argument: ValueError, a fault, the task_state cleared', async () => {
    const c = fakeCompute();
    const dispatcher = new RpcDispatcher([computeEndpoint(c.deps, {}, '6.1')]);
    const inst = c.addInstance({ task_state: TaskState.POWERING_OFF });
    await assert.rejects(dispatcher.dispatch(cast('stop_instance', argsFor(inst, { clean_shutdown: 'yes' }))),
      { name: 'ValueError', message: /stop_instance: \/clean_shutdown must be boolean/ });
    assert.equal(c.store.record(inst.str('uuid')).get('task_state'), null);
    assert.equal(c.store.faults.length, 1);
    assert.deepEqual(c.driver.calls, []);
  });

  it('external_instance_event: an event that names no instance is refused', async () => {
    const c = fakeCompute();
    const dispatcher = new RpcDispatcher([computeEndpoint(c.deps, {}, '6.1')]);
    const event = (data: Record<string, unknown>) => ({ 'nova_object.name': 'InstanceExternalEvent', 'nova_object.data': data });
    await assert.rejects(dispatcher.dispatch(cast('external_instance_event', { events: [event({ name: 'network-vif-plugged', tag: 'p1' })] })),
      { name: 'ValueError', message: /instance_uuid/ });
    await dispatcher.dispatch(cast('external_instance_event', {
      events: [event({ instance_uuid: 'a0000000-0000-4000-8000-000000000001', name: 'network-vif-plugged', tag: 'p1', status: 'completed' })],
    }));
  });
});
