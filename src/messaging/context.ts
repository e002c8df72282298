/**
 * Request contexts on the wire: flattened into `_context_<key>` members of the message
 * (oslo_messaging/_drivers/amqp.py pack_context 76-91, unpack_context 62-73).
 */
import type { RequestContext } from './types.js';

const PREFIX = '_context_';

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
