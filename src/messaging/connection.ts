/**
 * One AMQP connection that never gives up: connects to the first broker of the transport URL
 * that answers (over TLS with `ssl`, see tls.ts), reconnects after kombu_reconnect_delay with
 * oslo's backoff (rabbit_retry_interval 1, +rabbit_retry_backoff 2 per failure, at most
 * rabbit_interval_max 30 s) and re-declares every registered consumer on each new connection,
 * as oslo.messaging's rabbit driver does.
 *
 * A 'send' connection has a confirm channel (publisher confirms, like oslo's
 * `confirm_publish: True`); a 'listen' connection has a plain channel for consumers. Broker
 * errors are logged and end in a reconnect, never in an exception that escapes.
 */
import { randomUUID } from 'node:crypto';
import { Socket } from 'node:net';
import { connect, credentials, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type Options, type SocketOptions } from 'amqplib';
import type { Logger } from '../common/log.js';
import type { MessagingOptions } from './options.js';
import { lossDelaySeconds, reconnectDelaySeconds } from './options.js';
import type { BrokerHost, TransportUrl } from './transport-url.js';

export type ConnectionPurpose = 'send' | 'listen';

export interface ExchangeSpec {
  name: string;
  type: 'topic' | 'fanout' | 'direct';
  durable: boolean;
  autoDelete: boolean;
}

export interface ConsumerSpec {
  queue: string;
  durable: boolean;
  autoDelete: boolean;
  arguments: Record<string, unknown>;
  /** basic.consume arguments (x-cancel-on-ha-failover). */
  consumeArguments?: Record<string, unknown>;
  /** Exchange to declare and bind to; absent for queues on the default exchange (reply queues). */
  exchange?: ExchangeSpec;
  routingKey?: string;
  /** Called per delivery; `ack()` returns false when the ack could not be sent (channel gone). */
  onMessage(msg: ConsumeMessage, ack: () => boolean): void;
}

export interface ConnectionStatus {
  name: string;
  purpose: ConnectionPurpose;
  connected: boolean;
  /** host:port of the broker in use. */
  broker: string | null;
  connectedSince: string | null;
  lastError: string | null;
  /** Successful connections after the first. */
  reconnects: number;
}

/** The broker did not route a mandatory publish (the reply queue is gone): kombu's MessageUndeliverable. */
export class MessageUndeliverable extends Error {
  constructor(readonly exchange: string, readonly routingKey: string) {
    super(`message to exchange '${exchange}' with routing key '${routingKey}' was returned as unroutable`);
    this.name = 'MessageUndeliverable';
  }
}

/**
 * The broker refused to declare a queue or exchange (406 PRECONDITION_FAILED: it exists with
 * other flags or arguments, e.g. a classic queue where quorum is asked for). Retrying cannot
 * help: the settings must change or the old queue go.
 */
export class DeclarationRefused extends Error {
  constructor(readonly queue: string, brokerMessage: string) {
    super(`RabbitMQ refused to declare queue ${queue} or its exchange: ${brokerMessage}. It exists with other flags or arguments:`
      + ' every service must declare it with the same [oslo_messaging_rabbit] settings (rabbit_quorum_queue,'
      + ' rabbit_transient_quorum_queue, amqp_durable_queues, amqp_auto_delete, rabbit_ha_queues, rabbit_transient_queues_ttl,'
      + ' rabbit_quorum_*), or the old one must be deleted');
    this.name = 'DeclarationRefused';
  }
}

/** Waiting for the broker took longer than the caller allowed. */
export class NotConnectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotConnectedError';
  }
}

interface Waiter {
  resolve(v: { channel: Channel; generation: number }): void;
  reject(err: Error): void;
  timer?: NodeJS.Timeout;
}

interface RegisteredConsumer {
  spec: ConsumerSpec;
  declaredGeneration: number;
  consumerTag: string | null;
  /** Fails the addConsumer() still waiting for this consumer. */
  refuse?: (err: Error) => void;
}

/** AMQP properties oslo/kombu put on every message (trace rpc/*: properties). */
export const MESSAGE_PROPERTIES: Options.Publish = {
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  deliveryMode: 2,
  priority: 0,
  headers: {},
};

