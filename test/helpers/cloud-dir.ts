/**
 * Which local cloud the tests address: the rule of devstack/lib/cloud-dir.sh (LOCAL_CLOUD_DIR,
 * else the directory of OPENSTACK_RELEASE and CONTAINER_ENGINE when either is set, else the
 * cloud that is up, else the default release's).
 */
import { existsSync, readFileSync } from 'node:fs';

const ACTIVE_CLOUD_FILE = '/run/nova-container-cloud.active';
const DEFAULT_OPENSTACK_RELEASE = '2025.1';

/** The engine a new cloud of the release runs on when CONTAINER_ENGINE is not set. */
const releaseDefaultEngine = (release: string): string => (release === 'zed' ? 'docker' : 'podman');

function releaseCloudDir(release: string, engine = releaseDefaultEngine(release)): string {
  const dir = release === 'zed' ? '/opt/nova-container-cloud' : `/opt/nova-container-cloud-${release}`;
  return engine === 'docker' ? dir : `${dir}-${engine}`;
}

function cloudDir(): string {
  if (process.env.LOCAL_CLOUD_DIR) return process.env.LOCAL_CLOUD_DIR;
  const { OPENSTACK_RELEASE: release, CONTAINER_ENGINE: engine } = process.env;
  if (release || engine) return releaseCloudDir(release || DEFAULT_OPENSTACK_RELEASE, engine || undefined);
  const active = existsSync(ACTIVE_CLOUD_FILE) ? readFileSync(ACTIVE_CLOUD_FILE, 'utf8').trim() : '';
  return active || releaseCloudDir(DEFAULT_OPENSTACK_RELEASE);
}

export const CLOUD_DIR = cloudDir();
