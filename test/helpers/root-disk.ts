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

/** GiB; 0 when the subvolume has no limit. */
export async function rootDiskLimitGb(serverId: string): Promise<number> {
  const c = await inspectContainer(serverId);
  if (!c) throw new Error(`no container for server ${serverId}`);
  const subvolume = await containerSubvolume(engineDataRoot(), c.Id, ENGINE_DRIVER === 'podman' ? storageLayerId : dockerMountId);
  // -f: only the quota groups of that path; -r: its max_rfer column; --raw: bytes
  const { stdout } = await run('btrfs', ['qgroup', 'show', '-f', '-r', '--raw', subvolume]);
  const row = stdout.split('\n').find((l) => /^0\/\d+\s/.test(l));
  if (!row) throw new Error(`btrfs qgroup show printed no quota group for ${subvolume}:\n${stdout}`);
  const max = row.trim().split(/\s+/)[3];
  return max === 'none' ? 0 : Number(max) / 2 ** 30;
}
