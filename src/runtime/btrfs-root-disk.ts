/**
 * A container's root disk limit on the Docker engine's btrfs storage driver, changed in place.
 * The driver sets it only when it makes the container's subvolume (the `size` storage option:
 * the limit of referenced bytes of the subvolume's quota group); a resize sets that same
 * limit with btrfs-progs. The subvolume is found as the driver lays it out under the data
 * root: image/btrfs/layerdb/mounts/<container id>/mount-id names btrfs/subvolumes/<mount id>.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The container's read-write subvolume under the engine's data root. */
export async function containerSubvolume(dataRoot: string, containerId: string): Promise<string> {
  const mountId = (await readFile(join(dataRoot, 'image', 'btrfs', 'layerdb', 'mounts', containerId, 'mount-id'), 'utf8')).trim();
  if (!/^[0-9a-f]{64}(-init)?$/.test(mountId)) throw new Error(`container ${containerId} has an unexpected btrfs mount id ${JSON.stringify(mountId)}`);
  return join(dataRoot, 'btrfs', 'subvolumes', mountId);
}

/** Sets the container's root disk limit to `bytes` (the referenced bytes its quota group counts). */
export async function setBtrfsRootLimit(dataRoot: string, containerId: string, bytes: number): Promise<void> {
  const subvolume = await containerSubvolume(dataRoot, containerId);
  try {
    await run('btrfs', ['qgroup', 'limit', String(bytes), subvolume], { timeout: 30_000 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`btrfs qgroup limit ${bytes} ${subvolume}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}
