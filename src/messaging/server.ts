/**
 * An oslo.messaging RPC server (rpc/server.py, amqpdriver.RpcAMQPListener and
 * AMQPIncomingMessage, impl_rabbit declare_topic_consumer / declare_fanout_consumer).
 *
 * For target (topic, server) it consumes, on its own connection:
 *   - queue `<topic>` bound to topic exchange `<control_exchange>` with key `<topic>`
 *   - queue `<topic>.<server>` bound with key `<topic>.<server>`
 *   - queue `<topic>_fanout_<uuid4 hex>` (x-expires) bound to fanout exchange `<topic>_fanout`
 * Every message is acked before it is dispatched (at-most-once, as oslo). Calls are answered
 * on the default exchange with routing key `_reply_q`; while a call runs and the caller sent
 * a positive integer `_timeout`, `ending: false` heartbeats go out every `_timeout/2` s.
 * Nothing a peer sends can stop the server: every bad message is logged and, when the
 * caller's `_msg_id` and `_reply_q` can be read, answered with a failure.
 */
import type { ConsumeMessage } from 'amqplib';
import type { Logger } from '../common/log.js';
import { NoSuchMethod, PyError, ValueError } from './errors.js';
import { errText, MESSAGE_PROPERTIES, MessageUndeliverable, type AmqpConnection } from './connection.js';
import { contextLogFields, unpackContext } from './context.js';
import { MsgIdCache, uuidHex } from './dedup.js';
import { RpcDispatcher } from './dispatcher.js';
import { decodeBody, encodeBody, MalformedMessageError, MESSAGE_KEY, preview } from './envelope.js';
import { serializeRemoteException } from './failure.js';
import { consumeArguments, fanoutExchange, topicExchange, topicQueue, transientQueue } from './declarations.js';
import { pyJsonDumps } from './pyjson.js';
import type { RpcTransport } from './transport.js';
import type { Endpoint, IncomingCall, MessagingHooks, RequestContext } from './types.js';

export interface ServerTarget {
  topic: string;
  server: string;
  /** Defaults to the control_exchange option. */
  exchange?: string;
}

export interface RpcServerOptions {
  /** Concurrent handlers (executor_thread_pool_size, 64). More messages wait in memory. */
  maxConcurrency?: number;
  /** How long stop() waits for running handlers, ms (default 30 s). */
  stopTimeoutMs?: number;
  /** Told about every dispatched request once its handler finished (for /metrics); must not throw. */
  observer?: (event: RpcDispatchEvent) => void;
  /** The application's exceptions (what a handler throws goes out through hooks.errors). */
  hooks?: MessagingHooks;
}

/** One request's dispatch, as an observer sees it. */
export interface RpcDispatchEvent {
  method: string;
  namespace: string | null;
  kind: 'call' | 'cast';
  outcome: 'ok' | 'failure';
  /** From the handler's start to its end (the reply's publication not included). */
  durationMs: number;
  /** The failure's class, e.g. BuildAbortException. */
  errorClass?: string;
  requestId?: string;
}

export interface RpcServerStats {
  received: number;
  dispatched: number;
  failed: number;
  malformed: number;
  duplicates: number;
  running: number;
  queued: number;
}

const OBSOLETE_REPLY_QUEUE_TTL_MS = 60_000;
const MISSING_QUEUE_RETRY_MS = 250;

