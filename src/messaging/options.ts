/**
 * What the oslo.messaging layer needs from configuration, as a typed object (parsing a config
 * file is the application's business). Field names are the oslo option names, so an
 * `[oslo_messaging_rabbit]` section can be spread in. Defaults are oslo.messaging 14.0.3's.
 */
import { basename } from 'node:path';

export interface RabbitOptions {
  /** [oslo_messaging_rabbit] amqp_durable_queues (default false). */
  amqp_durable_queues: boolean;
  /** [oslo_messaging_rabbit] amqp_auto_delete (default false). */
  amqp_auto_delete: boolean;
  /** [oslo_messaging_rabbit] rabbit_ha_queues: queues declared with `x-ha-policy: all`. */
  rabbit_ha_queues: boolean;
  /** [oslo_messaging_rabbit] rabbit_quorum_queue: topic queues declared `x-queue-type: quorum`. */
  rabbit_quorum_queue: boolean;
  rabbit_quorum_delivery_limit: number;
  /** Spelled as in oslo.messaging 14.0.3 (sic). */
  rabbit_quroum_max_memory_length: number;
  rabbit_quroum_max_memory_bytes: number;
  /** Seconds; `x-expires` of reply and fanout queues (default 1800). */
  rabbit_transient_queues_ttl: number;
  /** Seconds before the first reconnect attempt (1). */
  rabbit_retry_interval: number;
  /** Seconds added per failed attempt (2). */
  rabbit_retry_backoff: number;
  /** Longest wait between attempts, seconds (30). */
  rabbit_interval_max: number;
  /** AMQP heartbeat, seconds (60; 0 disables). */
  heartbeat_timeout_threshold: number;
  /** basic.qos prefetch (0 = unlimited). */
  rabbit_qos_prefetch_count: number;
  /** SASL mechanism; RabbitMQ accepts both. */
  rabbit_login_method: 'AMQPLAIN' | 'PLAIN';
  /** How long a reply is retried while the caller's reply queue is missing, seconds (60). */
  kombu_missing_consumer_retry_timeout: number;
}

export interface MessagingOptions {
  /** rabbit://user:pass@host:port[,user:pass@host2:port]/vhost */
  transport_url: string;
  /** [DEFAULT] control_exchange (oslo: "openstack"; Nova sets "nova"). */
  control_exchange: string;
  /** [DEFAULT] rpc_response_timeout, seconds (60). */
  rpc_response_timeout: number;
  /** [DEFAULT] executor_thread_pool_size: concurrent handlers per server (64). */
  executor_thread_pool_size: number;
  /** Modules whose failures are rebuilt as typed errors (oslo: none; Nova: ["nova.exception"]). */
  allowed_remote_exmods: string[];
  /** Names the AMQP connections `<program>:<pid>:<uuid>` (oslo: the program's file name). */
  program_name: string;
  rabbit: RabbitOptions;
}

export const DEFAULT_RABBIT_OPTIONS: RabbitOptions = {
  amqp_durable_queues: false,
  amqp_auto_delete: false,
  rabbit_ha_queues: false,
  rabbit_quorum_queue: false,
  rabbit_quorum_delivery_limit: 0,
  rabbit_quroum_max_memory_length: 0,
  rabbit_quroum_max_memory_bytes: 0,
  rabbit_transient_queues_ttl: 1800,
  rabbit_retry_interval: 1,
  rabbit_retry_backoff: 2,
  rabbit_interval_max: 30,
  heartbeat_timeout_threshold: 60,
  rabbit_qos_prefetch_count: 0,
  rabbit_login_method: 'AMQPLAIN',
  kombu_missing_consumer_retry_timeout: 60,
};

export type MessagingOptionsInput = Partial<Omit<MessagingOptions, 'rabbit'>> & Pick<MessagingOptions, 'transport_url'> & {
  rabbit?: Partial<RabbitOptions>;
};

/** Fills in oslo's defaults. */
export function messagingOptions(input: MessagingOptionsInput): MessagingOptions {
  const rabbit: RabbitOptions = { ...DEFAULT_RABBIT_OPTIONS };
  for (const [k, v] of Object.entries(input.rabbit ?? {})) {
    if (v !== undefined) (rabbit as unknown as Record<string, unknown>)[k] = v;
  }
  if (rabbit.rabbit_quorum_queue && rabbit.rabbit_ha_queues) {
    throw new Error('Configuration Error: rabbit_quorum_queue and rabbit_ha_queues both enabled, queue type is quorum or HA (mirrored) not both');
  }
  return {
    transport_url: input.transport_url,
    control_exchange: input.control_exchange ?? 'openstack',
    rpc_response_timeout: input.rpc_response_timeout ?? 60,
    executor_thread_pool_size: input.executor_thread_pool_size ?? 64,
    allowed_remote_exmods: input.allowed_remote_exmods ?? [],
    program_name: input.program_name ?? basename(process.argv[1] ?? process.argv0),
    rabbit,
  };
}

/** Durable flag for topic exchanges/queues: quorum queues are always durable (impl_rabbit `durable`). */
export function topicDurable(o: RabbitOptions): boolean {
  return o.amqp_durable_queues || o.rabbit_quorum_queue;
}

/**
 * impl_rabbit._get_queue_arguments. `ttlSeconds` is rabbit_transient_queues_ttl for reply and
 * fanout queues and 0 for topic queues; quorum applies to topic queues only.
 */
export function queueArguments(o: RabbitOptions, ttlSeconds: number, quorum: boolean): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  if (o.rabbit_ha_queues) args['x-ha-policy'] = 'all';
  if (quorum && o.rabbit_quorum_queue) {
    args['x-queue-type'] = 'quorum';
    if (o.rabbit_quorum_delivery_limit) args['x-delivery-limit'] = o.rabbit_quorum_delivery_limit;
    if (o.rabbit_quroum_max_memory_length) args['x-max-in-memory-length'] = o.rabbit_quroum_max_memory_length;
    if (o.rabbit_quroum_max_memory_bytes) args['x-max-in-memory-bytes'] = o.rabbit_quroum_max_memory_bytes;
  }
  if (ttlSeconds > 0) args['x-expires'] = ttlSeconds * 1000;
  return args;
}

/** kombu retry_over_time as oslo configures it: 1, 3, 5, ... seconds, at most rabbit_interval_max. */
export function reconnectDelaySeconds(o: RabbitOptions, failedAttempts: number): number {
  const start = o.rabbit_retry_interval || 1;
  return Math.min(start + o.rabbit_retry_backoff * Math.max(0, failedAttempts), o.rabbit_interval_max);
}
