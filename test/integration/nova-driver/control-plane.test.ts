/**
 * The control plane of the release the local cloud runs (Zed, or 2025.1 from Debian trixie)
 * accepts this compute host and keeps accepting it: `nova-status upgrade check` finds no
 * compute too old, Nova's own services start again with it registered (from 2023.2 they refuse
 * to start beside a compute older than they support), its queues are of the type the cloud's
 * services declare (quorum queues on 2025.1), and after a restart of RabbitMQ it serves again
 * by itself.
 */
import { strict as assert } from 'node:assert';
import {
  cloudSetting, computeConfValue, computeServiceRow, inRelease, localCloud, novaControlConfig, openstack, stopCloudDaemons, waitFor,
} from '../../helpers/cloud.js';
import { computeService, novaServices } from '../../helpers/rest.js';
import { rabbitmqctl } from '../../helpers/rabbitmq.js';
import { Created, deleteWithCli, waitForStatus } from '../../helpers/servers.js';
import { sharedImage } from '../lifecycle/fixture.js';
import { ENGINE_DRIVER } from '../glance-bridge/images.js';

const HOST = computeConfValue('DEFAULT', 'host') ?? '';

/** One column of `rabbitmqctl list_queues` by queue name. */
async function queueColumn(column: 'type' | 'consumers'): Promise<Map<string, string>> {
  const out = await rabbitmqctl(['list_queues', '-q', 'name', column]);
  return new Map(out.trim().split('\n').map((l) => l.trim().split(/\s+/) as [string, string]).filter(([n]) => n && n !== 'name'));
}

/** The queues a build goes through: the scheduler's, the conductor's and this host's. */
const BUILD_QUEUES = ['scheduler', 'conductor', `compute.${HOST}`];

/**
 * Every queue of a build has a consumer again. Until then a cast is dropped (the queues are not
 * durable, so the restarted broker has none until their servers declare them), as it is for
 * nova-compute; the services' rows stay `up` all along, since their heartbeats are database rows.
 */
async function buildQueuesConsumed(): Promise<boolean> {
  const consumers = await queueColumn('consumers');
  return BUILD_QUEUES.every((q) => Number(consumers.get(q) ?? 0) > 0);
}

async function allNovaServicesUp(): Promise<boolean> {
  const rows = await novaServices();
  const up = (binary: string, host: string | null): boolean => rows.some((r) => r.binary === binary && (host === null || r.host === host) && r.state === 'up');
  return up('nova-conductor', null) && up('nova-scheduler', null) && up('nova-compute', HOST);
}

/** A server with no network boots to ACTIVE (a cast to this host and its replies went through the broker). */
async function bootsOne(created: Created, name: string): Promise<void> {
  const image = await sharedImage();
  const id = await created.boot(name, { image: image.id });
  await waitForStatus(id, 'ACTIVE', 120_000);
  await deleteWithCli(id);
  created.servers.delete(id);
}

describe(`the ${cloudSetting('OPENSTACK_RELEASE') ?? 'zed'} control plane accepts this compute host`, function () {
  this.timeout(600_000);
  const created = new Created();

  before(() => assert.ok(HOST, `[DEFAULT] host is set in the compute's config`));

  after(async () => created.cleanup());

  it('openstack compute service list shows this host up, hypervisor list shows it as its engine (docker or podman)', async () => {
    assert.equal((await computeServiceRow(HOST))?.State, 'up');
    const hypervisors = await openstack<{ 'Hypervisor Hostname': string; 'Hypervisor Type': string; State: string }[]>(['hypervisor', 'list']);
    const ours = hypervisors.find((h) => h['Hypervisor Hostname'] === HOST);
    assert.deepEqual([ours?.['Hypervisor Type'], ours?.State], [ENGINE_DRIVER, 'up'], JSON.stringify(hypervisors));
  });

  it('nova-status upgrade check finds no compute older than the release supports', async () => {
    // exit 1: a check warned (2025.1 warns of instances without hw_machine_type, a libvirt matter)
    const out = await inRelease('nova-status', [...novaControlConfig(), 'upgrade', 'check'], { okExits: [1] });
    const check = /Check: Older than N-1 computes\s*\|\s*\n\|\s*Result: (\w+)/.exec(out);
    assert.ok(check, `nova-status printed the check:\n${out}`);
    assert.equal(check[1], 'Success', out);
  });

  it('nova-conductor, nova-scheduler and nova-api start again with this host registered', async () => {
    await stopCloudDaemons(['nova-api', 'nova-conductor', 'nova-scheduler']);
    await localCloud(['up']);
    await waitFor('every Nova service to be up', allNovaServicesUp, 90_000, 1000);
    await bootsOne(created, `nc-cp-restart-${Date.now().toString(36)}`);
  });

  it('declares its queues as the cloud\'s services do (quorum when rabbit_quorum_queue is on)', async () => {
    const quorum = cloudSetting('RABBIT_QUORUM_QUEUES') === 'yes';
    assert.equal(computeConfValue('oslo_messaging_rabbit', 'rabbit_quorum_queue') === 'true', quorum,
      'the compute is configured as the cloud\'s services are');
    const types = await queueColumn('type');
    for (const q of ['compute', `compute.${HOST}`, 'conductor', 'scheduler']) {
      assert.equal(types.get(q), quorum ? 'quorum' : 'classic', `queue ${q}`);
    }
  });

  it('serves again by itself after RabbitMQ restarted', async () => {
    await stopCloudDaemons(['rabbitmq']);
    await localCloud(['up']);
    const back = Date.now();
    await waitFor(`${BUILD_QUEUES.join(', ')} to be consumed again`, buildQueuesConsumed, 120_000, 250);
    console.log(`      measured: the build's queues were consumed again ${Date.now() - back} ms after local-cloud.sh up returned`);
    await waitFor('every Nova service to be up after the broker restart', allNovaServicesUp, 120_000, 1000);
    assert.equal((await computeService(HOST))?.state, 'up');
    await bootsOne(created, `nc-cp-broker-${Date.now().toString(36)}`);
  });
});
