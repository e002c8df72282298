/**
 * attach_interface's failure path and external_instance_event's order, against in-memory
 * fakes: a port that cannot be plugged is unplugged and released again; a cast that carries a
 * network-changed before the network-vif-plugged a build waits for (holding the instance's
 * lock) still gets the event to the build at once.
 */
import { strict as assert } from 'node:assert';
import { attachInterface } from '../../../../src/nova-driver/manager/interfaces.js';
import { computeEndpoint } from '../../../../src/nova-driver/manager/compute-endpoint.js';
import { argsFor, fakeCompute } from '../../../helpers/fake-compute.js';

const event = (uuid: string, name: string, tag: string | null) => ({ 'nova_object.data': { instance_uuid: uuid, name, tag, status: 'completed' } });

describe('attach_interface and external_instance_event', () => {
  it('an attach whose plug fails unplugs and releases the new port, and says why', async () => {
    const c = fakeCompute();
    const inst = c.addInstance();
    const uuid = inst.str('uuid');
    c.driver.fail('plugVifs', new Error('ip link add: File exists'));
    await assert.rejects(attachInterface(c.deps, c.ctx, argsFor(inst, { network_id: 'net-1', port_id: null, requested_ip: null, tag: null })),
      { name: 'InterfaceAttachFailed', message: /File exists/ });
    const [[unplugged, vif]] = c.driver.callsOf('unplugVif');
    assert.equal(unplugged, uuid);
    assert.deepEqual(c.ports.callsOf('deallocatePort').map(([p]) => p), [vif.id]);
    assert.deepEqual(c.ports.byInstance.get(uuid) ?? [], []);
  });

  it('a network-vif-plugged behind a network-changed in the same cast reaches the build holding the lock', async () => {
    const c = fakeCompute();
    const uuid = c.addInstance().str('uuid');
    const handler = computeEndpoint(c.deps, {}, '6.1').handlers.external_instance_event;
    const CALL = { method: 'external_instance_event', args: {}, namespace: null, version: '6.0', context: c.ctx, expectsReply: false };
    const expected = [{ name: 'network-vif-plugged', tag: 'p1' }];
    let delivered = false;
    let cast: Promise<unknown> = Promise.resolve();
    await c.deps.locks.run(uuid, async () => {
      const pending = c.deps.events.prepare(uuid, expected);
      cast = handler(c.ctx, { events: [event(uuid, 'network-changed', 'p1'), event(uuid, 'network-vif-plugged', 'p1')] }, CALL);
      await c.deps.events.wait(uuid, expected, pending, 0.5);
      delivered = true;
    });
    await cast;
    assert.ok(delivered, 'the build got its event within its timeout');
    assert.equal(c.conductor.callsOf('objectAction').filter(([, o]) => o.name === 'InstanceInfoCache').length, 1, 'the cache refreshed afterwards');
  });
});
