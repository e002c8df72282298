/**
 * The request contexts a compute host originates itself (nova.context.get_admin_context;
 * trace rpc/07), as src/messaging packs them into `_context_*` keys.
 */
import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../messaging/types.js';

/** `req-<uuid4>`, like oslo.context's generate_request_id. */
export function generateRequestId(): string {
  return `req-${randomUUID()}`;
}

/**
 * A naive UTC ISO timestamp with microseconds, `2026-11-23T07:00:38.440277`: what
 * nova.context.RequestContext.to_dict writes and what from_dict's parse_strtime requires
 * (format `%Y-%m-%dT%H:%M:%S.%f`, so the fraction must always be there).
 */
export function contextTimestamp(date: Date = new Date()): string {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const micros = Number(process.hrtime.bigint() / 1000n % 1000n);
  return `${iso.slice(0, 23)}${String(micros).padStart(3, '0')}`;
}

/**
 * An admin context as nova-compute creates for its own calls (get_admin_context(): is_admin,
 * no user/project, read_deleted "no"), with all 25 keys in the order Zed sends them.
 */
export function adminContext(overrides: Partial<RequestContext> = {}): RequestContext {
  const ctx: RequestContext = {
    user: null,
    project_id: null,
    system_scope: null,
    project: null,
    domain: null,
    user_domain: null,
    project_domain: null,
    is_admin: true,
    read_only: false,
    show_deleted: false,
    auth_token: null,
    request_id: generateRequestId(),
    global_request_id: null,
    resource_uuid: null,
    roles: [],
    user_identity: '- - - - -',
    is_admin_project: true,
    user_id: null,
    read_deleted: 'no',
    remote_address: null,
    timestamp: contextTimestamp(),
    quota_class: null,
    user_name: null,
    service_catalog: [],
    project_name: null,
  };
  return Object.assign(ctx, overrides);
}