const CONNECT_TIMEOUT_MS = 10_000;
/** How long a close waits for the broker's close-ok before it cuts the socket, and a consumer's cancel for its cancel-ok. */
export const CLOSE_TIMEOUT_MS = 5_000;
/** AMQP channel-level refusals: access-refused, not-found, resource-locked, precondition-failed. */
const CHANNEL_ERROR_CODES = [403, 404, 405, 406];
const PRECONDITION_FAILED = 406;

export class AmqpConnection {
  readonly name: string;
  private model: ChannelModel | null = null;
  private channel: Channel | null = null;
  private generation = 0;
  private connectedFlag = false;
  private closed = false;
  private started = false;
  private hostIndex = 0;
  /** The transport URL's brokers, shuffled once as impl_rabbit does when there are several. */
  private readonly hosts: BrokerHost[];
  private everConnected = false;
  private currentHost: BrokerHost | null = null;
  private connectedSince: Date | null = null;
  private lastError: string | null = null;
  private successfulConnects = 0;
  private readonly consumers = new Map<string, RegisteredConsumer>();
  private readonly declaredExchanges = new Set<string>();
  private readonly waiters = new Set<Waiter>();
  private readonly disconnectListeners = new Set<(reason: string) => void>();
  private returned: string[] = [];
  private sleepTimer: NodeJS.Timeout | null = null;
  private wakeSleep: (() => void) | null = null;
  private loopDone: Promise<void> = Promise.resolve();

  constructor(
    private readonly url: TransportUrl,
    private readonly opts: MessagingOptions,
    private readonly log: Logger,
    readonly purpose: ConnectionPurpose,
  ) {
    this.name = `${opts.program_name}:${process.pid}:${randomUUID()}`;
    this.hosts = shuffled(url.hosts);
  }

  get connected(): boolean {
    return this.connectedFlag;
  }

  status(): ConnectionStatus {
    return {
      name: this.name,
      purpose: this.purpose,
      connected: this.connectedFlag,
      broker: this.currentHost ? `${this.currentHost.hostname}:${this.currentHost.port}` : null,
      connectedSince: this.connectedSince?.toISOString() ?? null,
      lastError: this.lastError,
      reconnects: Math.max(0, this.successfulConnects - 1),
    };
  }

