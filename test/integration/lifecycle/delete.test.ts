/**
 * `openstack server delete`: the container goes, the server goes, and so does its Placement
 * allocation against this host's resource provider. The hypervisor's usage (the ComputeNode
 * the compute saves) counts the server once it is built and no longer once it is deleted.
 */
import { strict as assert } from 'node:assert';
import {
  Created, allocations, cli, inspectContainer, waitForGone, waitForStatus,
} from '../../helpers/servers.js';
import { computeConfValue, waitFor } from '../../helpers/cloud.js';
import { hypervisor } from '../../helpers/rest.js';
import { RUN, sharedImage } from './fixture.js';

const HOST = computeConfValue('DEFAULT', 'host') ?? '';

interface HypervisorUsage { vcpus: number; ramMb: number; servers: number }

/** This host's usage as the API shows it (the fields 2.88 dropped). */
async function hypervisorUsage(): Promise<HypervisorUsage> {
  const h = await hypervisor(HOST);
  if (!h) throw new Error(`no hypervisor ${HOST}`);
  return { vcpus: Number(h.vcpus_used), ramMb: Number(h.memory_mb_used), servers: Number(h.running_vms) };
}

/** Waits (a few seconds: the compute saves it as the operation ends, not at its next audit) for the usage `want`. */
async function usageBecomes(want: HypervisorUsage): Promise<void> {
  let last: HypervisorUsage | undefined;
  await waitFor(`hypervisor usage ${JSON.stringify(want)}`, async () => {
    last = await hypervisorUsage();
    return last.vcpus === want.vcpus && last.ramMb === want.ramMb && last.servers === want.servers;
  }, 15_000, 500).catch((err: Error) => { throw new Error(`${err.message}; last seen ${JSON.stringify(last)}`); });
}

describe('lifecycle: delete', function () {
  this.timeout(300_000);
  const c = new Created();

  after(async function () {
    this.timeout(180_000);
    await c.cleanup();
  });

  it('removes the container, the server and its Placement allocation; the hypervisor\'s usage follows', async () => {
    const image = await sharedImage();
    const idle = await hypervisorUsage();
    const id = await c.boot(`${RUN}-delete`, { image: image.id });
    const server = await waitForStatus(id, 'ACTIVE', 120_000);
    await usageBecomes({ vcpus: idle.vcpus + server.flavor.vcpus, ramMb: idle.ramMb + server.flavor.ram, servers: idle.servers + 1 });
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
    await usageBecomes(idle);
  });
});
