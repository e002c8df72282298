/**
 * Every oslo.messaging option, defined once: the tables below are what an application's
 * config loader reads from its files (src/config/options.ts builds its `[DEFAULT]` and
 * `[oslo_messaging_rabbit]` groups from them) and what this layer consumes, typed by the
 * same tables. Names, types, bounds and defaults are oslo.messaging 16.1.0's (2025.1)
 * `rabbit_opts`, `amqp_opts` and global options, with the names older releases used kept as
 * deprecated aliases.
 *
 * Each option is either honoured, `inert` (accepted: its job is done another way here, the
 * help says how) or `unsupported` (any value but its default is refused with one line).
 * Values in the transport URL's query (`rabbit://h/?ssl=true`) override the rabbit options,
 * as oslo's ConfigOptsProxy does.
 */
import { basename } from 'node:path';
export { MessagingOptionError } from './option-error.js';
import { MessagingOptionError } from './option-error.js';
import { tlsConnectOptions, type TlsConnectOptions } from './tls.js';
import { parseTransportUrl } from './transport-url.js';

export type OptionType = 'string' | 'integer' | 'float' | 'boolean' | 'list' | 'uri';

export interface OptionDef {
  readonly name: string;
  readonly type: OptionType;
  readonly help: string;
  /** Absent: unset unless a file sets it. */
  readonly default?: string | number | boolean | readonly string[];
  /** The default as a sample file shows it, where it is computed at run time. */
  readonly sampleDefault?: string;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
  readonly secret?: boolean;
  /** Older names of the option, read when the current one is not set. */
  readonly deprecatedNames?: readonly string[];
  /** Any value but the default is refused: why. */
  readonly unsupported?: string;
  /** Accepted, but its job is done another way here: how (logged when set). */
  readonly inert?: string;
}

