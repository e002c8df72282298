/**
 * A container's root disk limit on a btrfs storage driver, changed in place. Docker's driver and
 * containers/storage's (podman's) lay it out alike under the data root: the container's
 * read-write subvolume btrfs/subvolumes/<id>, whose quota group's limit of referenced bytes is
 * the `size` storage option, and a record btrfs/quotas/<id> from which the driver sets that
 * limit again every time it mounts the container (each start). A resize therefore sets the limit
 * with btrfs-progs and writes the record: with the limit alone, the next start put the created
 * size back. Only how a container names its subvolume differs: Docker's
 * image/btrfs/layerdb/mounts/<container id>/mount-id, containers/storage's `layer` of the
 * container in btrfs-containers/containers.json.
 *
 * Linux's quota group limit ioctl reserves 16 KiB of metadata in the quota group of the
 * subvolume it is called in, which a subvolume whose usage is within that of its limit refuses
 * (EDQUOT). The drivers call it in the container's own subvolume at every mount, with the size
 * of their record, so a container whose disk was filled could be neither committed nor started.
 * A limit is therefore set here naming the quota group from the data root, which must be in a
 * subvolume without a limit (the local cloud's store: the top-level one), and withRoomToMount
 * gives a full container's mounts the room their reservation needs.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KeyedLock } from '../common/keyed-lock.js';
import type { Logger } from '../common/log.js';
import { writeWhole } from './whole-file.js';

const run = promisify(execFile);

/** How an engine names a container's subvolume under its data root. */
export type SubvolumeLocator = (dataRoot: string, containerId: string) => Promise<string>;

const SUBVOLUME_ID = /^[0-9a-f]{64}(-init)?$/;

function checked(containerId: string, id: string | undefined): string {
  if (!id || !SUBVOLUME_ID.test(id)) throw new Error(`container ${containerId} has an unexpected btrfs subvolume id ${JSON.stringify(id)}`);
  return id;
}

/** Docker: the mount id its layer store records for the container. */
export const dockerMountId: SubvolumeLocator = async (dataRoot, containerId) =>
  checked(containerId, (await readFile(join(dataRoot, 'image', 'btrfs', 'layerdb', 'mounts', containerId, 'mount-id'), 'utf8')).trim());

/** containers/storage (podman): the container's read-write layer in the driver's container index. */
export const storageLayerId: SubvolumeLocator = async (dataRoot, containerId) => {
  const index = JSON.parse(await readFile(join(dataRoot, 'btrfs-containers', 'containers.json'), 'utf8')) as { id: string; layer: string }[];
  return checked(containerId, index.find((c) => c.id === containerId)?.layer);
};

const subvolumeOf = (dataRoot: string, id: string): string => join(dataRoot, 'btrfs', 'subvolumes', id);
/** Where the driver keeps the records of the sizes it sets at every mount. */
const quotasOf = (dataRoot: string): string => join(dataRoot, 'btrfs', 'quotas');

/** The container's read-write subvolume under the engine's data root. */
export async function containerSubvolume(dataRoot: string, containerId: string, locate: SubvolumeLocator = dockerMountId): Promise<string> {
  return subvolumeOf(dataRoot, await locate(dataRoot, containerId));
}

/** Sets the limit of the quota group of `subvolume` to `bytes`, named from the data root. */
async function limitQuotaGroup(dataRoot: string, subvolume: string, bytes: number): Promise<void> {
  const failed = (what: string, err: unknown): Error => {
    const e = err as Error & { stderr?: string };
    return new Error(`${what}: ${(e.stderr ?? '').trim() || e.message}`);
  };
  const rootId = await run('btrfs', ['inspect-internal', 'rootid', subvolume], { timeout: 30_000 }).then((r) => r.stdout.trim(), (err: unknown) => {
    throw failed(`btrfs inspect-internal rootid ${subvolume}`, err);
  });
  await run('btrfs', ['qgroup', 'limit', String(bytes), `0/${rootId}`, dataRoot], { timeout: 30_000 }).catch((err: unknown) => {
    throw failed(`btrfs qgroup limit ${bytes} 0/${rootId} (${subvolume})`, err);
  });
}

/** Sets the limit of subvolume `id` to `bytes`, now and in the record the driver sets it from at every mount. */
async function limitAndRecord(dataRoot: string, id: string, bytes: number): Promise<void> {
  await limitQuotaGroup(dataRoot, subvolumeOf(dataRoot, id), bytes);
  // written whole or not at all: the driver reads it at every mount
  const quotas = quotasOf(dataRoot);
  await mkdir(quotas, { recursive: true, mode: 0o700 });
  await writeWhole(join(quotas, id), String(bytes), 0o644);
}

