import { strict as assert } from 'node:assert';
import { flavorLimits, UnenforceableFlavor } from '../../../src/nova-driver/manager/flavor-limits.js';

const POLICY = { pidsPerVcpu: 1024, enforceRootDisk: true };
const limits = (extraSpecs: Record<string, string>, vcpus = 2) => flavorLimits({ vcpus, memoryMb: 512, rootGb: 0, extraSpecs }, POLICY);

describe('flavor -> instance limits', () => {
  it('a plain flavor: its vCPUs and memory, and the host\'s processes per vCPU', () => {
    assert.deepEqual(limits({}), { vcpus: 2, memoryMb: 512, pids: 2048 });
    assert.equal(limits({}, 0).pids, 1024, 'at least one vCPU\'s worth');
  });

  it('root_gb is the root file system\'s size; 0 (as big as the image) or enforce_root_disk off: none', () => {
    const flavor = { vcpus: 1, memoryMb: 128, rootGb: 5, extraSpecs: {} };
    assert.equal(flavorLimits(flavor, POLICY).rootGb, 5);
    assert.equal(flavorLimits({ ...flavor, rootGb: 0 }, POLICY).rootGb, undefined);
    assert.equal(flavorLimits(flavor, { ...POLICY, enforceRootDisk: false }).rootGb, undefined);
  });

  it('container:pids_limit overrides the default', () => {
    assert.equal(limits({ 'container:pids_limit': '100' }).pids, 100);
    assert.throws(() => limits({ 'container:pids_limit': '0' }), /container:pids_limit=0: must be at least 1/);
    assert.throws(() => limits({ 'container:pids_limit': 'many' }), /not an integer/);
  });

  it('quota:cpu_shares is the CPU weight; 0 leaves the default', () => {
    assert.equal(limits({ 'quota:cpu_shares': '2048' }).cpuShares, 2048);
    assert.equal(limits({ 'quota:cpu_shares': '0' }).cpuShares, undefined);
  });

  it('quota:cpu_quota is per vCPU (as libvirt\'s), over quota:cpu_period or CFS\'s 100 ms', () => {
    assert.deepEqual(limits({ 'quota:cpu_quota': '50000' }).cpuBandwidth, { periodUs: 100_000, quotaUs: 100_000 });
    assert.deepEqual(limits({ 'quota:cpu_quota': '5000', 'quota:cpu_period': '20000' }).cpuBandwidth, { periodUs: 20_000, quotaUs: 10_000 });
    assert.deepEqual(limits({ 'quota:cpu_quota': '500000' }).cpuBandwidth, { periodUs: 100_000, quotaUs: 200_000 }, 'never more than its vCPUs');
    assert.equal(limits({ 'quota:cpu_quota': '-1' }).cpuBandwidth, undefined, 'negative: no quota beyond the vCPUs');
    assert.equal(limits({ 'quota:cpu_period': '20000' }).cpuBandwidth, undefined, 'a period alone changes nothing');
    assert.throws(() => limits({ 'quota:cpu_quota': '5000', 'quota:cpu_period': '10' }), /quota:cpu_period=10: must be from 1000 to 1000000/);
  });

  it('quota:disk_{read,write}_{bytes,iops}_sec become throttles; 0 is none', () => {
    assert.deepEqual(limits({ 'quota:disk_write_bytes_sec': '1048576', 'quota:disk_read_iops_sec': '100', 'quota:disk_read_bytes_sec': '0' }).diskIo,
      { writeBytesSec: 1048576, readIopsSec: 100 });
    assert.equal(limits({ 'quota:disk_read_bytes_sec': '0' }).diskIo, undefined);
  });

  it('refuses, naming each and why, the quota: and container: specs it cannot enforce; other namespaces are not its business', () => {
    assert.throws(() => limits({ 'quota:disk_total_bytes_sec': '10', 'quota:vif_inbound_average': '100', 'container:privileged': 'true', 'hw:cpu_policy': 'shared' }),
      (err: Error) => err instanceof UnenforceableFlavor
        && /container:privileged \(unknown; this host knows container:pids_limit\)/.test(err.message)
        && /quota:disk_total_bytes_sec \(the engine throttles reads and writes separately/.test(err.message)
        && /quota:vif_inbound_average \(network bandwidth limits are not enforced/.test(err.message)
        && !err.message.includes('hw:cpu_policy'));
    assert.throws(() => limits({ 'quota:memory_limit': '1' }), /quota:memory_limit \(not a limit this host enforces\)/);
  });
});
