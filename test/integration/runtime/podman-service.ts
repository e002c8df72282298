/**
 * A private podman service for a test, started as the local cloud starts its engine with
 * CONTAINER_ENGINE=podman (devstack/lib/podman.sh: configure_engine, start_engine,
 * wait_engine) in a cloud directory of its own, with a small btrfs store: so the test also
 * proves that configuration. Debian's podman is installed if missing. Stopping it removes its
 * containers (they outlive the service under conmon), the service, the store's mounts and the
 * directory.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../helpers/cloud.js';

export interface PodmanService {
  dir: string;
  /** unix:///…/podman.sock */
  endpoint: string;
  /** The btrfs file system of the store, and the store's root (graphroot) on it. */
  store: string;
  graphRoot: string;
  /** podman's TMPDIR (lib/podman.sh). */
  tmpDir: string;
  /** Runs the podman CLI on this service's store and configuration. */
  podman(args: string[]): string;
  stop(): Promise<void>;
}

const LIB = join(REPO, 'devstack', 'lib');

/** Runs `script` with the local cloud's libraries and podman as the engine, in cloud directory `dir`. */
function cloudBash(dir: string, script: string, diskGb: number): string {
  return execFileSync('bash', ['-c', `set -euo pipefail; LOCAL_CLOUD_LIB=${LIB}; LOCAL_CLOUD_REPO=${REPO}
    . "$LOCAL_CLOUD_LIB/cloud-dir.sh"; . "$LOCAL_CLOUD_LIB/common.sh"; . "$LOCAL_CLOUD_LIB/btrfs_store.sh"; . "$LOCAL_CLOUD_LIB/podman.sh"
    ${script}`], {
    encoding: 'utf8',
    env: { ...process.env, LOCAL_CLOUD_DIR: dir, CONTAINER_ENGINE: 'podman', OPENSTACK_RELEASE: 'zed', DOCKER_DISK_GB: String(diskGb) },
  });
}

function ensurePodman(): void {
  if (!existsSync('/usr/bin/podman')) {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=300', 'podman'],
      { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
}

export async function startPodmanService(diskGb = 4): Promise<PodmanService> {
  ensurePodman();
  const dir = mkdtempSync('/var/tmp/nc-podman-');
  const etc = join(dir, 'etc', 'containers');
  const env = {
    ...process.env,
    CONTAINERS_CONF: join(etc, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: join(etc, 'storage.conf'),
    CONTAINERS_REGISTRIES_CONF: join(etc, 'registries.conf'),
  };
  const podman = (args: string[]) => execFileSync('podman', args, { env, encoding: 'utf8' });
  const stop = async () => {
    try {
      // a container others joined goes in a later pass, after them
      for (let pass = 0; pass < 3 && podman(['ps', '-aq']).trim(); pass++) {
        try { podman(['rm', '-af', '-t', '0']); } catch { /* what is left goes in the next pass */ }
      }
    } finally {
      try {
        cloudBash(dir, 'stop_engine; umount -R "$PODMAN_STORE"', diskGb);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  };
  try {
    cloudBash(dir, 'ensure_dirs; configure_engine; start_engine; wait_engine', diskGb);
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  const store = join(dir, 'podman', 'btrfs');
  return { dir, endpoint: `unix://${join(dir, 'podman', 'podman.sock')}`, store, graphRoot: join(store, 'graph'), tmpDir: join(dir, 'podman', 'tmp'), podman, stop };
}
