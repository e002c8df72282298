/**
 * An oslo.messaging RPC client (rpc/client.py _BaseCallContext, amqpdriver.AMQPDriverBase._send,
 * ReplyWaiter): calls and casts to exchange `<control_exchange>` with routing key `topic` or
 * `topic.server`, fanout casts to `<topic>_fanout`. Replies come back on one lazily declared
 * queue `reply_<uuid4 hex>` (x-expires like oslo) consumed on its own connection.
 */
import type { ConsumeMessage } from 'amqplib';
import type { Logger } from '../common/log.js';
import { InvalidTarget, MessagingTimeout, PyError } from './errors.js';
import { errText, MESSAGE_PROPERTIES, MessageUndeliverable, NotConnectedError, type AmqpConnection, type ExchangeSpec } from './connection.js';
import { contextLogFields, packContext } from './context.js';
import { MsgIdCache, uuidHex } from './dedup.js';
import { decodeBody, encodeBody } from './envelope.js';
import { deserializeRemoteException } from './failure.js';
import { consumeArguments, fanoutExchange, topicExchange, transientQueue } from './declarations.js';
import type { RpcTransport } from './transport.js';
import type { CallOptions, MessagingHooks, RequestContext, RpcClient, Target } from './types.js';

interface Waiter {
  msgId: string;
  method: string;
  topic: string;
  finalReply: unknown;
  cmTimeoutMs: number | null;
  cmTimer: NodeJS.Timeout | null;
  timer: NodeJS.Timeout | null;
  done: boolean;
  settle(err: Error | null, value?: unknown): void;
}

export class AmqpRpcClient implements RpcClient {
  private replyConn: AmqpConnection | null = null;
  private replyQ: string | null = null;
  private replyQReady: Promise<string> | null = null;
  private readonly waiters = new Map<string, Waiter>();
  private readonly replyDedup = new MsgIdCache();
  private closed = false;

  constructor(private readonly transport: RpcTransport, private readonly log: Logger, private readonly hooks: MessagingHooks = {}) {}

  /** The reply queue name once declared (null before the first call). */
  get replyQueue(): string | null {
    return this.replyQ;
  }

  /** Calls waiting for their reply. */
  get pendingCalls(): number {
    return this.waiters.size;
  }

  /**
   * Sends a call and resolves with the remote result, or rejects with the remote failure as
   * a typed error (errors.ts, or the caller's classes through hooks.errors), or MessagingTimeout after `timeout` seconds (default
   * rpc_response_timeout), or earlier when `callMonitorTimeout` passes without a reply or a
   * heartbeat.
   */
  call<T = unknown>(target: Target, ctx: RequestContext, method: string, args: Record<string, unknown>,
    options: CallOptions = {}): Promise<T> {
    if (target.fanout) return Promise.reject(new InvalidTarget(`A call cannot be used with fanout: ${targetText(target)}`));
    if (this.closed) return Promise.reject(new MessagingTimeout('RPC client closed'));
    const timeoutS = options.timeout ?? this.transport.options.rpc_response_timeout;
    const cmS = options.callMonitorTimeout ?? null;
    const msgId = uuidHex();
    const started = Date.now();
    const deadline = started + timeoutS * 1000;
    const routingKey = target.server ? `${target.topic}.${target.server}` : target.topic;
    const log = this.log.child({ ...contextLogFields(ctx), msg_id: msgId, method });

    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        msgId, method, topic: routingKey, finalReply: null, cmTimeoutMs: cmS ? cmS * 1000 : null,
        cmTimer: null, timer: null, done: false,
        settle: (err, value) => {
          if (waiter.done) return;
          waiter.done = true;
          if (waiter.timer) clearTimeout(waiter.timer);
          if (waiter.cmTimer) clearTimeout(waiter.cmTimer);
          this.waiters.delete(msgId);
          if (err) reject(err);
          else resolve(value as T);
        },
      };
      const timedOut = (): void => {
        log.warn({ topic: routingKey, elapsed_ms: Date.now() - started }, 'RPC call timed out');
        waiter.settle(new MessagingTimeout(`Timed out waiting for a reply to message ID ${msgId}`));
      };
      waiter.timer = setTimeout(timedOut, Math.max(0, timeoutS * 1000));
      if (waiter.cmTimeoutMs !== null) waiter.cmTimer = setTimeout(timedOut, waiter.cmTimeoutMs);
      this.waiters.set(msgId, waiter);

