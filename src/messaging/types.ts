import type { ErrorHooks } from './failure.js';

/**
 * The contract between the oslo.messaging layer (src/messaging) and the application that uses
 * it (here the compute host). Wire details: ../shared/reference/nova-rpc.md section (a).
 */

/** An oslo.context request context as it travels in `_context_*` keys (prefix stripped). */
export interface RequestContext {
  request_id?: string;
  global_request_id?: string | null;
  user_id?: string | null;
  project_id?: string | null;
  is_admin?: boolean;
  auth_token?: string | null;
  roles?: string[];
  [key: string]: unknown;
}

/** Where a message goes: exchange `<control_exchange>`, routing key `topic` or `topic.server`. */
export interface Target {
  topic: string;
  server?: string;
  /** e.g. Nova's `baseapi`, `compute_task`; absent (null) for the default namespace. */
  namespace?: string | null;
  /** e.g. "6.0" (compute), "3.0" (conductor), "4.2" (scheduler), "1.0" (baseapi). */
  version: string;
  /** Fanout cast to `<topic>_fanout`. */
  fanout?: boolean;
}

export interface CallOptions {
  /** Seconds; default rpc_response_timeout. */
  timeout?: number;
  /** Seconds; sent as `_timeout` so the server sends `ending:false` heartbeats. */
  callMonitorTimeout?: number;
}

export interface RpcClient {
  call<T = unknown>(target: Target, ctx: RequestContext, method: string,
    args: Record<string, unknown>, options?: CallOptions): Promise<T>;
  cast(target: Target, ctx: RequestContext, method: string, args: Record<string, unknown>): Promise<void>;
}

/** One incoming request after the envelope and context are unpacked. */
export interface IncomingCall {
  method: string;
  args: Record<string, unknown>;
  namespace: string | null;
  version: string;
  context: RequestContext;
  /** True for a call (has `_msg_id` and `_reply_q`); false for a cast. */
  expectsReply: boolean;
}

/** What a server endpoint exposes: one handler per method, for one namespace and version. */
export interface Endpoint {
  namespace: string | null;
  /** Highest supported version, e.g. "6.1"; requests with the same major and minor <= this. */
  version: string;
  handlers: Record<string, (ctx: RequestContext, args: Record<string, unknown>, call: IncomingCall) => Promise<unknown>>;
  /**
   * Optional JSON Schema (ajv) per method for `args`. A call whose args fail it gets a
   * `builtins.ValueError` failure without running the handler; a cast is logged and dropped.
   */
  schemas?: Record<string, object>;
}


/** What an application plugs into the messaging layer (the compute service: nova.exception). */
export interface MessagingHooks {
  /** Its exceptions on the wire, both ways (failure.ts). */
  errors?: ErrorHooks;
  /**
   * Log fields that say what an incoming request is about (the compute service: the instance),
   * added to every log line of its dispatch after the context's request_id etc. Must not throw.
   */
  describeCall?(call: IncomingCall): Record<string, unknown>;
}
