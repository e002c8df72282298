import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import { messagingOptions } from '../../../src/messaging/options.js';
import type { IncomingCall } from '../../../src/messaging/types.js';
import { instanceOf, messagingOptionsFromConfig, novaCallLogFields, novaMessagingHooks, novaMessagingOptions } from '../../../src/nova-driver/messaging-config.js';
import { novaErrorHooks } from '../../../src/nova-driver/errors.js';

const UUID = '0c2d2b8e-61c5-4c1e-9d6a-000000000001';

function call(args: Record<string, unknown>): IncomingCall {
  return { method: 'm', args, namespace: null, version: '6.0', context: {}, expectsReply: true };
}

describe('nova-driver/messaging-config: the compute service on src/messaging', () => {
  it("uses Nova's exchange, nova.exception and our connection name where oslo's defaults differ", () => {
    const oslo = messagingOptions({ transport_url: 'rabbit://h/' });
    assert.deepEqual([oslo.control_exchange, oslo.allowed_remote_exmods], ['openstack', []]);
    const nova = novaMessagingOptions({ transport_url: 'rabbit://h/' });
    assert.deepEqual([nova.control_exchange, nova.allowed_remote_exmods, nova.program_name], ['nova', ['nova.exception'], 'nova-container']);
    assert.equal(novaMessagingOptions({ transport_url: 'rabbit://h/', control_exchange: 'other' }).control_exchange, 'other');
  });

  it('reads [DEFAULT] and [oslo_messaging_rabbit] of nova.conf', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nc-msgconf-'));
    try {
      const f = join(dir, 'nova.conf');
      writeFileSync(f, '[DEFAULT]\ntransport_url = rabbit://u:p@h:5673/v\ncontrol_exchange = nova2\nrpc_response_timeout = 90\n'
        + '[oslo_messaging_rabbit]\namqp_durable_queues = true\nrabbit_interval_max = 10\n');
      const o = messagingOptionsFromConfig(loadConfig([f]));
      assert.deepEqual([o.transport_url, o.control_exchange, o.rpc_response_timeout, o.allowed_remote_exmods],
        ['rabbit://u:p@h:5673/v', 'nova2', 90, ['nova.exception']]);
      assert.deepEqual([o.rabbit.amqp_durable_queues, o.rabbit.rabbit_interval_max, o.rabbit.rabbit_transient_queues_ttl], [true, 10, 1800]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the Instance object\'s uuid, else instance_uuid, else nothing', () => {
    assert.equal(instanceOf({ instance: { 'nova_object.name': 'Instance', 'nova_object.data': { uuid: UUID } } }), UUID);
    assert.equal(instanceOf({ instance_uuid: UUID }), UUID);
    assert.equal(instanceOf({ instance: null, enabled: true }), null);
    assert.equal(instanceOf({ instance: { 'nova_object.data': {} } }), null);
  });

  it('hooks nova.exception and the instance log field into messaging', () => {
    assert.deepEqual(novaCallLogFields(call({ instance_uuid: UUID })), { instance: UUID });
    assert.deepEqual(novaCallLogFields(call({ host: 'h' })), {});
    assert.equal(novaMessagingHooks.errors, novaErrorHooks);
    assert.equal(novaMessagingHooks.describeCall, novaCallLogFields);
  });
});