      const send = async (): Promise<void> => {
        const replyQ = await this.ensureReplyQueue(deadline);
        if (waiter.done) return;
        const msg = buildRequestMessage(target, method, args, ctx, { msgId, replyQ, timeout: cmS });
        log.debug({ exchange: this.transport.options.control_exchange, topic: routingKey }, 'CALL');
        const body = encodeBody(msg);
        // Published mandatory: while no queue is bound for the routing key (no server yet, or
        // right after a broker restart before the server re-declared its queues) the broker
        // returns the call and we retry until the timeout instead of losing it.
        for (let attempt = 0; ; attempt++) {
          try {
            await this.transport.sender().publish(this.topicExchange(), routingKey, body,
              // expiration = the call timeout in ms (remaining time on a retry), as kombu sets it
              { ...MESSAGE_PROPERTIES, expiration: String(Math.max(1, Math.round(attempt === 0 ? timeoutS * 1000 : deadline - Date.now()))) },
              { deadline, mandatory: true });
            return;
          } catch (err) {
            if (!(err instanceof MessageUndeliverable) || waiter.done) throw err;
            if (attempt === 0) log.debug({ topic: routingKey }, 'no queue bound for the call yet; retrying until the timeout');
            await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** attempt)));
            if (waiter.done) return;
          }
        }
      };
      send().catch((err: unknown) => {
        if (waiter.done) return;
        if (err instanceof NotConnectedError) {
          waiter.settle(new MessagingTimeout(`Timed out waiting for a reply to message ID ${msgId} (${errText(err)})`));
        } else {
          log.error({ err: errText(err) }, 'RPC call could not be sent');
          waiter.settle(err instanceof Error ? err : new Error(errText(err)));
        }
      });
    });
  }

  /** A cast to `topic`/`topic.server`, or to `<topic>_fanout` when target.fanout. Resolves once the broker confirmed it. */
  async cast(target: Target, ctx: RequestContext, method: string, args: Record<string, unknown>): Promise<void> {
    if (this.closed) throw new Error('RPC client closed');
    const body = encodeBody(buildRequestMessage(target, method, args, ctx));
    const sender = this.transport.sender();
    if (target.fanout) {
      const exchange = fanoutExchange(this.transport.options.rabbit, target.topic);
      this.log.debug({ ...contextLogFields(ctx), method, exchange: exchange.name }, 'CAST FANOUT');
      await sender.publish(exchange, '', body, MESSAGE_PROPERTIES);
      return;
    }
    const routingKey = target.server ? `${target.topic}.${target.server}` : target.topic;
    this.log.debug({ ...contextLogFields(ctx), method, topic: routingKey }, 'CAST');
    await sender.publish(this.topicExchange(), routingKey, body, MESSAGE_PROPERTIES);
  }

  /** cast() to `<topic>_fanout` whatever target.fanout says. */
  fanoutCast(target: Target, ctx: RequestContext, method: string, args: Record<string, unknown>): Promise<void> {
    return this.cast({ ...target, fanout: true }, ctx, method, args);
  }

  /** Fails waiting calls and closes the reply connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.waiters.values()]) w.settle(new MessagingTimeout(`RPC client closed while waiting for message ID ${w.msgId}`));
    const conn = this.replyConn;
    this.replyConn = null;
    if (conn) await this.transport.releaseListener(conn);
  }

  // -------------------------------------------------------------------------------------------

  private topicExchange(): ExchangeSpec {
    const o = this.transport.options;
    return topicExchange(o.rabbit, o.control_exchange);
  }

  /** AMQPDriverBase._get_reply_q: one `reply_<hex>` queue per client, declared on first use. */
  private ensureReplyQueue(deadline: number): Promise<string> {
    if (!this.replyQReady) {
      const name = `reply_${uuidHex()}`;
      const conn = this.transport.listener('reply');
      this.replyConn = conn;
      // Replies in flight when the reply connection drops (a broker restart loses the
      // non-durable reply queue with them) will not come: fail those calls now rather than
      // at their timeout, so callers such as the heartbeat retry on their next round.
      conn.onDisconnect((reason) => {
        for (const w of [...this.waiters.values()]) {
          w.settle(new MessagingTimeout(`reply connection lost (${reason}) while waiting for message ID ${w.msgId}`));
        }
      });
      const o = this.transport.options.rabbit;
      this.replyQReady = conn.addConsumer({
        queue: name, ...transientQueue(o), consumeArguments: consumeArguments(o),
        onMessage: (msg, ack) => this.onReply(msg, ack),
      }).then(() => {
        this.replyQ = name;
        this.log.debug({ reply_q: name }, 'reply queue ready');
        return name;
      }, (err: unknown) => {
        this.replyQReady = null;
        this.replyConn = null;
        void this.transport.releaseListener(conn);
        throw err;
      });
    }
    const ready = this.replyQReady;
    const ms = Math.max(0, deadline - Date.now());
    return new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new NotConnectedError(`reply queue not ready within ${ms} ms`)), ms);
      ready.then((q) => { clearTimeout(t); resolve(q); }, (err: unknown) => { clearTimeout(t); reject(err); });
    });
  }

  /** ReplyWaiter.__call__ + wait(): heartbeats, one-message and two-message replies. */
  private onReply(raw: ConsumeMessage, ack: () => boolean): void {
    ack();
    let data: Record<string, unknown>;
    try {
      data = decodeBody(raw.content);
    } catch (err) {
      this.log.error({ err: errText(err) }, 'malformed reply message; dropped');
      return;
    }
    const msgId = typeof data._msg_id === 'string' ? data._msg_id : null;
    delete data._msg_id;
    const uniqueId = data._unique_id;
    delete data._unique_id;
    const waiter = msgId ? this.waiters.get(msgId) : undefined;
    if (!waiter) {
      this.log.info({ msg_id: msgId }, 'No calling threads waiting for msg_id');
      return;
    }
    if (typeof uniqueId === 'string' && this.replyDedup.checkAndAdd(uniqueId)) {
      this.log.warn({ msg_id: msgId, unique_id: uniqueId }, 'ignoring duplicate reply');
      return;
    }
    let result: unknown;
    if (data.failure) {
      result = deserializeRemoteException(data.failure, this.transport.options.allowed_remote_exmods, this.hooks.errors);
    } else {
      result = data.result ?? null;
    }
    const ending = data.ending === true || (data.ending !== undefined && data.ending !== null && data.ending !== false && data.ending !== 0 && data.ending !== '');
    if (result !== null) {
      waiter.finalReply = result;
    } else if (!ending) {
      this.log.debug({ msg_id: msgId }, 'Call monitor heartbeat received; renewing timeout timer');
      if (waiter.cmTimer && waiter.cmTimeoutMs !== null) {
        clearTimeout(waiter.cmTimer);
        waiter.cmTimer = setTimeout(() => {
          this.log.warn({ msg_id: msgId, topic: waiter.topic }, 'RPC call monitor timed out');
          waiter.settle(new MessagingTimeout(`Timed out waiting for a reply to message ID ${waiter.msgId}`));
        }, waiter.cmTimeoutMs);
      }
    }
    if (ending) {
      const final = waiter.finalReply;
      if (final instanceof PyError) waiter.settle(final);
      else waiter.settle(null, final);
    }
  }
}

/**
 * The inner request in oslo's key order (rpc/client.py _make_message, amqpdriver._send):
 * method, args, namespace (only when set), version, then for calls _msg_id, _reply_q,
 * _timeout, then _unique_id and the `_context_*` keys.
 */
export function buildRequestMessage(target: Pick<Target, 'namespace' | 'version'>, method: string, args: Record<string, unknown>,
  ctx: RequestContext, call?: { msgId: string; replyQ: string; timeout: number | null }, uniqueId: string = uuidHex()): Record<string, unknown> {
  const msg: Record<string, unknown> = { method, args };
  if (target.namespace !== undefined && target.namespace !== null) msg.namespace = target.namespace;
  if (target.version !== undefined && target.version !== null) msg.version = target.version;
  if (call) {
    msg._msg_id = call.msgId;
    msg._reply_q = call.replyQ;
    msg._timeout = call.timeout;
  }
  msg._unique_id = uniqueId;
  return packContext(msg, ctx);
}

function targetText(t: Target): string {
  return `<Target topic=${t.topic}${t.server ? `, server=${t.server}` : ''}, fanout=${t.fanout ? 'True' : 'False'}>`;
}
