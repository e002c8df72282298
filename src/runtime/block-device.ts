/**
 * The block device a directory's file system is on, as a disk the kernel throttles I/O on
 * (the engine's blkio limits name a device): the mount holding the directory
 * (/proc/self/mountinfo, longest mount point that contains it), its source device, and for a
 * partition its whole disk (/sys/class/block). Device numbers from stat() would not do:
 * btrfs reports an anonymous device of its own.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

export class NoBlockDevice extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoBlockDevice';
  }
}

interface Mount { mountPoint: string; fsType: string; source: string }

/** mountinfo escapes space, tab, newline and backslash as octal. */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    // id parent major:minor root mount-point options [optional fields...] - fstype source super-options
    const [left, right] = line.split(' - ');
    const l = left.split(' ');
    const r = (right ?? '').split(' ');
    if (l.length < 5 || r.length < 2) continue;
    mounts.push({ mountPoint: unescape(l[4]), fsType: r[0], source: unescape(r[1]) });
  }
  return mounts;
}

/** The mount that holds `path` (the last one mounted there wins, as the kernel resolves it). */
export function mountOf(mounts: Mount[], path: string): Mount | undefined {
  let best: Mount | undefined;
  for (const m of mounts) {
    const inside = m.mountPoint === '/' || path === m.mountPoint || path.startsWith(`${m.mountPoint}/`);
    if (inside && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/** `/dev/vda` for a directory on /dev/vda1 or /dev/vda; throws NoBlockDevice when it is on none. */
export async function diskOf(dir: string): Promise<string> {
  const path = await realpath(dir);
  const mount = mountOf(parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8')), path);
  if (!mount || !mount.source.startsWith('/dev/')) {
    throw new NoBlockDevice(`${path} is on ${mount ? `${mount.fsType} (${mount.source})` : 'no mount'}, not on a block device`);
  }
  const device = await realpath(mount.source);
  if (!(await stat(device)).isBlockDevice()) throw new NoBlockDevice(`${device} (holding ${path}) is not a block device`);
  // /sys/class/block/<partition> links into its disk's directory
  const sysPath = await realpath(`/sys/class/block/${basename(device)}`);
  const isPartition = await stat(`${sysPath}/partition`).then(() => true, () => false);
  return isPartition ? `/dev/${basename(dirname(sysPath))}` : device;
}