  /** Starts connecting in the background (idempotent). */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.loopDone = this.run().catch((err: unknown) => {
      this.log.error({ err }, 'AMQP connection loop ended unexpectedly');
    });
  }

  /** Resolves with the live channel; waits for a (re)connection until `deadline` (epoch ms). */
  whenConnected(deadline?: number): Promise<{ channel: Channel; generation: number }> {
    if (this.closed) return Promise.reject(new NotConnectedError('AMQP connection closed'));
    this.start();
    if (this.connectedFlag && this.channel) return Promise.resolve({ channel: this.channel, generation: this.generation });
    return new Promise((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      if (deadline !== undefined) {
        const ms = Math.max(0, deadline - Date.now());
        w.timer = setTimeout(() => {
          this.waiters.delete(w);
          reject(new NotConnectedError(`no connection to the AMQP broker within ${ms} ms${this.lastError ? `: ${this.lastError}` : ''}`));
        }, ms);
      }
      this.waiters.add(w);
    });
  }

  /**
   * Registers a consumer (declared again on every reconnect) and resolves once it consumes.
   * A declaration the broker refuses (e.g. 406 inequivalent arguments) rejects and
   * unregisters it.
   */
  async addConsumer(spec: ConsumerSpec): Promise<void> {
    if (this.purpose !== 'listen') throw new Error('consumers need a listen connection');
    if (this.consumers.has(spec.queue)) throw new Error(`queue ${spec.queue} is already consumed`);
    const reg: RegisteredConsumer = { spec, declaredGeneration: -1, consumerTag: null };
    // A (re)connection declares every registered consumer (setup): one refused there ends here.
    const refusedInSetup = new Promise<never>((_, reject) => { reg.refuse = reject; });
    refusedInSetup.catch(() => undefined);
    this.consumers.set(spec.queue, reg);
    for (;;) {
      let conn: { channel: Channel; generation: number };
      try {
        conn = await Promise.race([this.whenConnected(), refusedInSetup]);
      } catch (err) {
        this.consumers.delete(spec.queue);
        throw err;
      }
      if (reg.declaredGeneration === conn.generation) return;
      try {
        await this.declareConsumer(conn.channel, reg, conn.generation);
        return;
      } catch (err) {
        // A refusal closes the channel, and with it (see setup) the connection: check it first,
        // or the refused queue would be declared again on every reconnect, forever.
        const refused = (err as { code?: unknown }).code === PRECONDITION_FAILED;
        if (!refused && (conn.generation !== this.generation || !this.connectedFlag)) continue; // lost the connection meanwhile: retry
        this.consumers.delete(spec.queue);
        this.resetConnection(`declaring ${spec.queue} failed: ${errText(err)}`);
        throw refused ? this.refusal(spec.queue, err) : err;
      }
    }
  }

  private refusal(queue: string, err: unknown): DeclarationRefused {
    const refusal = new DeclarationRefused(queue, errText(err));
    this.log.error({ connection: this.name, queue, err: refusal.message }, 'queue declaration refused by the broker');
    return refusal;
  }

  /**
   * Stops consuming a queue and forgets it (the queue itself stays, as in oslo). Waits for the
   * broker's cancel-ok at most CLOSE_TIMEOUT_MS: a broker that answers nothing must not hold a
   * stop.
   */
  async removeConsumer(queue: string): Promise<void> {
    const reg = this.consumers.get(queue);
    if (!reg) return;
    this.consumers.delete(queue);
    if (this.channel && reg.consumerTag && reg.declaredGeneration === this.generation) {
      let timer: NodeJS.Timeout | undefined;
      const unanswered = new Promise<void>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no cancel-ok within ${CLOSE_TIMEOUT_MS} ms`)), CLOSE_TIMEOUT_MS);
      });
      try {
        await Promise.race([this.channel.cancel(reg.consumerTag), unanswered]);
      } catch (err) {
        this.log.debug({ err: errText(err), queue }, 'cancel failed');
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /**
   * Publishes with a publisher confirm. Waits for a connection (until `deadline`), declares
   * the exchange once per connection, retries after a reconnect. `mandatory` publishes that
   * the broker returns reject with MessageUndeliverable.
   */
  async publish(exchange: ExchangeSpec | null, routingKey: string, body: Buffer, props: Options.Publish,
    opts: { mandatory?: boolean; deadline?: number } = {}): Promise<void> {
    if (this.purpose !== 'send') throw new Error('publishing needs a send connection');
    const exName = exchange?.name ?? '';
    let channelErrors = 0;
    for (;;) {
      const { channel, generation } = await this.whenConnected(opts.deadline);
      const ch = channel as ConfirmChannel;
      try {
        if (exchange && !this.declaredExchanges.has(exchange.name)) {
          await ch.assertExchange(exchange.name, exchange.type, { durable: exchange.durable, autoDelete: exchange.autoDelete });
          this.declaredExchanges.add(exchange.name);
        }
        await new Promise<void>((resolve, reject) => {
          ch.publish(exName, routingKey, body, { ...props, mandatory: opts.mandatory === true }, (err: unknown) => {
            if (err) reject(err instanceof Error ? err : new Error(`publish not confirmed: ${errText(err)}`));
            else resolve();
          });
        });
        if (opts.mandatory && this.takeReturned(routingKey, body)) throw new MessageUndeliverable(exName, routingKey);
        return;
      } catch (err) {
        if (err instanceof MessageUndeliverable) throw err;
        const code = (err as { code?: unknown }).code;
        if (typeof code === 'number' && CHANNEL_ERROR_CODES.includes(code)) {
          // The broker refused (e.g. 406: exchange exists with other flags): one fresh try, then give up.
          channelErrors += 1;
          if (generation === this.generation && this.connectedFlag) this.resetConnection(`publish to '${exName}' refused: ${errText(err)}`);
          if (channelErrors > 1) throw err;
          continue;
        }
        if (generation !== this.generation || !this.connectedFlag) {
          this.log.debug({ err: errText(err), exchange: exName, routing_key: routingKey }, 'publish interrupted by a connection loss; retrying');
          continue;
        }
        // Nacked, or an error we cannot classify: one fresh try, then give up.
        channelErrors += 1;
        this.resetConnection(`publish to '${exName}' failed: ${errText(err)}`);
        if (channelErrors > 1) throw err;
      }
    }
  }

  /** Closes for good: consumers stop, waiters reject, no reconnect. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(new NotConnectedError('AMQP connection closed'));
    }
    this.waiters.clear();
    if (this.wakeSleep) this.wakeSleep();
    if (this.model) await this.closeModel(this.model);
    await this.loopDone;
  }

  /** Drops the current connection; the loop reconnects (used after channel errors and consumer cancels). */
  resetConnection(reason: string): void {
    const model = this.model;
    if (!model) return;
    this.log.warn({ connection: this.name, reason }, 'resetting AMQP connection');
    this.lastError = reason;
    this.markDisconnected();
    void this.closeModel(model);
  }

  /**
   * Closes an amqplib connection and resolves once it is closed, however that happens.
   * amqplib's close() never settles when the socket ends before the broker's CloseOk (a broker
   * going away as we stop), so its 'close' event counts too; and a broker that answers nothing
   * has the socket cut after CLOSE_TIMEOUT_MS, which ends in that event as well (the run loop
   * waits for it). The errors of a connection being closed are not news: they are only kept
   * from escaping as unhandled 'error' events.
   */
  private closeModel(model: ChannelModel): Promise<void> {
    if (!model.listeners('error').includes(ignoreError)) model.on('error', ignoreError);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        model.off('close', done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.log.warn({ connection: this.name, timeout_ms: CLOSE_TIMEOUT_MS }, 'the AMQP server did not confirm the close; cutting the connection');
        socketOf(model)?.destroy(new Error(`no close-ok within ${CLOSE_TIMEOUT_MS} ms`));
        done();
      }, CLOSE_TIMEOUT_MS);
      model.once('close', done);
      model.close().then(done, done);
    });
  }

  // -------------------------------------------------------------------------------------------

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      let model: ChannelModel;
      try {
        model = await this.connectAnyHost();
      } catch (err) {
        this.lastError = errText(err);
        const delay = this.retryDelay(failures);
        failures += 1;
        this.log.error({ connection: this.name, err: this.lastError, retry_in_s: delay },
          'AMQP server is unreachable; trying again');
        await this.sleep(delay * 1000);
        continue;
      }
      if (this.closed) {
        await this.closeModel(model);
        break;
      }
      const closedPromise = new Promise<Error | undefined>((resolve) => {
        model.once('close', (err?: Error) => resolve(err));
      });
      model.on('error', (err: Error) => {
        this.lastError = errText(err);
        this.log.warn({ connection: this.name, err: this.lastError }, 'AMQP connection error');
      });
      model.on('blocked', (reason: string) => this.log.warn({ connection: this.name, reason }, 'the broker has blocked the connection'));
      model.on('unblocked', () => this.log.info({ connection: this.name }, 'the broker has unblocked the connection'));
      this.model = model;
      try {
        await this.setup(model);
      } catch (err) {
        this.lastError = errText(err);
        const delay = this.retryDelay(failures);
        failures += 1;
        this.log.error({ connection: this.name, err: this.lastError, retry_in_s: delay }, 'AMQP channel setup failed; reconnecting');
        this.markDisconnected();
        await this.closeModel(model);
        this.model = null;
        await this.sleep(delay * 1000);
        continue;
      }
      failures = 0;
      const closeErr = await closedPromise;
      this.markDisconnected();
      this.model = null;
      if (this.closed) break;
      this.lastError = closeErr ? errText(closeErr) : this.lastError ?? 'connection closed';
      const pause = lossDelaySeconds(this.opts.rabbit);
      this.log.error({ connection: this.name, err: this.lastError, retry_in_s: pause }, 'AMQP connection lost; reconnecting');
      await this.sleep(pause * 1000);
    }
    this.markDisconnected();
  }

  /** Backoff after a failed attempt; once connected before, kombu_reconnect_delay (+ splay) on top, as impl_rabbit ensure(). */
  private retryDelay(failures: number): number {
    return reconnectDelaySeconds(this.opts.rabbit, failures) + (this.everConnected ? lossDelaySeconds(this.opts.rabbit) : 0);
  }

  private async connectAnyHost(): Promise<ChannelModel> {
    const hosts = this.hosts;
    let lastErr: unknown = new Error('no broker host');
    // round-robin: the next broker after the one that failed; shuffle: any, at random (kombu).
    const order = this.opts.rabbit.kombu_failover_strategy === 'shuffle'
      ? shuffled(hosts.map((_, i) => i))
      : hosts.map((_, i) => (this.hostIndex + i) % hosts.length);
    for (const idx of order) {
      const h = hosts[idx];
      try {
        const model = await connect(...amqpConnectArguments(this.opts, this.url.virtualHost, h, this.name));
        this.hostIndex = idx;
        this.currentHost = h;
        return model;
      } catch (err) {
        lastErr = err;
        this.log.warn({ connection: this.name, broker: `${h.hostname}:${h.port}`, err: errText(err) }, 'AMQP connect failed');
      }
    }
    throw lastErr;
  }

  private async setup(model: ChannelModel): Promise<void> {
    const generation = this.generation + 1;
    const channel: Channel = this.purpose === 'send' ? await model.createConfirmChannel() : await model.createChannel();
    channel.on('error', (err: Error) => {
      this.lastError = errText(err);
      this.log.warn({ connection: this.name, err: this.lastError }, 'AMQP channel error');
    });
    channel.on('close', () => {
      // A channel closed by the broker while the connection lives (channel error, e.g. 404/406).
      // Deferred: when the whole connection goes, its own close event comes right after.
      setImmediate(() => {
        if (this.channel === channel && !this.closed && this.connectedFlag) this.resetConnection('channel closed by the broker');
      });
    });
    channel.on('return', (msg: ConsumeMessage) => {
      this.returned.push(returnKey(msg.fields.routingKey, msg.content));
      if (this.returned.length > 1000) this.returned.splice(0, this.returned.length - 1000);
    });
    this.declaredExchanges.clear();
    this.returned = [];
    if (this.purpose === 'listen') {
      if (this.opts.rabbit.rabbit_qos_prefetch_count > 0) await channel.prefetch(this.opts.rabbit.rabbit_qos_prefetch_count);
      for (const reg of this.consumers.values()) {
        try {
          await this.declareConsumer(channel, reg, generation);
        } catch (err) {
          if ((err as { code?: unknown }).code !== PRECONDITION_FAILED) throw err;
          // Refused: a consumer still being added fails and is dropped; one that consumed before
          // (its queue was re-declared otherwise meanwhile) is tried again on the next connection.
          const refusal = this.refusal(reg.spec.queue, err);
          if (reg.declaredGeneration < 0 && reg.refuse) {
            this.consumers.delete(reg.spec.queue);
            reg.refuse(refusal);
          }
          throw refusal;
        }
      }
    }
    this.generation = generation;
    this.channel = channel;
    this.connectedFlag = true;
    this.connectedSince = new Date();
    this.successfulConnects += 1;
    this.everConnected = true;
    const broker = this.currentHost ? `${this.currentHost.hostname}:${this.currentHost.port}` : null;
    if (this.successfulConnects > 1) this.log.info({ connection: this.name, broker, consumers: this.consumers.size }, 'reconnected to the AMQP server');
    else this.log.info({ connection: this.name, broker, purpose: this.purpose }, 'connected to the AMQP server');
    for (const w of this.waiters) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve({ channel, generation });
    }
    this.waiters.clear();
  }

  private async declareConsumer(channel: Channel, reg: RegisteredConsumer, generation: number): Promise<void> {
    const s = reg.spec;
    if (s.exchange) {
      await channel.assertExchange(s.exchange.name, s.exchange.type, { durable: s.exchange.durable, autoDelete: s.exchange.autoDelete });
    }
    await channel.assertQueue(s.queue, { durable: s.durable, autoDelete: s.autoDelete, exclusive: false, arguments: s.arguments });
    if (s.exchange) await channel.bindQueue(s.queue, s.exchange.name, s.routingKey ?? '');
    const ok = await channel.consume(s.queue, (msg) => {
      if (msg === null) {
        // consumer_cancel_notify: the queue was deleted or its node went away.
        if (this.consumers.get(s.queue) === reg) this.resetConnection(`consumer of ${s.queue} cancelled by the broker`);
        return;
      }
      // Removed, its cancel not (yet) confirmed: left unacknowledged, the broker gives it to
      // another consumer once this channel closes.
      if (this.consumers.get(s.queue) !== reg) return;
      const ack = (): boolean => {
        try {
          channel.ack(msg);
          return true;
        } catch (err) {
          this.log.warn({ err: errText(err), queue: s.queue }, 'failed to acknowledge a message');
          return false;
        }
      };
      try {
        s.onMessage(msg, ack);
      } catch (err) {
        this.log.error({ err, queue: s.queue }, 'message handler threw; message skipped');
      }
    }, { noAck: false, arguments: s.consumeArguments ?? {} });
    reg.consumerTag = ok.consumerTag;
    reg.declaredGeneration = generation;
  }

  private takeReturned(routingKey: string, body: Buffer): boolean {
    const key = returnKey(routingKey, body);
    const i = this.returned.indexOf(key);
    if (i < 0) return false;
    this.returned.splice(i, 1);
    return true;
  }

  /** Called each time an established connection goes down; returns the unsubscribe function. */
  onDisconnect(listener: (reason: string) => void): () => void {
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }

  private markDisconnected(): void {
    if (this.connectedFlag) {
      this.log.debug({ connection: this.name }, 'AMQP connection down');
      for (const l of this.disconnectListeners) l(this.lastError ?? 'connection lost');
    }
    this.connectedFlag = false;
    this.channel = null;
    this.connectedSince = null;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      this.wakeSleep = () => {
        if (this.sleepTimer) clearTimeout(this.sleepTimer);
        this.sleepTimer = null;
        this.wakeSleep = null;
        resolve();
      };
      this.sleepTimer = setTimeout(() => this.wakeSleep?.(), ms);
    });
  }
}

/**
 * amqplib's connect() arguments for one broker: TLS, SASL mechanism, heartbeat, our connection
 * name, and TCP_NODELAY as py-amqp sets it: amqplib writes a message of 2 KiB or more in two
 * writes, and Nagle held the second until the broker's delayed ACK, about 40 ms a message.
 */
export function amqpConnectArguments(opts: MessagingOptions, virtualHost: string, h: BrokerHost, connectionName: string): [Options.Connect, SocketOptions] {
  return [{
    protocol: opts.tls ? 'amqps' : 'amqp',
    hostname: h.hostname,
    port: h.port,
    username: h.username,
    password: h.password,
    vhost: encodeURIComponent(virtualHost),
    heartbeat: opts.rabbit.heartbeat_timeout_threshold,
  }, {
    ...opts.tls,
    credentials: loginCredentials(opts.rabbit.rabbit_login_method, h),
    timeout: CONNECT_TIMEOUT_MS,
    noDelay: true,
    clientProperties: { connection_name: connectionName },
  }];
}

/** SASL: EXTERNAL presents the TLS client certificate instead of a password. */
function loginCredentials(method: MessagingOptions['rabbit']['rabbit_login_method'], h: BrokerHost): Options.Connect['credentials'] {
  if (method === 'EXTERNAL') return credentials.external();
  return method === 'PLAIN' ? credentials.plain(h.username, h.password) : credentials.amqplain(h.username, h.password);
}

const ignoreError = (): void => undefined;

/** The socket under an amqplib connection, which its typings do not show. */
function socketOf(model: ChannelModel): { destroy(err?: Error): void } | undefined {
  const stream = (model.connection as { stream?: unknown }).stream;
  return stream instanceof Socket ? stream : undefined;
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function returnKey(routingKey: string, body: Buffer): string {
  return `${routingKey}\u0000${body.toString('base64')}`;
}

/** An error as one line of text (amqplib errors carry code/classId). */
export function errText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
