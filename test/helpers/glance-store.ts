import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLOUD_DIR } from './cloud.js';

/** Glance's file store (filesystem_store_datadir of the local cloud's glance-api.conf): an image's data is the file named by its id. */
export function glanceStoreDir(): string {
  const conf = readFileSync(join(CLOUD_DIR, 'etc', 'glance', 'glance-api.conf'), 'utf8');
  const m = /^\s*filesystem_store_datadir\s*=\s*(\S+)/m.exec(conf);
  if (!m) throw new Error('no filesystem_store_datadir in glance-api.conf');
  return m[1];
}
