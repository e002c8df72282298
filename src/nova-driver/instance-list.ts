/**
 * The instances of this host through the conductor, a page at a time: the periodic tasks
 * (the resource audit, the power-state sync, the VIF check, the scheduler's instance sync) list
 * every instance of the host. In one call, a thousand instances are one RPC answer of megabytes
 * that the conductor builds while its worker serves nothing else, and that this service holds
 * whole, twice (the message's text, then its objects).
 */
import type { RequestContext } from '../messaging/types.js';
import type { ConductorClient } from './conductor.js';
import { NovaObject } from './objects/versioned-object.js';

/** Instances per conductor call. */
export const INSTANCE_PAGE = 100;

/**
 * What InstanceList.get_by_host answers, by InstanceList.get_by_filters in pages ordered by
 * uuid. The filters match get_by_host's query (not deleted; soft-deleted ones included) but for
 * hidden instances, which get_by_filters leaves out: only a cross-cell resize makes them (its
 * copy in the target cell), and this driver does none. An instance made or deleted while the
 * pages are read may be missed or listed, as with one call made a moment earlier or later.
 */
export async function instancesOnHost(conductor: ConductorClient, ctx: RequestContext, host: string,
  expectedAttrs: string[], pageSize = INSTANCE_PAGE): Promise<NovaObject[]> {
  const all: NovaObject[] = [];
  for (let marker: string | null = null; ;) {
    const page: NovaObject | null = await conductor.classActionObject(ctx, 'InstanceList', 'get_by_filters',
      [{ host, deleted: false, soft_deleted: true }],
      { sort_keys: ['uuid'], sort_dirs: ['asc'], limit: pageSize, marker, expected_attrs: expectedAttrs });
    const items = page?.items() ?? [];
    all.push(...items);
    if (items.length < pageSize) return all;
    marker = items[items.length - 1].str('uuid');
  }
}
