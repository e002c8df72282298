/**
 * Request contexts on the wire: flattened into `_context_<key>` members of the message
 * (oslo_messaging/_drivers/amqp.py pack_context 76-91, unpack_context 62-73), and the admin
 * contexts a compute host originates itself (nova.context.get_admin_context; trace rpc/07).
 */
import { randomUUID } from 'node:crypto';
import type { RequestContext } from './types.js';

const PREFIX = '_context_';

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

/** Same as adminContext (name used in the task description). */
export const createAdminContext = adminContext;

/** pack_context: adds `_context_<key>` for every context key to `msg` (mutated and returned). */
export function packContext<T extends Record<string, unknown>>(msg: T, ctx: RequestContext): T {
  const out = msg as Record<string, unknown>;
  for (const [key, value] of Object.entries(ctx)) {
    if (value === undefined) continue;
    out[PREFIX + key] = value;
  }
  return msg;
}

export interface UnpackedContext {
  context: RequestContext;
  /** `_msg_id` (calls only), else null. */
  msgId: string | null;
  /** `_reply_q` (calls only), else null. */
  replyQ: string | null;
  /** `_timeout`: the caller's call-monitor timeout, usually an int or null. */
  clientTimeout: unknown;
}

/**
 * unpack_context: removes every `_context_*` key and `_msg_id`, `_reply_q`, `_timeout` from
 * `msg` (mutated) and returns them.
 */
export function unpackContext(msg: Record<string, unknown>): UnpackedContext {
  const context: RequestContext = {};
  for (const key of Object.keys(msg)) {
    if (key.startsWith(PREFIX)) {
      context[key.slice(PREFIX.length)] = msg[key];
      delete msg[key];
    }
  }
  const msgId = msg._msg_id;
  const replyQ = msg._reply_q;
  const clientTimeout = msg._timeout ?? null;
  delete msg._msg_id;
  delete msg._reply_q;
  delete msg._timeout;
  return {
    context,
    msgId: typeof msgId === 'string' && msgId !== '' ? msgId : null,
    replyQ: typeof replyQ === 'string' && replyQ !== '' ? replyQ : null,
    clientTimeout,
  };
}

/** The context fields worth a log line (never the token or the catalog). */
export function contextLogFields(ctx: RequestContext): Record<string, unknown> {
  const out: Record<string, unknown> = { request_id: ctx.request_id ?? null };
  if (ctx.global_request_id) out.global_request_id = ctx.global_request_id;
  if (ctx.user_id) out.user_id = ctx.user_id;
  if (ctx.project_id) out.project_id = ctx.project_id;
  return out;
}
