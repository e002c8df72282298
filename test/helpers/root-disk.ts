/**
 * A server's root disk limit as the engine's btrfs file system enforces it: the referenced-bytes
 * limit of the quota group of the container's subvolume (src/runtime/btrfs-root-disk.ts finds it).
 */
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { containerSubvolume, dockerMountId, roomOf, storageLayerId } from '../../src/runtime/btrfs-root-disk.js';
import { ENGINE_DRIVER, engineDataRoot } from '../integration/glance-bridge/images.js';
import { inspectContainer } from './servers.js';

const run = promisify(execFile);

async function serverSubvolume(serverId: string): Promise<string> {
  const c = await inspectContainer(serverId);
  if (!c) throw new Error(`no container for server ${serverId}`);
  return containerSubvolume(engineDataRoot(), c.Id, ENGINE_DRIVER === 'podman' ? storageLayerId : dockerMountId);
}

/** The quota group of a subvolume, its usage counted first: its name, referenced bytes, and limit (bytes, or 'none'). */
export async function subvolumeQuotaGroup(subvolume: string): Promise<{ group: string; referenced: number; limit: string }> {
  await run('btrfs', ['filesystem', 'sync', subvolume]);
  // -f: only the quota groups of that path; -r: its max_rfer column; --raw: bytes
  const { stdout } = await run('btrfs', ['qgroup', 'show', '-f', '-r', '--raw', subvolume]);
  const row = stdout.split('\n').find((l) => /^0\/\d+\s/.test(l));
  if (!row) throw new Error(`btrfs qgroup show printed no quota group for ${subvolume}:\n${stdout}`);
  const [group, referenced, , limit] = row.trim().split(/\s+/);
  return { group, referenced: Number(referenced), limit };
}

/** The limit of a server's root disk: bytes, or 'none'. */
export async function rootDiskLimit(serverId: string): Promise<string> {
  return (await subvolumeQuotaGroup(await serverSubvolume(serverId))).limit;
}

/** GiB; 0 when the subvolume has no limit. */
export async function rootDiskLimitGb(serverId: string): Promise<number> {
  const limit = await rootDiskLimit(serverId);
  return limit === 'none' ? 0 : Number(limit) / 2 ** 30;
}

/**
 * Shrinks a container's root disk to 4 KiB above what it holds, as a resize would: its limit (set
 * from `dataRoot`, outside it) and the record at <data root>/btrfs/quotas/<subvolume> the driver
 * sets the limit from at every mount. So the disk is as full as a fill leaves it on some runs
 * only: within the 16 KiB of metadata the limit ioctl reserves in the subvolume's quota group
 * (src/runtime/btrfs-root-disk.ts). The size, in bytes.
 */
export async function fillToTheLimit(subvolume: string, dataRoot: string): Promise<number> {
  const { group, referenced } = await subvolumeQuotaGroup(subvolume);
  const size = referenced + 4096;
  await run('btrfs', ['qgroup', 'limit', String(size), group, dataRoot]);
  await writeFile(join(dataRoot, 'btrfs', 'quotas', basename(subvolume)), String(size));
  // and, as a resize does, no size under a room a mount left
  await rm(roomOf(dataRoot, basename(subvolume)), { force: true });
  return size;
}

/** fillToTheLimit of a server's root disk. */
export async function fillRootDiskToTheLimit(serverId: string): Promise<number> {
  return fillToTheLimit(await serverSubvolume(serverId), engineDataRoot());
}
