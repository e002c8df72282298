import { strict as assert } from 'node:assert';
import { cpuInfo, versionToInt, measureHost } from '../../../src/nova-driver/host-resources.js';
import { uptimeText } from '../../../src/nova-driver/host-handlers.js';
import { cpus, totalmem } from 'node:os';

const CPUINFO = `processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) CPU
physical id\t: 0
cpu cores\t: 2
flags\t\t: sse2 fpu vmx

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) CPU
physical id\t: 0
cpu cores\t: 2
flags\t\t: sse2 fpu vmx
`;

describe('host resources', () => {
  it('parses /proc/cpuinfo into Nova cpu_info', () => {
    const info = cpuInfo(CPUINFO);
    assert.equal(info.vendor, 'GenuineIntel');
    assert.equal(info.model, 'Intel(R) Xeon(R) CPU');
    assert.deepEqual(info.topology, { sockets: 1, cores: 2, threads: 1 });
    assert.deepEqual(info.features, ['fpu', 'sse2', 'vmx']);
  });

  it('measures this machine: real CPUs and memory, cpu_info a JSON object string', () => {
    const h = measureHost('/');
    assert.equal(h.vcpus, cpus().length);
    assert.equal(h.memoryMb, Math.floor(totalmem() / 1048576));
    assert.ok(h.localGb > 0 && h.freeDiskGb <= h.localGb);
    assert.equal(typeof JSON.parse(h.cpuInfo), 'object');
  });

  it('turns engine versions into Nova hypervisor_version integers', () => {
    assert.equal(versionToInt('20.10.24'), 20010024);
    assert.equal(versionToInt('4.3.1-dev'), 4003001);
  });

  it('answers get_host_uptime like the uptime command', () => {
    const t = uptimeText(new Date(2026, 10, 23, 10, 1, 2), 3 * 86400 + 4 * 3600 + 5 * 60, [0.5, 0.25, 0.125]);
    assert.equal(t, ' 10:01:02 up 3 days,  4:05,  0 users,  load average: 0.50, 0.25, 0.13');
  });
});
