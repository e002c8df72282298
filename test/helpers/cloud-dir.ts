/**
 * Which local cloud the tests address: the same rule as at the top of devstack/local-cloud.sh
 * (LOCAL_CLOUD_DIR, else the directory of OPENSTACK_RELEASE, else the cloud that is up).
 */
import { existsSync, readFileSync } from 'node:fs';

const ACTIVE_CLOUD_FILE = '/run/nova-container-cloud.active';

function cloudDir(): string {
  if (process.env.LOCAL_CLOUD_DIR) return process.env.LOCAL_CLOUD_DIR;
  const release = process.env.OPENSTACK_RELEASE;
  if (release) return release === 'zed' ? '/opt/nova-container-cloud' : `/opt/nova-container-cloud-${release}`;
  const active = existsSync(ACTIVE_CLOUD_FILE) ? readFileSync(ACTIVE_CLOUD_FILE, 'utf8').trim() : '';
  return active || '/opt/nova-container-cloud';
}

export const CLOUD_DIR = cloudDir();
