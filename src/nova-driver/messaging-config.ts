/**
 * What ties the compute service to src/messaging: the options out of nova.conf with Nova's
 * values where oslo's defaults differ, the nova.exception hooks, the instance a request is
 * about in log lines, and a runtime connected with all of it.
 */
import type { Logger } from '../common/log.js';
import type { Config } from '../config/types.js';
import { messagingOptions, type MessagingOptions, type MessagingOptionsInput } from '../messaging/options.js';
import { connectRpc, type ConnectOptions, type RpcRuntime } from '../messaging/runtime.js';
import type { IncomingCall, MessagingHooks } from '../messaging/types.js';
import { novaErrorHooks } from './errors.js';

/** Nova's exchange, nova.exception rebuilt from replies, and our name on AMQP connections; `input` wins. */
export function novaMessagingOptions(input: MessagingOptionsInput): MessagingOptions {
  return messagingOptions({
    ...input,
    control_exchange: input.control_exchange ?? 'nova',
    allowed_remote_exmods: input.allowed_remote_exmods ?? ['nova.exception'],
    program_name: input.program_name ?? 'nova-container',
  });
}

/** The messaging options out of the validated nova.conf-style Config. */
export function messagingOptionsFromConfig(config: Config): MessagingOptions {
  const d = config.DEFAULT;
  return novaMessagingOptions({
    transport_url: d.transport_url,
    control_exchange: d.control_exchange,
    rpc_response_timeout: d.rpc_response_timeout,
    executor_thread_pool_size: d.executor_thread_pool_size,
    rpc_ping_enabled: d.rpc_ping_enabled,
    rabbit: config.oslo_messaging_rabbit,
  });
}

/** The uuid of the instance a request is about: `instance` (an Instance object) or `instance_uuid`. */
export function instanceOf(args: Record<string, unknown>): string | null {
  const inst = args.instance;
  if (inst !== null && typeof inst === 'object' && !Array.isArray(inst)) {
    const data = (inst as Record<string, unknown>)['nova_object.data'];
    const uuid = data !== null && typeof data === 'object' ? (data as Record<string, unknown>).uuid : undefined;
    if (typeof uuid === 'string' && uuid) return uuid;
  }
  return typeof args.instance_uuid === 'string' && args.instance_uuid ? args.instance_uuid : null;
}

/** `instance` (the server's uuid) on the log lines of a request about one. */
export function novaCallLogFields(call: IncomingCall): Record<string, unknown> {
  const instance = instanceOf(call.args);
  return instance ? { instance } : {};
}

/** nova.exception both ways on the wire, and the instance in log lines. */
export const novaMessagingHooks: MessagingHooks = { errors: novaErrorHooks, describeCall: novaCallLogFields };

/** connectRpc with Nova's options and the compute service's hooks. */
export function connectComputeRpc(config: Config | MessagingOptionsInput, log: Logger, opts: Omit<ConnectOptions, 'hooks'> = {}): Promise<RpcRuntime> {
  const options = isConfig(config) ? messagingOptionsFromConfig(config) : novaMessagingOptions(config);
  return connectRpc(options, log, { ...opts, hooks: novaMessagingHooks });
}

function isConfig(c: Config | MessagingOptionsInput): c is Config {
  return typeof (c as Config).DEFAULT === 'object' && (c as Config).DEFAULT !== null;
}