export class RpcServer {
  readonly exchange: string;
  /** `<topic>_fanout_<uuid4 hex>`, fixed for the life of this server (kept across reconnects). */
  readonly fanoutQueue: string;
  private readonly dispatcher: RpcDispatcher;
  private readonly dedup = new MsgIdCache();
  private readonly maxConcurrency: number;
  private readonly stopTimeoutMs: number;
  private readonly observer: ((event: RpcDispatchEvent) => void) | undefined;
  private readonly hooks: MessagingHooks;
  private conn: AmqpConnection | null = null;
  private running = 0;
  private readonly pending: (() => Promise<void>)[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private readonly obsoleteReplyQueues = new Map<string, number>();
  private readonly counters = { received: 0, dispatched: 0, failed: 0, malformed: 0, duplicates: 0 };

  constructor(
    private readonly transport: RpcTransport,
    readonly target: ServerTarget,
    endpoints: readonly Endpoint[],
    private readonly log: Logger,
    options: RpcServerOptions = {},
  ) {
    if (!target.topic || !target.server) throw new Error('an RPC server target needs a topic and a server');
    this.exchange = target.exchange ?? transport.options.control_exchange;
    this.fanoutQueue = `${target.topic}_fanout_${uuidHex()}`;
    this.dispatcher = new RpcDispatcher(transport.options.rpc_ping_enabled ? withPing(endpoints, log) : endpoints);
    this.maxConcurrency = Math.max(1, options.maxConcurrency ?? transport.options.executor_thread_pool_size);
    this.stopTimeoutMs = options.stopTimeoutMs ?? 30_000;
    this.observer = options.observer;
    this.hooks = options.hooks ?? {};
  }

  /** Declares the three consumers oslo declares and resolves once they consume. */
  async start(): Promise<void> {
    if (this.conn) return;
    const o = this.transport.options.rabbit;
    const conn = this.transport.listener(`server:${this.target.topic}.${this.target.server}`);
    this.conn = conn;
    const exchange = topicExchange(o, this.exchange);
    const onMessage = (msg: ConsumeMessage, ack: () => boolean): void => this.onDelivery(msg, ack);
    const consume = consumeArguments(o);
    const serverKey = `${this.target.topic}.${this.target.server}`;
    try {
      await conn.addConsumer({ queue: this.target.topic, ...topicQueue(o), exchange, routingKey: this.target.topic, consumeArguments: consume, onMessage });
      await conn.addConsumer({ queue: serverKey, ...topicQueue(o), exchange, routingKey: serverKey, consumeArguments: consume, onMessage });
      await conn.addConsumer({
        queue: this.fanoutQueue, ...transientQueue(o), exchange: fanoutExchange(o, this.target.topic), routingKey: this.target.topic,
        consumeArguments: consume, onMessage,
      });
    } catch (err) {
      this.conn = null;
      await this.transport.releaseListener(conn);
      throw err;
    }
    this.log.info({ exchange: this.exchange, topic: this.target.topic, server: this.target.server, fanout_queue: this.fanoutQueue },
      'RPC server consuming');
  }

  /** Stops consuming, lets running handlers finish (up to stopTimeoutMs), closes the connection. */
  async stop(): Promise<void> {
    const conn = this.conn;
    if (!conn) return;
    this.conn = null;
    await Promise.all([this.target.topic, `${this.target.topic}.${this.target.server}`, this.fanoutQueue].map((q) => conn.removeConsumer(q)));
    const deadline = Date.now() + this.stopTimeoutMs;
    while ((this.inflight.size > 0 || this.pending.length > 0) && Date.now() < deadline) {
      // the timer goes once the handlers are done: left running, it kept the process alive
      // until the deadline after everything else had closed
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, Math.max(1, deadline - Date.now())); });
      await Promise.race([Promise.allSettled([...this.inflight]), timeout]);
      clearTimeout(timer);
    }
    if (this.inflight.size > 0) this.log.warn({ running: this.inflight.size }, 'RPC server stopped with handlers still running');
    await this.transport.releaseListener(conn);
  }

  get connected(): boolean {
    return this.conn?.connected ?? false;
  }

  stats(): RpcServerStats {
    return { ...this.counters, running: this.running, queued: this.pending.length };
  }

  // -------------------------------------------------------------------------------------------

  private onDelivery(msg: ConsumeMessage, ack: () => boolean): void {
    // RpcAMQPListener.__call__: acknowledge first; a request whose ack fails is discarded.
    if (!ack()) {
      this.log.warn({ routing_key: msg.fields.routingKey }, 'Discarding RPC request due to failed acknowledge');
      return;
    }
    this.counters.received += 1;
    try {
      this.handleBody(msg.content, msg.fields.routingKey);
    } catch (err) {
      this.counters.malformed += 1;
      this.log.error({ err, routing_key: msg.fields.routingKey }, 'failed to process an RPC message; skipped');
    }
  }

  private handleBody(body: Buffer, routingKey: string): void {
    let message: Record<string, unknown>;
    try {
      message = decodeBody(body);
    } catch (err) {
      this.counters.malformed += 1;
      const recovered = recoverReplyInfo(body);
      this.log.error({
        reason: errText(err), error_class: err instanceof PyError ? err.pyClass : (err as Error).name,
        routing_key: routingKey, body_preview: err instanceof MalformedMessageError && err.preview ? err.preview : preview(body.toString('utf8')),
        msg_id: recovered?.msgId, request_id: recovered?.requestId,
      }, 'malformed RPC message');
      if (recovered) {
        const failure = err instanceof PyError ? err : new ValueError(errText(err));
        this.enqueue(() => this.sendReply(recovered.replyQ, recovered.msgId, null, serializeRemoteException(failure, this.hooks.errors)));
      }
      return;
    }

    const { context, msgId, replyQ, clientTimeout } = unpackContext(message);
    const uniqueId = message._unique_id;
    delete message._unique_id;
    const expectsReply = msgId !== null && replyQ !== null;
    if (typeof uniqueId === 'string' && this.dedup.checkAndAdd(uniqueId)) {
      this.counters.duplicates += 1;
      this.log.warn({ unique_id: uniqueId, msg_id: msgId, ...contextLogFields(context) }, 'ignoring duplicate message');
      return;
    }

    const shapeError = checkShape(message);
    if (shapeError) {
      this.counters.malformed += 1;
      this.log.error({ reason: shapeError, routing_key: routingKey, msg_id: msgId, ...contextLogFields(context) }, 'malformed RPC message');
      if (expectsReply) {
        this.enqueue(() => this.sendReply(replyQ, msgId, null, serializeRemoteException(new ValueError(shapeError), this.hooks.errors)));
      }
      return;
    }

    const call: IncomingCall = {
      method: message.method as string,
      args: (message.args ?? {}) as Record<string, unknown>,
      namespace: (message.namespace ?? null) as string | null,
      version: (message.version ?? '1.0') as string,
      context,
      expectsReply,
    };
    this.log.debug({ method: call.method, namespace: call.namespace, version: call.version, msg_id: msgId, routing_key: routingKey,
      ...contextLogFields(context) }, expectsReply ? 'received call' : 'received cast');
    this.enqueue(() => this.process(call, msgId, replyQ, clientTimeout));
  }

  private async process(call: IncomingCall, msgId: string | null, replyQ: string | null, clientTimeout: unknown): Promise<void> {
    const log = this.log.child({ ...contextLogFields(call.context as RequestContext), method: call.method,
      ...this.describe(call), ...(msgId ? { msg_id: msgId } : {}) });
    const stopHeartbeat = call.expectsReply && replyQ && msgId ? this.startHeartbeat(log, replyQ, msgId, clientTimeout) : () => undefined;
    let reply: { result: unknown; failure: string | null };
    let failed: unknown = undefined;
    const started = performance.now();
    try {
      const result = await this.dispatcher.dispatch(call);
      const value = result === undefined ? null : result;
      pyJsonDumps(value); // fails here, not at publish time, if the result cannot be serialized
      reply = { result: value, failure: null };
      this.counters.dispatched += 1;
    } catch (err) {
      this.counters.failed += 1;
      failed = err ?? new Error('handler failed');
      this.logFailure(log, call, err);
      reply = { result: null, failure: serializeRemoteException(err, this.hooks.errors) };
    } finally {
      stopHeartbeat();
    }
    this.notify(call, performance.now() - started, failed);
    if (call.expectsReply && replyQ && msgId) await this.sendReply(replyQ, msgId, reply.result, reply.failure);
  }

  /** hooks.describeCall's fields; none when it throws (logged). */
  private describe(call: IncomingCall): Record<string, unknown> {
    if (!this.hooks.describeCall) return {};
    try {
      return this.hooks.describeCall(call);
    } catch (err) {
      this.log.warn({ err: errText(err), method: call.method }, 'describeCall hook failed');
      return {};
    }
  }

  private notify(call: IncomingCall, durationMs: number, failed: unknown): void {
    if (!this.observer) return;
    const requestId = call.context.request_id;
    try {
      this.observer({
        method: call.method, namespace: call.namespace, kind: call.expectsReply ? 'call' : 'cast',
        outcome: failed === undefined ? 'ok' : 'failure', durationMs,
        ...(failed !== undefined ? { errorClass: failed instanceof PyError ? failed.pyClass : (failed as Error).name ?? 'Error' } : {}),
        ...(typeof requestId === 'string' ? { requestId } : {}),
      });
    } catch (err) {
      this.log.warn({ err: errText(err) }, 'RPC dispatch observer failed');
    }
  }

  private logFailure(log: Logger, call: IncomingCall, err: unknown): void {
    const kind = call.expectsReply ? 'call' : 'cast';
    if (err instanceof NoSuchMethod && call.method.endsWith('_ignore_errors')) {
      log.debug({ kind }, `Method ${call.method} not found`);
    } else if (err instanceof PyError) {
      log.warn({ kind, error_class: err.qualifiedName, error: err.message, version: call.version, namespace: call.namespace },
        'RPC handler failed');
    } else {
      log.error({ kind, err }, 'Exception during message handling');
    }
  }

  /** dispatcher._watchdog: `ending: false` replies every int(_timeout)/2 s while the handler runs. */
  private startHeartbeat(log: Logger, replyQ: string, msgId: string, clientTimeout: unknown): () => void {
    if (clientTimeout === null || clientTimeout === undefined || clientTimeout === false || clientTimeout === 0 || clientTimeout === '') {
      return () => undefined;
    }
    const timeout = pyInt(clientTimeout);
    const interval = Number.isFinite(timeout) ? timeout / 2 : 0;
    if (interval < 1) {
      log.warn({ client_timeout: clientTimeout }, 'Client provided an invalid timeout value');
      return () => undefined;
    }
    let stopped = false;
    let busy = false;
    const timer = setInterval(() => {
      if (stopped || busy) return;
      busy = true;
      log.debug({ interval }, 'Sending call-monitor heartbeat');
      this.publishReply(replyQ, msgId, null, null, false)
        .catch((err: unknown) => {
          log.debug({ err: errText(err) }, 'Call-monitor heartbeat failed');
          stopped = true;
          clearInterval(timer);
        })
        .finally(() => { busy = false; });
    }, interval * 1000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }

  /**
   * AMQPIncomingMessage.reply: retried while the reply queue is missing (mandatory publish
   * returned) for kombu_missing_consumer_retry_timeout, then the queue is remembered as gone
   * for 60 s so later replies to it are dropped at once.
   */
  private async sendReply(replyQ: string, msgId: string, result: unknown, failure: string | null): Promise<void> {
    if (this.isObsolete(replyQ, msgId)) return;
    const retrySeconds = this.transport.options.rabbit.kombu_missing_consumer_retry_timeout;
    const deadline = Date.now() + retrySeconds * 1000;
    for (;;) {
      try {
        await this.publishReply(replyQ, msgId, result, failure, true, deadline);
        return;
      } catch (err) {
        if (err instanceof MessageUndeliverable && Date.now() < deadline) {
          this.log.debug({ msg_id: msgId, reply_q: replyQ }, 'reply queue missing; retrying');
          await delay(MISSING_QUEUE_RETRY_MS);
          continue;
        }
        if (err instanceof MessageUndeliverable) {
          this.obsoleteReplyQueues.set(replyQ, Date.now() + OBSOLETE_REPLY_QUEUE_TTL_MS);
          this.log.error({ msg_id: msgId, reply_q: replyQ, duration_s: retrySeconds },
            'The reply failed to send due to a missing queue. Abandoning...');
        } else {
          this.log.error({ msg_id: msgId, reply_q: replyQ, err: errText(err) }, 'Can not send reply for message');
        }
        return;
      }
    }
  }

  private async publishReply(replyQ: string, msgId: string, result: unknown, failure: string | null, ending: boolean,
    deadline?: number): Promise<void> {
    const body = encodeBody(buildReplyMessage(result, failure, ending, msgId));
    const mandatory = this.transport.options.rabbit.direct_mandatory_flag;
    await this.transport.sender().publish(null, replyQ, body, MESSAGE_PROPERTIES, { mandatory, deadline });
  }

  private isObsolete(replyQ: string, msgId: string): boolean {
    const until = this.obsoleteReplyQueues.get(replyQ);
    if (until === undefined) return false;
    if (until < Date.now()) {
      this.obsoleteReplyQueues.delete(replyQ);
      return false;
    }
    this.log.warn({ reply_queue: replyQ, msg_id: msgId }, "reply queue doesn't exist, drop reply");
    return true;
  }

  private enqueue(task: () => Promise<void>): void {
    this.pending.push(task);
    this.pump();
  }

  private pump(): void {
    while (this.running < this.maxConcurrency && this.pending.length > 0) {
      const task = this.pending.shift() as () => Promise<void>;
      this.running += 1;
      const p: Promise<void> = task()
        .catch((err: unknown) => this.log.error({ err }, 'RPC task failed'))
        .finally(() => {
          this.running -= 1;
          this.inflight.delete(p);
          this.pump();
        });
      this.inflight.add(p);
    }
  }
}