/** Sets the container's root disk limit to `bytes` (the referenced bytes its quota group counts), now and at its next start. */
export async function setBtrfsRootLimit(dataRoot: string, containerId: string, bytes: number, locate: SubvolumeLocator = dockerMountId): Promise<void> {
  const id = await locate(dataRoot, containerId);
  // after a mount with room, and instead of the size under a room a dead compute left: that
  // room's file holds the new size first, so that a death before its removal keeps the resize
  await rooms.run(id, async () => {
    const room = roomOf(dataRoot, id);
    if (existsSync(room)) await writeWhole(room, String(bytes), 0o644);
    await limitAndRecord(dataRoot, id, bytes);
    await rm(room, { force: true });
  });
}

/**
 * Room above a full disk's recorded size for the driver's limit ioctl at a mount: its own 16 KiB
 * reservation, and what a running workload's writes have reserved meanwhile. A running container
 * may write that much past its size until the size is its limit again.
 */
const ROOM_TO_MOUNT = 2 ** 20;

/** One room at a time per subvolume: a second would take the first one's room for the size. */
const rooms = new KeyedLock();

/** Ours, beside the driver's record of subvolume `id` while a room is given: the size under the room. */
const ROOM_SUFFIX = '.room';
export const roomOf = (dataRoot: string, id: string): string => join(quotasOf(dataRoot), id + ROOM_SUFFIX);

/** The byte count a record or room file holds; undefined when there is no such file. */
async function sizeIn(file: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const size = Number(text.trim());
  if (!Number.isSafeInteger(size) || size <= 0) throw new Error(`${file} holds no size in bytes: ${JSON.stringify(text.slice(0, 40))}`);
  return size;
}

/**
 * `mount`, which has the engine's driver mount the container's layer, with ROOM_TO_MOUNT added to
 * the size its driver recorded, in its limit and its record: the driver sets the limit from the
 * record at each of its mounts, and dockerd's commit mounts the layer twice (for its diff, and
 * for the list of changes). The recorded size is its limit and record again afterwards, whatever
 * the mount did; the size is kept in a file of ours beside the record meanwhile, from which a
 * retry or the next start (putBackRoomsLeft) takes it when the compute died before that. When
 * the put-back fails, `log` tells it: the mount's own outcome is the caller's.
 */
export async function withRoomToMount<T>(dataRoot: string, containerId: string, mount: () => Promise<T>, log: Logger,
  locate: SubvolumeLocator = dockerMountId): Promise<T> {
  const id = await locate(dataRoot, containerId);
  return rooms.run(id, async () => {
    const record = join(quotasOf(dataRoot), id);
    const room = roomOf(dataRoot, id);
    const size = await sizeIn(room) ?? await sizeIn(record);
    if (size === undefined) throw new Error(`container ${containerId} has no root disk size recorded in ${record}`);
    await writeWhole(room, String(size), 0o644);
    const putBack = () => limitAndRecord(dataRoot, id, size).then(() => rm(room, { force: true })).catch((err: unknown) => {
      log.error({ container: containerId, size, err: (err as Error).message }, 'the root disk keeps the room its mount was given: its size could not be put back');
    });
    try {
      await limitAndRecord(dataRoot, id, size + ROOM_TO_MOUNT);
      return await mount();
    } finally {
      await putBack();
    }
  });
}

/**
 * At start, before this service mounts any: the size under each room a compute that died in
 * withRoomToMount left is its limit and record again, and the room's file goes (alone when its
 * subvolume is gone). The subvolume ids whose size was put back; one that fails (a room's file
 * without a size included) keeps its file, for a resize, and fails the whole after the others.
 */
export async function putBackRoomsLeft(dataRoot: string): Promise<string[]> {
  const names = await readdir(quotasOf(dataRoot)).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  const putBack: string[] = [];
  const failed: string[] = [];
  for (const name of names) {
    const id = name.endsWith(ROOM_SUFFIX) ? name.slice(0, -ROOM_SUFFIX.length) : '';
    if (!SUBVOLUME_ID.test(id)) continue;
    await rooms.run(id, async () => {
      const room = roomOf(dataRoot, id);
      if (!existsSync(subvolumeOf(dataRoot, id))) {
        await rm(room, { force: true });
        return;
      }
      const size = await sizeIn(room);
      if (size === undefined) return; // a resize took it meanwhile
      await limitAndRecord(dataRoot, id, size);
      await rm(room, { force: true });
      putBack.push(id);
    }).catch((err: unknown) => failed.push(`${id}: ${(err as Error).message}`));
  }
  if (failed.length) throw new Error(`root disk sizes not put back: ${failed.join('; ')}`);
  return putBack;
}
