/**
 * A private podman service for a test: Debian's podman (installed if missing) serving its
 * Docker-compatible API on a socket in a directory of its own, with its own configuration
 * and a btrfs store on a loop-mounted sparse file (so root disk sizes are enforced), as
 * src/runtime/README.md describes. Stopping it removes its containers (they outlive the
 * service under conmon), the service, the mount and the directory.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import axios from 'axios';

export interface PodmanService {
  dir: string;
  /** unix:///…/podman.sock */
  endpoint: string;
  /** The store's root (graphroot), on btrfs. */
  graphRoot: string;
  /** Runs the podman CLI on this service's store and configuration. */
  podman(args: string[]): string;
  stop(): Promise<void>;
}

function ensurePodman(): void {
  if (!existsSync('/usr/bin/podman')) execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'podman'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

export async function startPodmanService(diskGb = 4): Promise<PodmanService> {
  ensurePodman();
  const dir = mkdtempSync('/var/tmp/nc-podman-');
  const mnt = join(dir, 'btrfs');
  const graphRoot = join(mnt, 'graph');
  for (const d of [mnt, join(dir, 'run'), join(dir, 'tmp'), join(dir, 'events')]) mkdirSync(d, { recursive: true });
  const img = join(dir, 'btrfs.img');
  execFileSync('truncate', ['-s', `${diskGb}G`, img]);
  execFileSync('mkfs.btrfs', ['-q', img]);
  execFileSync('mount', ['-o', 'loop', img, mnt]);
  writeFileSync(join(dir, 'containers.conf'), [
    // podman's default open files and processes (its own hard limits) are more than runc may set here
    '[containers]', 'netns = "none"', 'pids_limit = 0', 'log_driver = "k8s-file"', 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
    '[engine]', 'runtime = "runc"', 'cgroup_manager = "cgroupfs"', 'events_logger = "file"',
    `events_logfile_path = "${join(dir, 'events', 'events.log')}"`, `tmp_dir = "${join(dir, 'tmp')}"`, '',
  ].join('\n'));
  writeFileSync(join(dir, 'storage.conf'), ['[storage]', 'driver = "btrfs"', `graphroot = "${graphRoot}"`, `runroot = "${join(dir, 'run')}"`, ''].join('\n'));
  writeFileSync(join(dir, 'registries.conf'), 'unqualified-search-registries = []\n');
  const env = {
    ...process.env,
    CONTAINERS_CONF: join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
    CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
    TMPDIR: join(dir, 'tmp'),
  };
  const socket = join(dir, 'podman.sock');
  const service: ChildProcess = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], { env, stdio: 'ignore', detached: true });
  const podman = (args: string[]) => execFileSync('podman', args, { env, encoding: 'utf8' });
  const stop = async () => {
    try {
      // a container others joined goes in a later pass, after them
      for (let pass = 0; pass < 3 && podman(['ps', '-aq']).trim(); pass++) {
        try { podman(['rm', '-af', '-t', '0']); } catch { /* what is left goes in the next pass */ }
      }
    } finally {
      if (service.pid) try { process.kill(-service.pid, 'SIGTERM'); } catch { /* gone */ }
      await new Promise((r) => setTimeout(r, 500));
      execFileSync('umount', ['-R', mnt], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    }
  };
  for (let i = 0; ; i++) {
    const up = await axios.get('http://podman/_ping', { socketPath: socket, timeout: 2000, validateStatus: () => true }).then((r) => r.status === 200, () => false);
    if (up) break;
    if (i > 100) {
      await stop();
      throw new Error(`podman system service did not answer on ${socket} within 20 s`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { dir, endpoint: `unix://${socket}`, graphRoot, podman, stop };
}
