/**
 * get_serial_console, validate_console_port and the graphical consoles as the compute endpoint
 * serves them (nova/compute/manager.py): the driver's port, a ConsoleAuthToken authorized
 * through the conductor with an admin context, the connect info nova-api turns into the URL;
 * ConsoleTypeUnavailable where the host gives no such console.
 */
import { strict as assert } from 'node:assert';
import { RpcDispatcher } from '../../../../src/messaging/dispatcher.js';
import type { IncomingCall } from '../../../../src/messaging/types.js';
import { ConsolePortsExhausted, ConsoleUnavailable } from '../../../../src/nova-driver/instance-driver.js';
import { computeEndpoint } from '../../../../src/nova-driver/manager/compute-endpoint.js';
import { argsFor, fakeCompute, type FakeCompute } from '../../../helpers/fake-compute.js';

function call(c: FakeCompute, method: string, args: Record<string, unknown>): Promise<unknown> {
  const message: IncomingCall = { method, args, namespace: null, version: '6.0', context: { request_id: 'req-console', is_admin: false, roles: ['member'] }, expectsReply: true };
  return new RpcDispatcher([computeEndpoint(c.deps, {}, '6.0')]).dispatch(message);
}

describe('consoles', () => {
  it('get_serial_console: the driver\'s port, a token the conductor authorized for it, the URL of nova-serialproxy with the token', async () => {
    const c = fakeCompute({ serialConsole: true });
    c.addInstance({ uuid: 'a0000000-0000-4000-8000-000000000001' });
    const inst = c.addInstance({ uuid: 'a0000000-0000-4000-8000-000000000002' });
    const info = await call(c, 'get_serial_console', argsFor(inst, { console_type: 'serial' })) as Record<string, unknown>;
    assert.deepEqual(c.driver.callsOf('serialConsole').map((a) => a[0]), [inst.str('uuid')]);
    const [authorize] = c.conductor.callsOf('objectAction').filter((a) => a[2] === 'authorize');
    assert.ok(authorize, 'ConsoleAuthToken.authorize through the conductor');
    const [ctx, token, , args] = authorize;
    assert.equal(token.name, 'ConsoleAuthToken');
    assert.deepEqual(args, [600], 'token_ttl');
    assert.equal(ctx.is_admin, true, 'an elevated context, as Nova\'s manager authorizes with');
    assert.deepEqual(ctx.roles, ['member', 'admin']);
    const sent = c.conductor.actions('ConsoleAuthToken', 'authorize')[0];
    assert.deepEqual(sent, {
      console_type: 'serial', host: '127.0.0.1', port: 10001, internal_access_path: null,
      instance_uuid: inst.str('uuid'), access_url_base: 'ws://127.0.0.1:6083/',
    });
    assert.match(String(info.token), /^[0-9a-f-]{36}$/);
    assert.deepEqual(info, { host: '127.0.0.1', port: 10001, internal_access_path: null, token: info.token, access_url: `ws://127.0.0.1:6083/?token=${String(info.token)}` });
  });

  it('validate_console_port: true for the instance\'s port (nova-serialproxy sends it as a string), false for another', async () => {
    const c = fakeCompute({ serialConsole: true });
    const inst = c.addInstance();
    assert.equal(await call(c, 'validate_console_port', argsFor(inst, { console_type: 'serial', port: '10000' })), true);
    assert.equal(await call(c, 'validate_console_port', argsFor(inst, { console_type: 'serial', port: '10001' })), false);
    await assert.rejects(call(c, 'validate_console_port', argsFor(inst, { console_type: 'novnc', port: '10000' })),
      { name: 'ConsoleTypeUnavailable', message: 'Unavailable console type novnc.' });
  });

  it('with [serial_console] enabled = false: ConsoleTypeUnavailable, the driver not asked', async () => {
    const c = fakeCompute();
    const inst = c.addInstance();
    await assert.rejects(call(c, 'get_serial_console', argsFor(inst, { console_type: 'serial' })),
      { name: 'ConsoleTypeUnavailable', message: 'Unavailable console type serial.' });
    assert.equal(c.driver.callsOf('serialConsole').length, 0);
  });

  it('an instance not on this host: InstanceNotFound; no token', async () => {
    const c = fakeCompute({ serialConsole: true });
    const inst = c.addInstance({}, null);
    await assert.rejects(call(c, 'get_serial_console', argsFor(inst, { console_type: 'serial' })), { name: 'InstanceNotFound' });
    assert.equal(c.conductor.actions('ConsoleAuthToken', 'authorize').length, 0);
  });

  it('an instance being built that has no workload yet: InstanceNotReady; no token', async () => {
    const c = fakeCompute({ serialConsole: true });
    const inst = c.addInstance({ vm_state: 'building' }, null);
    await assert.rejects(call(c, 'get_serial_console', argsFor(inst, { console_type: 'serial' })),
      { name: 'InstanceNotReady', message: `Instance ${inst.str('uuid')} is not ready` });
    assert.equal(c.conductor.actions('ConsoleAuthToken', 'authorize').length, 0);
  });

  it('an instance made without a console: ConsoleTypeUnavailable, no token', async () => {
    const c = fakeCompute({ serialConsole: true });
    const inst = c.addInstance();
    c.driver.fail('serialConsole', new ConsoleUnavailable('made without a console'));
    await assert.rejects(call(c, 'get_serial_console', argsFor(inst, { console_type: 'serial' })),
      { name: 'ConsoleTypeUnavailable', message: 'Unavailable console type serial.' });
    assert.equal(c.conductor.actions('ConsoleAuthToken', 'authorize').length, 0);
  });

  it('no port left in the range: SocketPortRangeExhaustedException naming the host', async () => {
    const c = fakeCompute({ serialConsole: true });
    const inst = c.addInstance();
    c.driver.fail('serialConsole', new ConsolePortsExhausted('127.0.0.1', [10000, 10002]));
    await assert.rejects(call(c, 'get_serial_console', argsFor(inst, { console_type: 'serial' })),
      { name: 'SocketPortRangeExhaustedException', message: 'Not able to acquire a free port for 127.0.0.1' });
  });

  for (const [method, type] of [['get_vnc_console', 'novnc'], ['get_spice_console', 'spice-html5'], ['get_rdp_console', 'rdp-html5'], ['get_mks_console', 'webmks']]) {
    it(`${method}: a container has no display, ConsoleTypeUnavailable (nova-api answers 400)`, async () => {
      const c = fakeCompute({ serialConsole: true });
      const inst = c.addInstance();
      await assert.rejects(call(c, method, argsFor(inst, { console_type: type })), { name: 'ConsoleTypeUnavailable', message: `Unavailable console type ${type}.` });
    });
  }

  it('a console call without its console_type is refused with ValueError', async () => {
    const c = fakeCompute({ serialConsole: true });
    const inst = c.addInstance();
    await assert.rejects(call(c, 'get_serial_console', argsFor(inst)), { name: 'ValueError', message: /console_type/ });
  });
});