/** `[oslo_messaging_rabbit]`. */
export const RABBIT_OPTION_DEFS = [
  { name: 'amqp_durable_queues', type: 'boolean', default: false, help: 'Declare topic queues and the control exchange durable (always so with rabbit_quorum_queue).' },
  { name: 'amqp_auto_delete', type: 'boolean', default: false, help: 'Declare topic queues and the control exchange auto-delete.' },
  { name: 'rpc_conn_pool_size', type: 'integer', default: 30, min: 1, help: 'Most connections kept for sending. Inert: one publishing connection, with publisher confirms, serves the whole process.', inert: 'one publishing connection, with publisher confirms, serves the whole process' },
  { name: 'conn_pool_min_size', type: 'integer', default: 2, help: 'Connections the pool keeps when they expire. Inert, as rpc_conn_pool_size.', inert: 'there is no connection pool' },
  { name: 'conn_pool_ttl', type: 'integer', default: 1200, help: 'Seconds an idle pooled connection lives. Inert, as rpc_conn_pool_size.', inert: 'there is no connection pool' },
  { name: 'ssl', type: 'boolean', default: false, deprecatedNames: ['rabbit_use_ssl'], help: 'Connect over TLS (amqps). The broker\'s certificate chain is verified against ssl_ca_file (or the system\'s CAs), its host name is not (as oslo.messaging).' },
  { name: 'ssl_version', type: 'string', default: '', deprecatedNames: ['kombu_ssl_version'], help: 'TLS version: TLSv1, TLSv1_1, TLSv1_2 (exactly that one) or SSLv23 (the highest both sides speak); empty: negotiated.' },
  { name: 'ssl_key_file', type: 'string', default: '', deprecatedNames: ['kombu_ssl_keyfile'], help: 'Private key of the client certificate (PEM).' },
  { name: 'ssl_cert_file', type: 'string', default: '', deprecatedNames: ['kombu_ssl_certfile'], help: 'Client certificate (PEM), presented to the broker.' },
  { name: 'ssl_ca_file', type: 'string', default: '', deprecatedNames: ['kombu_ssl_ca_certs'], help: 'CA certificates (PEM) the broker\'s certificate must chain to.' },
  { name: 'ssl_enforce_fips_mode', type: 'boolean', default: false, unsupported: 'OpenSSL FIPS mode cannot be switched on from here', help: 'Enforce OpenSSL FIPS mode. Not supported: true is refused.' },
  { name: 'heartbeat_in_pthread', type: 'boolean', default: false, help: 'Deprecated in oslo.messaging. Inert: the heartbeat runs on its own timer whatever the handlers do, which is what true asks for.', inert: 'the heartbeat runs on its own timer whatever the handlers do' },
  { name: 'kombu_reconnect_delay', type: 'float', default: 1.0, min: 0, max: 4.5, help: 'Seconds to wait before reconnecting after a lost connection or a consumer cancel notification.' },
  { name: 'kombu_reconnect_splay', type: 'float', default: 0.0, min: 0, help: 'Up to this many random seconds added to kombu_reconnect_delay.' },
  { name: 'kombu_compression', type: 'string', unsupported: 'messages are not compressed', help: 'Compression of sent messages (gzip, bz2). Not supported: setting it is refused.' },
  { name: 'kombu_missing_consumer_retry_timeout', type: 'integer', default: 60, deprecatedNames: ['kombu_reconnect_timeout'], help: 'Seconds a reply is retried while the caller\'s reply queue is missing.' },
  { name: 'kombu_failover_strategy', type: 'string', default: 'round-robin', choices: ['round-robin', 'shuffle'], help: 'Next broker of the transport URL after a failure: the following one, or one at random.' },
  { name: 'rabbit_login_method', type: 'string', default: 'AMQPLAIN', choices: ['PLAIN', 'AMQPLAIN', 'EXTERNAL', 'RABBIT-CR-DEMO'], help: 'SASL mechanism; EXTERNAL authenticates with the TLS client certificate. RABBIT-CR-DEMO is refused.' },
  { name: 'rabbit_retry_interval', type: 'integer', default: 1, min: 1, help: 'Seconds before the first reconnect attempt.' },
  { name: 'rabbit_retry_backoff', type: 'integer', default: 2, min: 0, help: 'Seconds added to the wait after each failed attempt.' },
  { name: 'rabbit_interval_max', type: 'integer', default: 30, min: 1, help: 'Longest wait between reconnect attempts, seconds.' },
  { name: 'rabbit_ha_queues', type: 'boolean', default: false, help: 'Declare queues with x-ha-policy: all. RabbitMQ 3.0 and later ignore that argument: mirroring needs a policy (rabbitmqctl set_policy). Exclusive with rabbit_quorum_queue.' },
  { name: 'rabbit_quorum_queue', type: 'boolean', default: false, help: 'Declare topic queues as quorum queues (x-queue-type: quorum, durable, as is the control exchange).' },
  { name: 'rabbit_transient_quorum_queue', type: 'boolean', default: false, help: 'Declare reply and fanout queues as quorum queues too (durable, x-expires kept; the fanout exchange durable).' },
  { name: 'rabbit_quorum_delivery_limit', type: 'integer', default: 0, help: 'x-delivery-limit of quorum queues (0: none).' },
  { name: 'rabbit_quorum_max_memory_length', type: 'integer', default: 0, deprecatedNames: ['rabbit_quroum_max_memory_length'], help: 'x-max-in-memory-length of quorum queues (0: none).' },
  { name: 'rabbit_quorum_max_memory_bytes', type: 'integer', default: 0, deprecatedNames: ['rabbit_quroum_max_memory_bytes'], help: 'x-max-in-memory-bytes of quorum queues (0: none).' },
  { name: 'rabbit_transient_queues_ttl', type: 'integer', default: 1800, min: 0, help: 'x-expires of reply and fanout queues, seconds (0: none).' },
  { name: 'rabbit_qos_prefetch_count', type: 'integer', default: 0, help: 'basic.qos prefetch of each consuming channel (0: unlimited).' },
  { name: 'heartbeat_timeout_threshold', type: 'integer', default: 60, min: 0, help: 'AMQP heartbeat, seconds (0 disables): a broker silent for two periods is dropped.' },
  { name: 'heartbeat_rate', type: 'integer', default: 3, min: 1, help: 'How often per heartbeat_timeout_threshold kombu checks the heartbeat. Inert: the AMQP client checks on its own timer.', inert: 'the AMQP client checks heartbeats on its own timer' },
  { name: 'direct_mandatory_flag', type: 'boolean', default: true, help: 'Publish replies mandatory, so a reply to a missing reply queue is retried for kombu_missing_consumer_retry_timeout.' },
  { name: 'enable_cancel_on_failover', type: 'boolean', default: false, help: 'Consume with x-cancel-on-ha-failover, so the broker cancels consumers of a mirrored queue that fails over.' },
  { name: 'use_queue_manager', type: 'boolean', default: false, unsupported: 'reply and fanout queues have random names', help: 'Stable reply and fanout queue names. Not supported: true is refused.' },
  { name: 'hostname', type: 'string', default: '', sampleDefault: 'node1.example.com', help: 'Host name for use_queue_manager. Inert, as use_queue_manager is not supported.', inert: 'use_queue_manager is not supported' },
  { name: 'processname', type: 'string', default: '', sampleDefault: 'nova-api', help: 'Process name for use_queue_manager. Inert, as use_queue_manager is not supported.', inert: 'use_queue_manager is not supported' },
  { name: 'rabbit_stream_fanout', type: 'boolean', default: false, unsupported: 'fanout queues are not streams', help: 'One stream queue per fanout. Not supported: true is refused.' },
] as const satisfies readonly OptionDef[];

