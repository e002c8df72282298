/**
 * The RPC layer as an application uses it: one transport, one client, any number of
 * servers, one status for a health check.
 *
 *   const rpc = await connectRpc({ transport_url, control_exchange: 'nova' }, log, { hooks });
 *   await rpc.serve({ topic: 'compute', server: host }, endpoints);
 *   await rpc.client.call(target, ctx, 'method', args);
 *   rpc.status().connected;  await rpc.close();
 */
import type { Logger } from '../common/log.js';
import { AmqpRpcClient } from './client.js';
import { inertSettings, messagingOptions, type MessagingOptionsInput } from './options.js';
import { RpcServer, type RpcServerOptions, type ServerTarget } from './server.js';
import { RpcTransport, type TransportStatus } from './transport.js';
import type { Endpoint, MessagingHooks } from './types.js';

export interface RpcRuntime {
  readonly transport: RpcTransport;
  readonly client: AmqpRpcClient;
  /** Starts an RPC server for (topic, server) and resolves once its queues are consumed. */
  serve(target: ServerTarget, endpoints: readonly Endpoint[], options?: RpcServerOptions): Promise<RpcServer>;
  /** Broker connectivity of every connection (for /healthz). */
  status(): TransportStatus;
  /** Stops servers (running handlers finish), fails pending calls, closes connections. */
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** Wait for the first broker connection before resolving (default true, like oslo at start). */
  waitForBroker?: boolean;
  /** The application's exceptions and log fields, for the client and every server. */
  hooks?: MessagingHooks;
}

/** Builds the runtime; by default resolves once the broker accepted the publishing connection. */
export async function connectRpc(input: MessagingOptionsInput, log: Logger, opts: ConnectOptions = {}): Promise<RpcRuntime> {
  const options = messagingOptions(input);
  for (const note of inertSettings(options.rabbit)) log.info({ option: note }, 'oslo_messaging_rabbit option accepted without effect');
  const transport = new RpcTransport(options, log);
  const hooks = opts.hooks ?? {};
  const client = new AmqpRpcClient(transport, log.child({ rpc: 'client' }), hooks);
  const servers = new Set<RpcServer>();
  const runtime: RpcRuntime = {
    transport,
    client,
    async serve(target, endpoints, serverOptions) {
      const server = new RpcServer(transport, target, endpoints, log.child({ rpc: 'server', topic: target.topic }),
        { hooks, ...serverOptions });
      await server.start();
      servers.add(server);
      return server;
    },
    status: () => transport.status(),
    async close() {
      await Promise.all([...servers].map((s) => s.stop()));
      servers.clear();
      // the servers' handlers are done (or given up on): the client's reply connection and the others close together
      await Promise.all([client.close(), transport.close()]);
    },
  };
  if (opts.waitForBroker ?? true) await transport.waitConnected();
  return runtime;
}
