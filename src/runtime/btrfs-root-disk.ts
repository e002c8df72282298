/**
 * A container's root disk limit on the Docker engine's btrfs storage driver, changed in place.
 * The driver sets it when it makes the container's subvolume (the `size` storage option: the
 * limit of referenced bytes of the subvolume's quota group), records that size in its
 * btrfs/quotas/<mount id> file, and sets the limit from that file again every time it mounts
 * the container (each start). A resize therefore sets the limit with btrfs-progs and writes
 * the file: with the limit alone, the next start put the created size back. The subvolume is
 * found as the driver lays it out under the data root: image/btrfs/layerdb/mounts/<container
 * id>/mount-id names btrfs/subvolumes/<mount id>.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function mountIdOf(dataRoot: string, containerId: string): Promise<string> {
  const mountId = (await readFile(join(dataRoot, 'image', 'btrfs', 'layerdb', 'mounts', containerId, 'mount-id'), 'utf8')).trim();
  if (!/^[0-9a-f]{64}(-init)?$/.test(mountId)) throw new Error(`container ${containerId} has an unexpected btrfs mount id ${JSON.stringify(mountId)}`);
  return mountId;
}

const subvolumeOf = (dataRoot: string, mountId: string): string => join(dataRoot, 'btrfs', 'subvolumes', mountId);

/** The container's read-write subvolume under the engine's data root. */
export async function containerSubvolume(dataRoot: string, containerId: string): Promise<string> {
  return subvolumeOf(dataRoot, await mountIdOf(dataRoot, containerId));
}

/** Sets the container's root disk limit to `bytes` (the referenced bytes its quota group counts), now and at its next start. */
export async function setBtrfsRootLimit(dataRoot: string, containerId: string, bytes: number): Promise<void> {
  const mountId = await mountIdOf(dataRoot, containerId);
  const subvolume = subvolumeOf(dataRoot, mountId);
  try {
    await run('btrfs', ['qgroup', 'limit', String(bytes), subvolume], { timeout: 30_000 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`btrfs qgroup limit ${bytes} ${subvolume}: ${(e.stderr ?? '').trim() || e.message}`);
  }
  // written whole or not at all: the driver reads it at every start
  const quotas = join(dataRoot, 'btrfs', 'quotas');
  await mkdir(quotas, { recursive: true, mode: 0o700 });
  const record = join(quotas, mountId);
  await writeFile(`${record}.new`, String(bytes), { mode: 0o644 });
  await rename(`${record}.new`, record);
}
