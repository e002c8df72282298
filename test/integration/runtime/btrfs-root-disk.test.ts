/**
 * A full container's root disk limit on a btrfs store of its own (a loop-mounted file system
 * with simple quotas, as devstack/lib/btrfs_store.sh makes the engines' store), laid out as
 * dockerd's btrfs driver lays out a container: the limit ioctl called in the container's own
 * subvolume, as the driver calls it at every mount, is refused once the disk is within the
 * metadata it reserves of its recorded size; setBtrfsRootLimit (a resize) still changes it, and
 * withRoomToMount lets the driver's own calls through and leaves the size as limit and record
 * behind, whether the mount succeeds or not, one at a time; what a service that died during such
 * a mount left is put back at the next start, taken by the next such mount, or dropped by a resize.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { putBackRoomsLeft, roomOf, setBtrfsRootLimit, withRoomToMount } from '../../../src/runtime/btrfs-root-disk.js';
import { fillToTheLimit, subvolumeQuotaGroup } from '../../helpers/root-disk.js';
import { captureLogs } from '../../helpers/log-capture.js';

const run = promisify(execFile);
const MiB = 2 ** 20;

describe('a full container\'s btrfs root disk limit (a btrfs store of its own, simple quotas)', function () {
  this.timeout(120_000);
  let dir = '';
  let dataRoot = '';
  let subvolume = '';
  const containerId = 'c'.repeat(64);
  const mountId = 'd'.repeat(64);

  const limit = async () => (await subvolumeQuotaGroup(subvolume)).limit;
  /** The limit ioctl called in the subvolume itself, as the engines' btrfs drivers call it at a mount. */
  const driverLimit = (bytes: number) => run('btrfs', ['qgroup', 'limit', String(bytes), subvolume]);
  const record = () => readFileSync(join(dataRoot, 'btrfs', 'quotas', mountId), 'utf8');
  /** What the driver does at a mount: the limit from its record, in the subvolume. */
  const driverMount = () => driverLimit(Number(record()));
  const roomFile = () => roomOf(dataRoot, mountId);
  const room = () => readFileSync(roomFile(), 'utf8');
  /** What a service killed inside withRoomToMount's mount leaves: the room in limit and record, the size in the room's file. The size. */
  const roomLeftByADeadService = async () => {
    const size = await fillToTheLimit(subvolume, dataRoot);
    writeFileSync(roomFile(), String(size));
    const { group } = await subvolumeQuotaGroup(subvolume);
    await run('btrfs', ['qgroup', 'limit', String(size + MiB), group, dataRoot]);
    writeFileSync(join(dataRoot, 'btrfs', 'quotas', mountId), String(size + MiB));
    return size;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nc-btrfs-root-'));
    dataRoot = join(dir, 'store');
    subvolume = join(dataRoot, 'btrfs', 'subvolumes', mountId);
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
    if (!dir) return;
    await run('umount', [dataRoot]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a full disk refuses the limit ioctl in its own subvolume', async () => {
    await fillToTheLimit(subvolume, dataRoot);
    await assert.rejects(driverMount(), /Disk quota exceeded/);
  });

  it('a resize sets the limit of a full disk, and the record the driver sets it from', async () => {
    await fillToTheLimit(subvolume, dataRoot);
    await setBtrfsRootLimit(dataRoot, containerId, 48 * MiB);
    assert.equal(await limit(), String(48 * MiB));
    assert.equal(record(), String(48 * MiB));
  });

  it('with room to mount, the driver mounts a full disk twice (a commit); its size is its limit and record after', async () => {
    const size = await fillToTheLimit(subvolume, dataRoot);
    const during = await withRoomToMount(dataRoot, containerId, async () => {
      await driverMount();
      await driverMount();
      return [await limit(), record()];
    }, captureLogs().log);
    assert.deepEqual(during, [String(size + MiB), String(size + MiB)], 'its size and 1 MiB of room');
    assert.equal(await limit(), String(size));
    assert.equal(record(), String(size));
  });

  it('a mount that fails with room to mount leaves its size as limit and record, and its own error', async () => {
    const size = await fillToTheLimit(subvolume, dataRoot);
    await assert.rejects(withRoomToMount(dataRoot, containerId, () => Promise.reject(new Error('the mount failed')), captureLogs().log), /^Error: the mount failed$/);
    assert.equal(await limit(), String(size));
    assert.equal(record(), String(size));
  });

  it('a size that cannot be put back after a mount: the mount\'s outcome all the same, and an error logged', async () => {
    const size = await fillToTheLimit(subvolume, dataRoot);
    const logs = captureLogs();
    const quotas = join(dataRoot, 'btrfs', 'quotas');
    // the record cannot be written again, even by root
    const mounted = await withRoomToMount(dataRoot, containerId, async () => {
      await run('chattr', ['+i', quotas]);
      return 'mounted';
    }, logs.log).finally(() => run('chattr', ['-i', quotas]));
    assert.equal(mounted, 'mounted');
    const [logged] = logs.find('the root disk keeps the room its mount was given: its size could not be put back');
    assert.equal(logged?.size, size);
    assert.equal(record(), String(size + MiB));
    assert.equal(room(), String(size), 'the size under the room is kept for the next start');
  });

  it('a service that died during a mount with room: the next start puts its size back, and drops the room\'s file of a subvolume gone', async () => {
    const size = await roomLeftByADeadService();
    const gone = 'e'.repeat(64);
    writeFileSync(roomOf(dataRoot, gone), String(size));
    assert.deepEqual(await putBackRoomsLeft(dataRoot), [mountId]);
    assert.equal(await limit(), String(size));
    assert.equal(record(), String(size));
    assert.deepEqual(readdirSync(join(dataRoot, 'btrfs', 'quotas')), [mountId]);
    assert.deepEqual(await putBackRoomsLeft(dataRoot), [], 'nothing left the next time');
  });

  it('a room\'s file without a size (cut short by a power loss): the start says so and keeps it; so does a mount with room', async () => {
    const size = await roomLeftByADeadService();
    writeFileSync(roomFile(), '');
    await assert.rejects(putBackRoomsLeft(dataRoot), new RegExp(`root disk sizes not put back: ${mountId}: .*\\.room holds no size in bytes`));
    assert.equal(existsSync(roomFile()), true);
    await assert.rejects(withRoomToMount(dataRoot, containerId, async () => 'mounted', captureLogs().log), /\.room holds no size in bytes/);
    assert.equal(record(), String(size + MiB), 'nothing changed');
    await setBtrfsRootLimit(dataRoot, containerId, 48 * MiB);
    assert.equal(existsSync(roomFile()), false, 'a resize ends it');
  });

  it('a mount with room after such a death takes the size under the room, not the record\'s', async () => {
    const size = await roomLeftByADeadService();
    const during = await withRoomToMount(dataRoot, containerId, async () => record(), captureLogs().log);
    assert.equal(during, String(size + MiB));
    assert.equal(await limit(), String(size));
    assert.equal(record(), String(size));
    assert.equal(existsSync(roomFile()), false);
  });

  it('a resize after such a death: its size, and no room\'s file left to put back', async () => {
    await roomLeftByADeadService();
    await setBtrfsRootLimit(dataRoot, containerId, 48 * MiB);
    assert.equal(existsSync(roomFile()), false);
    assert.deepEqual(await putBackRoomsLeft(dataRoot), []);
    assert.equal(await limit(), String(48 * MiB));
    assert.equal(record(), String(48 * MiB));
  });

  it('two mounts with room at once: the size is the record\'s before both, and after', async () => {
    const size = await fillToTheLimit(subvolume, dataRoot);
    const seen: string[] = [];
    const both = [1, 2].map(() => withRoomToMount(dataRoot, containerId, async () => {
      seen.push(record());
      await driverMount();
    }, captureLogs().log));
    await Promise.all(both);
    assert.deepEqual(seen, [String(size + MiB), String(size + MiB)]);
    assert.equal(await limit(), String(size));
    assert.equal(record(), String(size));
  });
});