/** The oslo.messaging options of `[DEFAULT]`. */
export const MESSAGING_DEFAULT_OPTION_DEFS = [
  { name: 'transport_url', type: 'uri', secret: true, help: 'oslo.messaging transport: rabbit://user:pass@host:port[,user:pass@host2:port]/vhost[?option=value]; query options override [oslo_messaging_rabbit].' },
  { name: 'control_exchange', type: 'string', default: 'openstack', help: 'AMQP exchange of the RPC topics.' },
  { name: 'rpc_response_timeout', type: 'integer', default: 60, min: 1, help: 'Seconds to wait for a reply to an RPC call.' },
  { name: 'executor_thread_pool_size', type: 'integer', default: 64, min: 1, deprecatedNames: ['rpc_thread_pool_size'], help: 'Requests one RPC server handles at once; more wait, unacknowledged, in the broker\'s order.' },
  { name: 'rpc_ping_enabled', type: 'boolean', default: false, help: 'RPC servers answer oslo_rpc_server_ping with "pong".' },
] as const satisfies readonly OptionDef[];

type ValueOf<O> = O extends { readonly choices: readonly (infer C)[] } ? C
  : O extends { readonly type: 'boolean' } ? boolean
    : O extends { readonly type: 'integer' | 'float' } ? number
      : O extends { readonly type: 'list' } ? string[] : string;

/** The values of a table: options with a default are always there, others may be absent. */
export type OptionValues<T extends readonly OptionDef[]> =
  { -readonly [O in T[number] as O extends { readonly default: unknown } ? O['name'] : never]: ValueOf<O> }
  & { -readonly [O in T[number] as O extends { readonly default: unknown } ? never : O['name']]?: ValueOf<O> };

export type RabbitOptions = OptionValues<typeof RABBIT_OPTION_DEFS>;

export interface MessagingOptions {
  transport_url: string;
  control_exchange: string;
  rpc_response_timeout: number;
  executor_thread_pool_size: number;
  rpc_ping_enabled: boolean;
  /** Modules whose failures are rebuilt as typed errors (oslo: none; Nova: ["nova.exception"]). */
  allowed_remote_exmods: string[];
  /** Names the AMQP connections `<program>:<pid>:<uuid>` (oslo: the program's file name). */
  program_name: string;
  /** The rabbit options in effect: files, then the transport URL's query. */
  rabbit: RabbitOptions;
  /** What TLS connections use (files read once, at start); null without ssl. */
  tls: TlsConnectOptions | null;
}

