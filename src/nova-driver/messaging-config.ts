/**
 * What ties the compute service to src/messaging: the nova.exception hooks, and a runtime
 * connected with them.
 */
import type { Logger } from '../common/log.js';
import type { Config } from '../config/types.js';
import type { MessagingOptionsInput } from '../messaging/options.js';
import { connectRpc, type ConnectOptions, type RpcRuntime } from '../messaging/runtime.js';
import type { MessagingHooks } from '../messaging/types.js';
import { novaErrorHooks } from './errors.js';

/** nova.exception both ways on the wire. */
export const novaMessagingHooks: MessagingHooks = { errors: novaErrorHooks };

/** connectRpc with the compute service's hooks. */
export function connectComputeRpc(config: Config | MessagingOptionsInput, log: Logger, opts: Omit<ConnectOptions, 'hooks'> = {}): Promise<RpcRuntime> {
  return connectRpc(config, log, { ...opts, hooks: novaMessagingHooks });
}
