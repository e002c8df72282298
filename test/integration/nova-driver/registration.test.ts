/**
 * A nova-container host joins the real control plane of the local cloud: the real
 * `openstack` CLI sees the service up, the hypervisor with this machine's resources and
 * the Placement inventory; a killed host goes down and comes back as the same node.
 */
import { strict as assert } from 'node:assert';
import { cpus, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENGINE_DRIVER } from '../glance-bridge/images.js';
import { computeServiceRow, openstack, startCompute, waitFor, type ComputeProcess } from '../../helpers/cloud.js';
import { computeService, forgetTestCompute, joinTestCompute, hypervisor as hypervisorRecord, novaServices, providerTraits, providersNamed } from '../../helpers/rest.js';

interface InventoryRow { resource_class: string; total: number; reserved: number; allocation_ratio: number; max_unit: number }

const HOST = 'nc-registration-test';
/** The local cloud runs the control plane with service_down_time = 20. */
const DOWN_WITHIN_MS = 20_000 + 15_000;

async function hypervisor(host: string): Promise<Record<string, unknown>> {
  // 2.87: the last microversion whose hypervisor show still reports vcpus and memory_mb.
  return openstack<Record<string, unknown>>(['--os-compute-api-version', '2.87', 'hypervisor', 'show', host]);
}

describe('registration with the local cloud\'s real control plane', function () {
  this.timeout(180_000);
  let compute: ComputeProcess;

  before(async () => {
    await forgetTestCompute(HOST);
    compute = await joinTestCompute(HOST, 'report_interval = 5\n');
  });

  after(async () => {
    await compute?.stop();
    await forgetTestCompute(HOST);
  });

  it('openstack compute service list shows the host up and enabled', async () => {
    const row = await computeServiceRow(HOST);
    assert.equal(row?.State, 'up');
    assert.equal(row?.Status, 'enabled');
    assert.equal(row?.Binary, 'nova-compute');
  });

  it('openstack hypervisor show reports its engine as the type, with this machine\'s vcpus and memory', async () => {
    const h = await waitFor('the hypervisor record', async () => hypervisor(HOST), 30_000);
    assert.equal(h.hypervisor_type, ENGINE_DRIVER);
    assert.equal(Number(h.vcpus), cpus().length);
    assert.equal(Number(h.memory_mb), Math.floor(totalmem() / 1048576));
    assert.equal(typeof h.cpu_info, 'object', 'cpu_info is a JSON object, which the CLI shows parsed');
    assert.equal((h.cpu_info as { arch?: string }).arch, 'x86_64');
  });

  it('Placement holds VCPU, MEMORY_MB and DISK_GB inventory with Nova\'s default ratios and reserve', async () => {
    const [rp] = await providersNamed(HOST);
    assert.ok(rp, 'a resource provider named after the host');
    const inv = await openstack<InventoryRow[]>(['resource', 'provider', 'inventory', 'list', rp.uuid]);
    const byClass = Object.fromEntries(inv.map((r) => [r.resource_class, r]));
    assert.deepEqual(Object.keys(byClass).sort(), ['DISK_GB', 'MEMORY_MB', 'VCPU']);
    assert.equal(byClass.VCPU.total, cpus().length);
    assert.equal(byClass.VCPU.allocation_ratio, 16);
    assert.equal(byClass.MEMORY_MB.total, Math.floor(totalmem() / 1048576));
    assert.equal(byClass.MEMORY_MB.reserved, 512);
    assert.equal(byClass.MEMORY_MB.allocation_ratio, 1.5);
    assert.ok(byClass.DISK_GB.total > 0);
    const traits = await providerTraits(rp.uuid);
    assert.ok(traits.includes('COMPUTE_NODE'));
    assert.ok(traits.includes('COMPUTE_IMAGE_TYPE_RAW'));
    assert.ok(traits.includes('COMPUTE_NET_ATTACH_INTERFACE'), 'the driver\'s attach capability');
    assert.ok(!traits.includes('COMPUTE_STATUS_DISABLED'));
  });

  it('goes down within service_down_time when killed, and comes back as the same node and provider', async () => {
    const before = await hypervisorRecord(HOST);
    const [rpBefore] = await providersNamed(HOST);
    const savedId = readFileSync(join(compute.dir, 'state', 'compute_id'), 'utf8').trim();
    assert.equal(savedId, rpBefore.uuid, 'the stable uuid on disk is the provider uuid');

    await compute.stop('SIGKILL');
    const killedAt = Date.now();
    await waitFor('the killed host to be down', async () => (await computeService(HOST))?.state === 'down', DOWN_WITHIN_MS, 1000);
    assert.ok(Date.now() - killedAt <= DOWN_WITHIN_MS);

    compute = startCompute(HOST);
    await compute.serving();
    await waitFor('the restarted host to be up', async () => (await computeService(HOST))?.state === 'up', 90_000, 1000);
    const after = await hypervisorRecord(HOST);
    assert.ok(before?.id, 'a compute node');
    assert.equal(after?.id, before.id, 'same compute node');
    const rps = await providersNamed(HOST);
    assert.equal(rps.length, 1, 'no second resource provider');
    assert.equal(rps[0].uuid, rpBefore.uuid);
    const services = (await novaServices('nova-compute')).filter((r) => r.host === HOST);
    assert.equal(services.length, 1, 'no second service record');
  });

  it('openstack compute service set --disable adds COMPUTE_STATUS_DISABLED through set_host_enabled', async () => {
    const [rp] = await providersNamed(HOST);
    await openstack(['compute', 'service', 'set', '--disable', HOST, 'nova-compute'], false);
    try {
      await waitFor('the disabled trait', async () => (await providerTraits(rp.uuid)).includes('COMPUTE_STATUS_DISABLED'), 30_000, 500);
    } finally {
      await openstack(['compute', 'service', 'set', '--enable', HOST, 'nova-compute'], false);
    }
    await waitFor('the trait to go', async () => !(await providerTraits(rp.uuid)).includes('COMPUTE_STATUS_DISABLED'), 30_000, 500);
  });
});