function defaultsOf(defs: readonly OptionDef[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const d of defs) if (d.default !== undefined) out[d.name] = Array.isArray(d.default) ? [...d.default] : d.default;
  return out;
}

export const DEFAULT_RABBIT_OPTIONS: RabbitOptions = defaultsOf(RABBIT_OPTION_DEFS) as RabbitOptions;

export type MessagingOptionsInput = Partial<Omit<MessagingOptions, 'rabbit'>> & Pick<MessagingOptions, 'transport_url'> & {
  rabbit?: Partial<RabbitOptions>;
};

const TRUE_WORDS = ['true', 'yes', 'on', '1'];
const FALSE_WORDS = ['false', 'no', 'off', '0'];

/** A transport URL query value as its option's type (oslo.config's type conversion). */
function convertOptionText(def: OptionDef, text: string): unknown {
  const t = text.trim();
  switch (def.type) {
    case 'boolean':
      if (TRUE_WORDS.includes(t.toLowerCase())) return true;
      if (FALSE_WORDS.includes(t.toLowerCase())) return false;
      throw new MessagingOptionError(def.name, `must be a boolean (true/false), got ${JSON.stringify(text)}`);
    case 'integer':
    case 'float': {
      const n = Number(t);
      if (t === '' || Number.isNaN(n) || (def.type === 'integer' && !Number.isInteger(n))) {
        throw new MessagingOptionError(def.name, `must be ${def.type === 'integer' ? 'an integer' : 'a number'}, got ${JSON.stringify(text)}`);
      }
      return n;
    }
    case 'list':
      return t.split(',').map((s) => s.trim()).filter((s) => s !== '');
    default:
      return text;
  }
}

/** Bounds, choices and refusals of one option's value. */
function checkValue(def: OptionDef, value: unknown): void {
  if (typeof value === 'number') {
    if (def.min !== undefined && value < def.min) throw new MessagingOptionError(def.name, `must be >= ${def.min}, got ${value}`);
    if (def.max !== undefined && value > def.max) throw new MessagingOptionError(def.name, `must be <= ${def.max}, got ${value}`);
  }
  if (def.choices && !def.choices.includes(String(value))) {
    throw new MessagingOptionError(def.name, `must be one of ${def.choices.join(', ')}, got ${JSON.stringify(value)}`);
  }
  if (def.unsupported && value !== undefined && value !== def.default) {
    throw new MessagingOptionError(def.name, `not supported by this oslo.messaging implementation (${def.unsupported}); leave it unset`);
  }
}

const SSL_VERSIONS = ['tlsv1', 'tlsv1_1', 'tlsv1_2', 'sslv23'];

/** Rules between options (impl_rabbit RabbitDriver and Connection.__init__, _get_queue_arguments). */
/** `tls`: the connection uses TLS (`ssl`, or an amqps:// transport URL). */
function checkRabbit(o: RabbitOptions, tls: boolean): void {
  for (const def of RABBIT_OPTION_DEFS) checkValue(def, (o as Record<string, unknown>)[def.name]);
  if (o.rpc_conn_pool_size < o.conn_pool_min_size) {
    throw new MessagingOptionError('rpc_conn_pool_size', `rpc_conn_pool_size ${o.rpc_conn_pool_size} must be greater than or equal to conn_pool_min_size ${o.conn_pool_min_size}`);
  }
  for (const quorum of ['rabbit_quorum_queue', 'rabbit_transient_quorum_queue'] as const) {
    if (o[quorum] && o.rabbit_ha_queues) {
      throw new MessagingOptionError(quorum, `${quorum} and rabbit_ha_queues both enabled: the queue type is quorum or HA (mirrored), not both`);
    }
  }
  if (o.rabbit_login_method === 'RABBIT-CR-DEMO') {
    throw new MessagingOptionError('rabbit_login_method', 'RABBIT-CR-DEMO is not supported; use AMQPLAIN, PLAIN or EXTERNAL');
  }
  if (tls && o.ssl_version && !SSL_VERSIONS.includes(o.ssl_version.toLowerCase())) {
    throw new MessagingOptionError('ssl_version', `invalid SSL version ${JSON.stringify(o.ssl_version)}: one of TLSv1, TLSv1_1, TLSv1_2, SSLv23`);
  }
  if (o.rabbit_login_method === 'EXTERNAL' && !(tls && o.ssl_cert_file)) {
    throw new MessagingOptionError('rabbit_login_method', 'EXTERNAL needs TLS (ssl = true or amqps://) and an ssl_cert_file to authenticate with');
  }
  if (tls && o.ssl_key_file && !o.ssl_cert_file) {
    throw new MessagingOptionError('ssl_key_file', 'a key without ssl_cert_file has no certificate to go with');
  }
}

