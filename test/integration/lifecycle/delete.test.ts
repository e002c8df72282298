/**
 * `openstack server delete`: the container goes, the server goes, and so does its Placement
 * allocation against this host's resource provider.
 */
import { strict as assert } from 'node:assert';
import {
  Created, allocations, cli, inspectContainer, waitForGone, waitForStatus,
} from '../../helpers/servers.js';
import { RUN, sharedImage } from './fixture.js';

describe('lifecycle: delete', function () {
  this.timeout(300_000);
  const c = new Created();

  after(async function () {
    this.timeout(180_000);
    await c.cleanup();
  });

  it('removes the container, the server and its Placement allocation', async () => {
    const image = await sharedImage();
    const id = await c.boot(`${RUN}-delete`, { image: image.id });
    const server = await waitForStatus(id, 'ACTIVE', 120_000);
    assert.ok(await inspectContainer(id), 'the container exists before the delete');
    const before = await allocations(id);
    const providers = Object.values(before);
    assert.equal(providers.length, 1, `one allocation before the delete: ${JSON.stringify(before)}`);
    assert.deepEqual(providers[0].resources, { VCPU: server.flavor.vcpus, MEMORY_MB: server.flavor.ram, DISK_GB: server.flavor.disk });

    const t0 = Date.now();
    await cli(['server', 'delete', id]);
    await waitForGone(id, 60_000);
    console.log(`      delete: server gone ${Date.now() - t0} ms after the CLI call started`);
    assert.equal(await inspectContainer(id), null, 'the container is gone');
    assert.deepEqual(await allocations(id), {}, 'the allocation is gone');
    // as the operator sees it
    const shown = await cli(['resource', 'provider', 'allocation', 'show', id, '-f', 'json']);
    assert.deepEqual(JSON.parse(shown), []);
  });
});
