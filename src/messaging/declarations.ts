/**
 * What each queue and exchange is declared with, from the rabbit options, as impl_rabbit
 * does: topic queues and the control exchange (declare_topic_consumer, topic_send), a
 * server's fanout queue and exchange (declare_fanout_consumer, fanout_send) and a client's
 * reply queue (declare_direct_consumer). RabbitMQ refuses to re-declare an existing queue or
 * exchange with other flags or arguments, so these must equal the other services' settings.
 */
import type { ExchangeSpec } from './connection.js';
import type { RabbitOptions } from './options.js';

export interface QueueDeclaration {
  durable: boolean;
  autoDelete: boolean;
  arguments: Record<string, unknown>;
}

/** impl_rabbit _get_queue_arguments (streams are refused by options.ts). */
function queueArguments(o: RabbitOptions, ttlSeconds: number, quorum: boolean): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  if (o.rabbit_ha_queues) args['x-ha-policy'] = 'all';
  if (quorum) {
    args['x-queue-type'] = 'quorum';
    if (o.rabbit_quorum_delivery_limit) args['x-delivery-limit'] = o.rabbit_quorum_delivery_limit;
    if (o.rabbit_quorum_max_memory_length) args['x-max-in-memory-length'] = o.rabbit_quorum_max_memory_length;
    if (o.rabbit_quorum_max_memory_bytes) args['x-max-in-memory-bytes'] = o.rabbit_quorum_max_memory_bytes;
  }
  if (ttlSeconds > 0) args['x-expires'] = ttlSeconds * 1000;
  return args;
}

/** Connection.durable: quorum queues are durable, whatever amqp_durable_queues says. */
function topicDurable(o: RabbitOptions): boolean {
  return o.amqp_durable_queues || o.rabbit_quorum_queue;
}

/** The control exchange (or a target's own exchange) the topic queues are bound to. */
export function topicExchange(o: RabbitOptions, name: string): ExchangeSpec {
  return { name, type: 'topic', durable: topicDurable(o), autoDelete: o.amqp_auto_delete };
}

/** `<topic>` and `<topic>.<server>`: no expiry, quorum with rabbit_quorum_queue. */
export function topicQueue(o: RabbitOptions): QueueDeclaration {
  return { durable: topicDurable(o), autoDelete: o.amqp_auto_delete, arguments: queueArguments(o, 0, o.rabbit_quorum_queue) };
}

/** `<topic>_fanout`: auto-delete, durable only with rabbit_transient_quorum_queue. */
export function fanoutExchange(o: RabbitOptions, topic: string): ExchangeSpec {
  return { name: `${topic}_fanout`, type: 'fanout', durable: o.rabbit_transient_quorum_queue, autoDelete: true };
}

/**
 * Fanout and reply queues are transient: they expire after rabbit_transient_queues_ttl
 * unused, and are quorum queues (hence durable) only with rabbit_transient_quorum_queue.
 */
export function transientQueue(o: RabbitOptions): QueueDeclaration {
  return {
    durable: o.rabbit_transient_quorum_queue,
    autoDelete: false,
    arguments: queueArguments(o, o.rabbit_transient_queues_ttl, o.rabbit_transient_quorum_queue),
  };
}

/** basic.consume arguments: x-cancel-on-ha-failover with enable_cancel_on_failover. */
export function consumeArguments(o: RabbitOptions): Record<string, unknown> {
  return o.enable_cancel_on_failover ? { 'x-cancel-on-ha-failover': true } : {};
}