/** The rabbit options the transport URL's query sets; unknown names are refused as oslo does. */
function rabbitFromQuery(query: Record<string, string>): Partial<RabbitOptions> {
  const out: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(query)) {
    const def = RABBIT_OPTION_DEFS.find((d) => d.name === key || (d as OptionDef).deprecatedNames?.includes(key));
    if (!def) throw new MessagingOptionError('transport_url', `the query names ${JSON.stringify(key)}, which is no [oslo_messaging_rabbit] option`);
    try {
      out[def.name] = convertOptionText(def, text);
      checkValue(def, out[def.name]);
    } catch (err) {
      throw new MessagingOptionError('transport_url', `query ${key}: ${(err as Error).message}`);
    }
  }
  return out as Partial<RabbitOptions>;
}

/** Fills in the defaults, applies the transport URL's query and refuses what cannot work. */
export function messagingOptions(input: MessagingOptionsInput): MessagingOptions {
  const rabbit = { ...DEFAULT_RABBIT_OPTIONS } as Record<string, unknown>;
  const url = parseTransportUrl(input.transport_url);
  const fromQuery = rabbitFromQuery(url.query);
  for (const source of [input.rabbit ?? {}, fromQuery]) {
    for (const [k, v] of Object.entries(source)) if (v !== undefined) rabbit[k] = v;
  }
  const o = rabbit as RabbitOptions;
  const tls = o.ssl || url.transport === 'amqps';
  checkRabbit(o, tls);
  const d = defaultsOf(MESSAGING_DEFAULT_OPTION_DEFS);
  return {
    transport_url: input.transport_url,
    control_exchange: input.control_exchange ?? d.control_exchange as string,
    rpc_response_timeout: input.rpc_response_timeout ?? d.rpc_response_timeout as number,
    executor_thread_pool_size: input.executor_thread_pool_size ?? d.executor_thread_pool_size as number,
    rpc_ping_enabled: input.rpc_ping_enabled ?? d.rpc_ping_enabled as boolean,
    allowed_remote_exmods: input.allowed_remote_exmods ?? [],
    program_name: input.program_name ?? basename(process.argv[1] ?? process.argv0),
    rabbit: o,
    tls: tls ? tlsConnectOptions(o) : null,
  };
}

/** The inert options set to something else than their default, and why that changes nothing here. */
export function inertSettings(o: RabbitOptions): string[] {
  return (RABBIT_OPTION_DEFS as readonly OptionDef[])
    .filter((d) => d.inert && (o as Record<string, unknown>)[d.name] !== d.default)
    .map((d) => `${d.name} has no effect: ${d.inert as string}`);
}

/** kombu retry_over_time as oslo configures it: 1, 3, 5, ... seconds, at most rabbit_interval_max. */
export function reconnectDelaySeconds(o: RabbitOptions, failedAttempts: number): number {
  const start = o.rabbit_retry_interval || 1;
  return Math.min(start + o.rabbit_retry_backoff * Math.max(0, failedAttempts), o.rabbit_interval_max);
}

/** kombu_reconnect_delay plus up to kombu_reconnect_splay: the pause before reconnecting after a loss. */
export function lossDelaySeconds(o: RabbitOptions, random: () => number = Math.random): number {
  return o.kombu_reconnect_delay + (o.kombu_reconnect_splay > 0 ? random() * o.kombu_reconnect_splay : 0);
}
