import { strict as assert } from 'node:assert';
import { existsSync, statSync } from 'node:fs';
import { diskOf, mountOf, NoBlockDevice, parseMountinfo } from '../../../src/runtime/block-device.js';

const MOUNTINFO = [
  '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard',
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '58 27 254:0 /opt/data /opt/cloud/docker/data rw,relatime - ext4 /dev/vda rw',
  '61 58 0:41 / /opt/cloud/docker/data/overlay2/abc/merged rw,relatime shared:6 - overlay overlay rw,lowerdir=x',
  '70 27 0:50 / /opt/cloud/docker/btrfs rw,relatime - btrfs /dev/loop3 rw,space_cache',
  '71 27 0:51 / /mnt/with\\040space rw - ext4 /dev/vdb1 rw',
].join('\n');

describe('the disk a directory is on', () => {
  const mounts = parseMountinfo(MOUNTINFO);

  it('reads mount points, file system types and sources (octal escapes undone)', () => {
    assert.equal(mounts.length, 6);
    assert.deepEqual(mounts[4], { mountPoint: '/opt/cloud/docker/btrfs', fsType: 'btrfs', source: '/dev/loop3' });
    assert.equal(mounts[5].mountPoint, '/mnt/with space');
  });

  it('finds the mount holding a path: the longest mount point that contains it, not a sibling prefix', () => {
    assert.equal(mountOf(mounts, '/opt/cloud/docker/data')?.source, '/dev/vda');
    assert.equal(mountOf(mounts, '/opt/cloud/docker/btrfs/containers')?.source, '/dev/loop3');
    assert.equal(mountOf(mounts, '/opt/cloud/docker/btrfs2')?.mountPoint, '/', 'btrfs2 is not under btrfs');
    assert.equal(mountOf(mounts, '/sys/fs/cgroup/pids')?.fsType, 'tmpfs');
  });

  it('on this machine: / is on a block device, /sys/fs/cgroup on none', async () => {
    const disk = await diskOf('/');
    assert.ok(existsSync(disk) && statSync(disk).isBlockDevice(), disk);
    await assert.rejects(diskOf('/sys/fs/cgroup'), (err: Error) => err instanceof NoBlockDevice && /is on tmpfs \(tmpfs\), not on a block device/.test(err.message));
  });
});
