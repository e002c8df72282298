/**
 * The VirtApi the driver plugs through: the network-vif-plugged waiters it registers are gone
 * afterwards whatever happened (events arrived, the plug failed, Neutron reported a failure,
 * the wait timed out, fatally or not).
 */
import { strict as assert } from 'node:assert';
import { InstanceEvents, virtApi } from '../../../src/nova-driver/manager/instance-events.js';
import { captureLogs } from '../../helpers/log-capture.js';

const UUID = 'a0000000-0000-4000-8000-000000000001';
const PORTS = ['p1', 'p2'];

function plugged(events: InstanceEvents, status = 'completed', ports = PORTS): () => Promise<void> {
  return async () => {
    setImmediate(() => { for (const tag of ports) events.deliver(UUID, { name: 'network-vif-plugged', tag, status }); });
  };
}

describe('virtApi.waitForVifPlugged', () => {
  it('waits for every port\'s event, registered before the plug', async () => {
    const events = new InstanceEvents();
    let waitingDuringPlug = 0;
    await virtApi(events, 1, true, captureLogs().log).waitForVifPlugged(UUID, PORTS, async () => {
      waitingDuringPlug = events.size;
      await plugged(events)();
    });
    assert.equal(waitingDuringPlug, 2);
    assert.equal(events.size, 0);
  });

  it('a plug that fails drops its waiters', async () => {
    const events = new InstanceEvents();
    await assert.rejects(virtApi(events, 1, true, captureLogs().log).waitForVifPlugged(UUID, PORTS, async () => {
      throw new Error('veth creation failed');
    }), /veth creation failed/);
    assert.equal(events.size, 0);
  });

  it('an event Neutron reports failed fails the wait and drops the other waiters', async () => {
    const events = new InstanceEvents();
    await assert.rejects(virtApi(events, 1, true, captureLogs().log).waitForVifPlugged(UUID, PORTS, plugged(events, 'failed', ['p1'])),
      /reported network-vif-plugged-p1 as failed/);
    assert.equal(events.size, 0);
  });

  it('a failed event is not fatal without vif_plugging_is_fatal: logged, the spawn goes on', async () => {
    const events = new InstanceEvents();
    const logs = captureLogs();
    await virtApi(events, 1, false, logs.log).waitForVifPlugged(UUID, PORTS, plugged(events, 'failed', ['p1']));
    assert.equal(events.size, 0);
    assert.equal(logs.find(/Neutron reported a failed plug/).length, 1);
  });

  it('a fatal timeout names the missing events and drops every waiter', async () => {
    const events = new InstanceEvents();
    await assert.rejects(virtApi(events, 0.02, true, captureLogs().log).waitForVifPlugged(UUID, PORTS, plugged(events, 'completed', ['p1'])),
      (err: Error) => err.name === 'VirtualInterfaceCreateException' && /network-vif-plugged-p2/.test(err.message) && !/p1/.test(err.message));
    assert.equal(events.size, 0);
    assert.equal(events.deliver(UUID, { name: 'network-vif-plugged', tag: 'p2', status: 'completed' }), false, 'a late event finds nobody waiting');
  });

  it('a timeout that is not fatal is logged, the plug goes on, and no waiter is left', async () => {
    const events = new InstanceEvents();
    const logs = captureLogs();
    await virtApi(events, 0.02, false, logs.log).waitForVifPlugged(UUID, PORTS, async () => undefined);
    assert.equal(events.size, 0);
    assert.deepEqual(logs.find(/timed out waiting for network-vif-plugged/).map((l) => l.missing), [['network-vif-plugged-p1', 'network-vif-plugged-p2']]);
  });
});
