/**
 * What a server's standard fields put inside its container, at the paths a config drive
 * would use (so cloud-init style tools find them):
 *   /openstack/latest/meta_data.json  uuid, name, hostname, availability zone, project, the
 *                                     server metadata (`meta`) and the key pair (`public_keys`)
 *   /openstack/latest/user_data       the server's user data, decoded (absent if none)
 */
import type { InstanceFile } from '../instance-driver.js';
import type { NovaObject } from '../objects/versioned-object.js';

export const METADATA_PATH = '/openstack/latest/meta_data.json';
export const USER_DATA_PATH = '/openstack/latest/user_data';

export function instanceFiles(inst: NovaObject): InstanceFile[] {
  const keyName = inst.optStr('key_name');
  const keyData = inst.optStr('key_data');
  const meta = {
    uuid: inst.str('uuid'),
    name: inst.optStr('display_name'),
    hostname: inst.optStr('hostname'),
    availability_zone: inst.optStr('availability_zone'),
    project_id: inst.optStr('project_id'),
    launch_index: inst.get('launch_index') ?? 0,
    meta: inst.get('metadata') ?? {},
    public_keys: keyName && keyData ? { [keyName]: keyData } : {},
  };
  const files: InstanceFile[] = [{ path: METADATA_PATH, content: `${JSON.stringify(meta, null, 2)}\n`, mode: 0o644 }];
  const userData = inst.optStr('user_data');
  if (userData) files.push({ path: USER_DATA_PATH, content: Buffer.from(userData, 'base64'), mode: 0o600 });
  return files;
}
