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
 * Linux's quota group limit ioctl reserves metadata in the quota group of the subvolume it is
 * called in, which a subvolume whose usage is within that reservation of its limit refuses
 * (EDQUOT). The drivers call it in the container's own subvolume at every mount, so a stopped
 * container whose disk was filled could be neither committed nor started. A limit is therefore
 * set here naming the quota group from the data root (in the top-level subvolume, which has no
 * limit), and liftBtrfsRootLimit takes a full container's limit off for the driver's next
 * mount, which sets it again from its record.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
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

/** The container's read-write subvolume under the engine's data root. */
export async function containerSubvolume(dataRoot: string, containerId: string, locate: SubvolumeLocator = dockerMountId): Promise<string> {
  return subvolumeOf(dataRoot, await locate(dataRoot, containerId));
}

/** Sets the limit of the quota group of `subvolume` (`none` or bytes), named from the data root. */
async function limitQuotaGroup(dataRoot: string, subvolume: string, limit: string): Promise<void> {
  try {
    const { stdout } = await run('btrfs', ['inspect-internal', 'rootid', subvolume], { timeout: 30_000 });
    await run('btrfs', ['qgroup', 'limit', limit, `0/${stdout.trim()}`, dataRoot], { timeout: 30_000 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`btrfs qgroup limit ${limit} ${subvolume}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** Sets the container's root disk limit to `bytes` (the referenced bytes its quota group counts), now and at its next start. */
export async function setBtrfsRootLimit(dataRoot: string, containerId: string, bytes: number, locate: SubvolumeLocator = dockerMountId): Promise<void> {
  const id = await locate(dataRoot, containerId);
  await limitQuotaGroup(dataRoot, subvolumeOf(dataRoot, id), String(bytes));
  // written whole or not at all: the driver reads it at every start
  const quotas = join(dataRoot, 'btrfs', 'quotas');
  await mkdir(quotas, { recursive: true, mode: 0o700 });
  await writeWhole(join(quotas, id), String(bytes), 0o644);
}

/**
 * Takes the root disk limit of a stopped container off until the driver's next mount of it, which
 * sets it again from its record (the module's comment says why).
 */
export async function liftBtrfsRootLimit(dataRoot: string, containerId: string, locate: SubvolumeLocator = dockerMountId): Promise<void> {
  await limitQuotaGroup(dataRoot, await containerSubvolume(dataRoot, containerId, locate), 'none');
}