/** A reply in oslo's key order (AMQPIncomingMessage._send_reply): result, failure, ending, _msg_id, _unique_id. */
export function buildReplyMessage(result: unknown, failure: string | null, ending: boolean, msgId: string,
  uniqueId: string = uuidHex()): Record<string, unknown> {
  return { result, failure, ending, _msg_id: msgId, _unique_id: uniqueId };
}

/** The shape oslo's dispatcher relies on; a message without it cannot be dispatched. */
function checkShape(message: Record<string, unknown>): string | null {
  if (typeof message.method !== 'string' || message.method === '') return 'message has no method';
  const args = message.args;
  if (args !== undefined && (args === null || typeof args !== 'object' || Array.isArray(args))) return `args of ${message.method} is not an object`;
  const ns = message.namespace;
  if (ns !== undefined && ns !== null && typeof ns !== 'string') return 'namespace is not a string';
  const v = message.version;
  if (v !== undefined && typeof v !== 'string') return 'version is not a string';
  return null;
}

/** `_msg_id`, `_reply_q` (and the request id) from a message that could not be decoded, if readable. */
export function recoverReplyInfo(body: Buffer): { msgId: string; replyQ: string; requestId?: string } | null {
  let outer: unknown;
  try {
    outer = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  let inner: unknown = outer;
  if (outer !== null && typeof outer === 'object' && typeof (outer as Record<string, unknown>)[MESSAGE_KEY] === 'string') {
    try {
      inner = JSON.parse((outer as Record<string, string>)[MESSAGE_KEY]);
    } catch {
      return null;
    }
  }
  if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) return null;
  const m = inner as Record<string, unknown>;
  if (typeof m._msg_id !== 'string' || !m._msg_id || typeof m._reply_q !== 'string' || !m._reply_q) return null;
  return { msgId: m._msg_id, replyQ: m._reply_q, ...(typeof m._context_request_id === 'string' ? { requestId: m._context_request_id } : {}) };
}

/** Python int() of a JSON value (NaN where Python would raise). */
function pyInt(v: unknown): number {
  if (typeof v === 'number') return Number.isFinite(v) ? Math.trunc(v) : NaN;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return parseInt(v, 10);
  return NaN;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * rpc_ping_enabled: oslo's PingEndpoint (no namespace, version 1.0) answers
 * oslo_rpc_server_ping, unless an endpoint of the application already has that method.
 */
export function withPing(endpoints: readonly Endpoint[], log: Logger): readonly Endpoint[] {
  if (endpoints.some((e) => typeof e.handlers.oslo_rpc_server_ping === 'function')) {
    log.warn('rpc_ping_enabled is set but an endpoint already has oslo_rpc_server_ping; not adding the ping endpoint');
    return endpoints;
  }
  return [...endpoints, { namespace: null, version: '1.0', handlers: { oslo_rpc_server_ping: async () => 'pong' } }];
}
