/**
 * A full container's root disk limit on a btrfs store of its own (a loop-mounted file system
 * with simple quotas, as devstack/lib/btrfs_store.sh makes the engines' store), laid out as
 * dockerd's btrfs driver lays out a container: the limit ioctl called in the container's own
 * subvolume, as the driver calls it at every mount, is refused once the disk is within the
 * metadata it reserves of its limit; setBtrfsRootLimit (a resize) and liftBtrfsRootLimit still
 * change it, and after the lift the driver's own call holds again.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { liftBtrfsRootLimit, setBtrfsRootLimit } from '../../../src/runtime/btrfs-root-disk.js';

const run = promisify(execFile);
const MiB = 2 ** 20;

describe('a full container\'s btrfs root disk limit (a btrfs store of its own, simple quotas)', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'nc-btrfs-root-'));
  const dataRoot = join(dir, 'store');
  const containerId = 'c'.repeat(64);
  const mountId = 'd'.repeat(64);
  const subvolume = join(dataRoot, 'btrfs', 'subvolumes', mountId);

  /** The subvolume's quota group: referenced bytes and limit ('none' or bytes). */
  async function quotaGroup(): Promise<{ group: string; referenced: number; limit: string }> {
    await run('btrfs', ['filesystem', 'sync', dataRoot]);
    const { stdout } = await run('btrfs', ['qgroup', 'show', '-f', '-r', '--raw', subvolume]);
    const row = stdout.split('\n').find((l) => /^0\/\d+\s/.test(l));
    assert.ok(row, stdout);
    const [group, referenced, , limit] = row.trim().split(/\s+/);
    return { group, referenced: Number(referenced), limit };
  }

  /** Its limit set to 4 KiB above what it holds (from the data root, which is not refused). */
  async function fullToTheLimit(): Promise<void> {
    const { group, referenced } = await quotaGroup();
    await run('btrfs', ['qgroup', 'limit', String(referenced + 4096), group, dataRoot]);
  }

  /** The limit ioctl called in the subvolume itself, as the engines' btrfs drivers call it at a mount. */
  const driverLimit = (bytes: number) => run('btrfs', ['qgroup', 'limit', String(bytes), subvolume]);

  before(async () => {
    mkdirSync(dataRoot);
    await run('truncate', ['-s', '1G', join(dir, 'store.img')]);
    await run('mkfs.btrfs', ['-q', '-f', join(dir, 'store.img')]);
    await run('mount', ['-o', 'loop', join(dir, 'store.img'), dataRoot]);
    await run('bash', ['-c', '. devstack/lib/btrfs_store.sh && btrfs_simple_quota "$1"', 'bash', dataRoot]);
    mkdirSync(join(dataRoot, 'btrfs', 'subvolumes'), { recursive: true });
    await run('btrfs', ['subvolume', 'create', subvolume]);
    mkdirSync(join(dataRoot, 'image', 'btrfs', 'layerdb', 'mounts', containerId), { recursive: true });
    writeFileSync(join(dataRoot, 'image', 'btrfs', 'layerdb', 'mounts', containerId, 'mount-id'), mountId);
    await setBtrfsRootLimit(dataRoot, containerId, 32 * MiB);
    // written until the quota refuses it
    const fill = await run('dd', ['if=/dev/zero', `of=${join(subvolume, 'fill')}`, 'bs=1M', 'count=64']).then(() => '', (err: Error) => err.message);
    assert.match(fill, /Disk quota exceeded/);
  });

  after(async () => {
    await run('umount', [dataRoot]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a full disk refuses the limit ioctl in its own subvolume', async () => {
    await fullToTheLimit();
    await assert.rejects(driverLimit(32 * MiB), /Disk quota exceeded/);
  });

  it('a resize sets the limit of a full disk, and the record the driver sets it from', async () => {
    await fullToTheLimit();
    await setBtrfsRootLimit(dataRoot, containerId, 48 * MiB);
    assert.equal((await quotaGroup()).limit, String(48 * MiB));
    assert.equal(readFileSync(join(dataRoot, 'btrfs', 'quotas', mountId), 'utf8'), String(48 * MiB));
  });

  it('a lifted limit lets the driver\'s own call set it again', async () => {
    await fullToTheLimit();
    await liftBtrfsRootLimit(dataRoot, containerId);
    assert.equal((await quotaGroup()).limit, 'none');
    await driverLimit(32 * MiB);
    assert.equal((await quotaGroup()).limit, String(32 * MiB));
  });
});
