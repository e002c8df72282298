import { strict as assert } from 'node:assert';
import { checkFilePaths, resources } from '../../../src/runtime/docker-engine.js';

describe('limits -> the Docker engine\'s resource fields', () => {
  it('vCPUs as a CFS quota over a 100 ms period, never NanoCpus (the engine refuses to switch forms on update)', () => {
    assert.deepEqual(resources({ vcpus: 2, memoryMb: 64, pids: 100 }, undefined),
      { CpuPeriod: 100_000, CpuQuota: 200_000, Memory: 64 << 20, MemorySwap: 64 << 20, PidsLimit: 100 });
    assert.deepEqual(resources({ vcpus: 0.5 }, undefined), { CpuPeriod: 100_000, CpuQuota: 50_000 });
  });

  it('a flavor\'s CPU bandwidth and shares win over the vCPU quota', () => {
    assert.deepEqual(resources({ vcpus: 2, cpuBandwidth: { periodUs: 20_000, quotaUs: 10_000 }, cpuShares: 512 }, undefined),
      { CpuPeriod: 20_000, CpuQuota: 10_000, CpuShares: 512 });
  });

  it('disk throttles name the data root\'s disk; each absent one is an empty list (cleared on update)', () => {
    assert.deepEqual(resources({ diskIo: { writeBytesSec: 1048576, readIopsSec: 50 } }, '/dev/vda'), {
      BlkioDeviceReadBps: [], BlkioDeviceWriteBps: [{ Path: '/dev/vda', Rate: 1048576 }],
      BlkioDeviceReadIOps: [{ Path: '/dev/vda', Rate: 50 }], BlkioDeviceWriteIOps: [],
    });
  });
});

describe('files given at a create: their paths', () => {
  const spec = (...paths: string[]) => ({ name: 'c1', image: 'i', labels: {}, limits: {}, files: paths.map((path) => ({ path, content: 'x' })) });

  it('takes absolute, normal paths', () => {
    assert.doesNotThrow(() => checkFilePaths(spec('/openstack/latest/meta_data.json', '/x')));
    assert.doesNotThrow(() => checkFilePaths({ name: 'c1', image: 'i', labels: {}, limits: {} }));
  });

  it('refuses a relative path, one that climbs, one not normal, the root, a directory, and a colon (a bind mount\'s separator)', () => {
    for (const bad of ['openstack/x', '/a/../etc/passwd', '/a/./b', '/a//b', '/', '/a/', '/a:b']) {
      assert.throws(() => checkFilePaths(spec('/ok', bad)), (err: Error) => err.message.includes(JSON.stringify(bad)), bad);
    }
  });
});
