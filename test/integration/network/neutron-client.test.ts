/**
 * The Neutron client against the local cloud's real neutron-server: a port created with the
 * compute host's service credentials, read back, turned into Nova's network_info model, and
 * deleted.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../../src/config/load.js';
import { serviceAuth } from '../../../src/config/types.js';
import { KeystoneSession } from '../../../src/glance-bridge/keystone.js';
import { silentLogger } from '../../../src/common/log.js';
import { NeutronClient } from '../../../src/network/neutron-client.js';
import { vifModel } from '../../../src/network/network-info.js';
import { COMPUTE_CONF, openstack } from '../../helpers/cloud.js';

describe('Neutron client against the real neutron-server', function () {
  this.timeout(120_000);
  const name = `nc-neutron-${Date.now().toString(36)}`;
  let networkId = '';
  let client: NeutronClient;

  before(async () => {
    const auth = serviceAuth(loadConfig([COMPUTE_CONF]), 'neutron');
    client = new NeutronClient(new KeystoneSession(auth, silentLogger()), silentLogger());
    networkId = (await openstack<{ id: string }>(['network', 'create', name])).id;
    await openstack(['subnet', 'create', '--network', networkId, '--subnet-range', '10.99.7.0/24', '--dns-nameserver', '10.99.7.3', `${name}-subnet`]);
  });

  after(async () => {
    if (networkId) await openstack(['network', 'delete', networkId], false);
  });

  it('creates, reads, models and deletes a port for an instance', async () => {
    const deviceId = randomUUID();
    const created = await client.createPort({ network_id: networkId, device_id: deviceId, device_owner: 'compute:nova', admin_state_up: true });
    try {
      assert.equal(created.device_id, deviceId);
      const listed = await client.listPorts({ device_id: deviceId });
      assert.deepEqual(listed.map((p) => p.id), [created.id]);
      const network = await client.getNetwork(networkId);
      const subnets = await client.listSubnets(created.fixed_ips.map((f) => f.subnet_id));
      const vif = vifModel(await client.getPort(created.id), network, subnets, false, {}, 'br-int');
      assert.equal(vif.devname, `tap${created.id}`.slice(0, 14));
      assert.equal(vif.address, created.mac_address);
      assert.equal(vif.network.label, name);
      assert.equal(vif.network.subnets[0].cidr, '10.99.7.0/24');
      assert.match(String(vif.network.subnets[0].ips[0].address), /^10\.99\.7\.\d+$/);
      assert.deepEqual(vif.network.subnets[0].dns.map((d) => d.address), ['10.99.7.3']);
      assert.equal(vif.active, false, 'an unbound port is not active');
    } finally {
      await client.deletePort(created.id);
    }
    assert.deepEqual(await client.listPorts({ device_id: deviceId }), []);
    await client.deletePort(created.id); // gone already: not an error
  });
});
