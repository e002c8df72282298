/**
 * A compute host of the test's own on the local cloud (same engine, its own host name):
 * a container that dies behind Nova's back is recorded SHUTOFF by the power-state sync, and
 * at start-up a container of this host that belongs to no instance is removed when
 * [container] remove_orphans is set; started again, the host's usage is what its listing of
 * its instances through the conductor counts.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { sharedImage } from './fixture.js';
import { Created, cli, engine, inspectContainer, waitForServer, waitForStatus, BOOT_MICROVERSION } from '../../helpers/servers.js';
import { startCompute, type ComputeProcess } from '../../helpers/cloud.js';
import { forgetTestCompute, hypervisor, joinTestCompute } from '../../helpers/rest.js';

const HOST = 'nc-sync-test';
const RUN = `ncsync-${Date.now().toString(36)}`;

describe('power-state sync and orphan removal on a compute host of the test', function () {
  this.timeout(300_000);
  const created = new Created();
  let compute: ComputeProcess | undefined;
  const orphan = `nova-${randomUUID()}`;

  before(async () => {
    await forgetTestCompute(HOST);
    const image = await sharedImage();
    // A container that claims to be an instance of this host that Nova does not know.
    await engine().createContainer({ name: orphan, Image: `glance-image:${image.id}`, Labels: { 'org.openstack.nova.host': HOST, 'org.openstack.nova.instance-uuid': orphan.slice(5) } })
      .catch(async () => {
        // The shared image may not be cached yet: boot it once on the shared host to cache it.
        const warm = await created.boot(`${RUN}-warm`, { image: image.id });
        await waitForStatus(warm, 'ACTIVE');
        await engine().createContainer({ name: orphan, Image: `glance-image:${image.id}`, Labels: { 'org.openstack.nova.host': HOST, 'org.openstack.nova.instance-uuid': orphan.slice(5) } });
      });
    compute = await joinTestCompute(HOST, 'sync_power_state_interval = 2\nreport_interval = 5\n[container]\nremove_orphans = true\n');
  });

  after(async () => {
    await created.cleanup();
    await compute?.stop();
    await engine().getContainer(orphan).remove({ force: true }).catch(() => undefined);
    await forgetTestCompute(HOST);
  });

  it('removes, at start-up, a container of this host that belongs to no instance', async () => {
    await assert.rejects(engine().getContainer(orphan).inspect(), /no such container/i);
  });

  it('records a container that died behind Nova\'s back as SHUTOFF', async () => {
    const image = await sharedImage();
    const id = (await cli(['--os-compute-api-version', BOOT_MICROVERSION, 'server', 'create', '--image', image.id, '--flavor', 'm1.tiny',
      '--nic', 'none', '--availability-zone', `nova:${HOST}`, `${RUN}-victim`, '-f', 'value', '-c', 'id'])).trim();
    created.servers.add(id);
    const s = await waitForStatus(id, 'ACTIVE', 120_000);
    assert.equal(s['OS-EXT-SRV-ATTR:host'], HOST);
    const c = await inspectContainer(id);
    assert.ok(c);
    await engine().getContainer(c.Id).kill();
    const stopped = await waitForServer(id, 'SHUTOFF after the sync', (x) => x?.status === 'SHUTOFF', 60_000);
    assert.equal(stopped?.['OS-EXT-STS:power_state'], 4);
    await cli(['server', 'start', id]);
    await waitForStatus(id, 'ACTIVE');
    assert.equal((await inspectContainer(id))?.State.Running, true, 'start brings the same container back');
  });

  it('started again, the host counts its server from the conductor\'s listing of its instances: the hypervisor\'s usage holds it', async () => {
    await compute?.stop();
    compute = startCompute(HOST);
    await compute.serving();
    // the usage a start saves is the audit's: what the operations recorded is gone with the process
    const h = await hypervisor(HOST);
    assert.deepEqual([Number(h?.running_vms), Number(h?.vcpus_used)], [1, 1]);
  });
});
