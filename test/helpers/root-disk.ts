/**
 * A server's root disk limit as the engine's btrfs file system enforces it: the referenced-bytes
 * limit of the quota group of the container's subvolume (src/runtime/btrfs-root-disk.ts finds it).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { containerSubvolume, dockerMountId, storageLayerId } from '../../src/runtime/btrfs-root-disk.js';
import { ENGINE_DRIVER, engineDataRoot } from '../integration/glance-bridge/images.js';
import { inspectContainer } from './servers.js';

const run = promisify(execFile);

async function serverSubvolume(serverId: string): Promise<string> {
  const c = await inspectContainer(serverId);
  if (!c) throw new Error(`no container for server ${serverId}`);
  return containerSubvolume(engineDataRoot(), c.Id, ENGINE_DRIVER === 'podman' ? storageLayerId : dockerMountId);
}

/** The quota group of the server's subvolume: its name, referenced bytes, and limit (bytes, or 'none'). */
async function quotaGroup(serverId: string): Promise<{ group: string; referenced: number; limit: string }> {
  const subvolume = await serverSubvolume(serverId);
  // -f: only the quota groups of that path; -r: its max_rfer column; --raw: bytes
  const { stdout } = await run('btrfs', ['qgroup', 'show', '-f', '-r', '--raw', subvolume]);
  const row = stdout.split('\n').find((l) => /^0\/\d+\s/.test(l));
  if (!row) throw new Error(`btrfs qgroup show printed no quota group for ${subvolume}:\n${stdout}`);
  const [group, referenced, , limit] = row.trim().split(/\s+/);
  return { group, referenced: Number(referenced), limit };
}

/** GiB; 0 when the subvolume has no limit. */
export async function rootDiskLimitGb(serverId: string): Promise<number> {
  const { limit } = await quotaGroup(serverId);
  return limit === 'none' ? 0 : Number(limit) / 2 ** 30;
}

/**
 * Lowers a stopped server's root disk limit to 4 KiB above what it holds, set from the data root
 * as an operator would: a disk as full as a fill can leave it, within the 16 KiB of metadata the
 * limit ioctl reserves in the subvolume's quota group (src/runtime/btrfs-root-disk.ts), which a
 * fill reaches on some runs only.
 */
export async function fillRootDiskToTheLimit(serverId: string): Promise<void> {
  await run('btrfs', ['filesystem', 'sync', engineDataRoot()]); // its usage counted
  const { group, referenced } = await quotaGroup(serverId);
  await run('btrfs', ['qgroup', 'limit', String(referenced + 4096), group, engineDataRoot()]);
}
