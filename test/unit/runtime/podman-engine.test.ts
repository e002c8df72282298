/**
 * What the podman engine sends that the Docker engine does not: the user namespace mode of an
 * instance's sandbox and the OCI form of limits changed in place.
 */
import { strict as assert } from 'node:assert';
import { ociResources, podmanUserns } from '../../../src/runtime/podman-engine.js';

describe('podman engine: user namespaces and limits in place', () => {
  it('a remap first:count is an auto namespace of that explicit size over the same host ids for all; empty is none', () => {
    assert.equal(podmanUserns('100000:65536'), 'auto:size=65536,uidmapping=0:100000:65536,gidmapping=0:100000:65536');
    assert.equal(podmanUserns(''), '');
  });

  it('refuses a remap that is not two positive integers, or that maps root to host root', () => {
    for (const bad of ['100000', '0:65536', '100000:0', 'a:b', '100000:65536:1', ' 100000:65536']) {
      assert.throws(() => podmanUserns(bad), /podman_userns_remap .*first:count/, bad);
    }
  });

  it('limits become OCI resources: memory with no swap beyond it, CPU period, quota and shares, pids; what is absent is left out', () => {
    assert.deepEqual(ociResources({ vcpus: 2, memoryMb: 128, pids: 50, cpuShares: 512 }), {
      memory: { limit: 128 * 2 ** 20, swap: 128 * 2 ** 20 },
      cpu: { period: 100_000, quota: 200_000, shares: 512 },
      pids: { limit: 50 },
    });
    assert.deepEqual(ociResources({ memoryMb: 64 }), { memory: { limit: 64 * 2 ** 20, swap: 64 * 2 ** 20 } });
    assert.deepEqual(ociResources({}), {});
  });
});
