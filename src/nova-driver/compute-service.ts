/**
 * The compute host's life: connect to the broker, wait for the conductor, register the
 * Service and ComputeNode (nova/service.py start() and the resource tracker's first run, in
 * the order nova-compute uses), then serve compute RPC, heartbeat and run the periodic tasks
 * until SIGTERM/SIGINT.
 */
import { createLogger, type Logger } from '../common/log.js';
import { resourcePolicy, serviceAuth, type Config } from '../config/types.js';
import { KeystoneSession } from '../glance-bridge/keystone.js';
import { DockerEngine } from '../runtime/docker-engine.js';
import type { ContainerEngine } from '../runtime/types.js';
import { ConductorClient } from './conductor.js';
import { PlacementClient } from './placement.js';
import { ResourceTracker } from './resource-tracker.js';
import { ServiceRecord, TOPIC } from './service-record.js';
import { SchedulerClient } from './scheduler.js';
import { measureHost, versionToInt } from './host-resources.js';
import { baseApiEndpoint, hostHandlers } from './host-handlers.js';
import { PeriodicTasks } from './periodic.js';
import { connectRpc, type RpcRuntime } from './rpc/runtime.js';
import type { Endpoint, RequestContext } from './rpc/types.js';
import { adminContext } from './rpc/context.js';

/** Compute RPC API version this host serves (Zed: 6.1). */
export const COMPUTE_RPC_VERSION = '6.1';

export class ComputeService {
  private rpc: RpcRuntime | null = null;
  private readonly periodic = new PeriodicTasks();
  readonly serviceRecord: ServiceRecord;
  readonly tracker: ResourceTracker;
  private readonly engine: ContainerEngine;
  private readonly conductor: ConductorClient;
  private readonly scheduler: SchedulerClient;

  constructor(private readonly config: Config, private readonly log: Logger, rpc: RpcRuntime) {
    this.rpc = rpc;
    const d = config.DEFAULT;
    this.engine = new DockerEngine(config.container.engine_socket);
    this.conductor = new ConductorClient(rpc.client, log.child({ component: 'conductor' }));
    this.scheduler = new SchedulerClient(rpc.client, d.host, config.filter_scheduler.track_instance_changes);
    this.serviceRecord = new ServiceRecord(this.conductor, d.host, log.child({ component: 'service' }));
    const placementAuth = serviceAuth(config, 'placement');
    this.tracker = new ResourceTracker({
      conductor: this.conductor,
      placement: new PlacementClient(new KeystoneSession(placementAuth, log.child({ component: 'keystone' })),
        log.child({ component: 'placement' }), placementAuth.timeout),
      log: log.child({ component: 'resource-tracker' }),
      host: d.host,
      nodename: d.host,
      hostIp: d.my_ip,
      statePath: d.state_path,
      policy: resourcePolicy(config),
      measure: async () => {
        const info = await this.engine.info();
        return { ...measureHost(info.dataRoot), hypervisorVersion: versionToInt(info.version) };
      },
    });
  }

  private ctx(): RequestContext {
    return adminContext();
  }

  async start(signal: AbortSignal): Promise<void> {
    const d = this.config.DEFAULT;
    const rpc = this.requireRpc();
    await this.conductor.waitUntilReady(this.ctx(), signal);
    await this.serviceRecord.register(this.ctx());
    await this.tracker.init(this.ctx(), this.serviceRecord.disabled);
    await rpc.serve({ topic: TOPIC, server: d.host }, this.endpoints());
    this.serviceRecord.startHeartbeat(() => this.ctx(), d.report_interval);
    this.periodic.every('update_available_resource', d.update_resources_interval, async () => {
      await this.serviceRecord.refresh(this.ctx());
      await this.tracker.update(this.ctx(), this.serviceRecord.disabled);
    }, this.log);
    this.periodic.every('sync_scheduler_instance_info', d.scheduler_instance_sync_interval, async () => {
      await this.scheduler.syncInstanceInfo(this.ctx(), await this.instanceUuids());
    }, this.log);
    this.log.info({ host: d.host, compute_node: this.tracker.providerUuid }, 'nova-container compute host is serving');
  }

  async stop(): Promise<void> {
    this.periodic.stopAll();
    this.serviceRecord.stopHeartbeat();
    await this.rpc?.close();
    this.rpc = null;
  }

  private endpoints(): Endpoint[] {
    return [
      {
        namespace: null,
        version: COMPUTE_RPC_VERSION,
        handlers: hostHandlers({
          setDisabled: async (ctx, disabled) => {
            await this.serviceRecord.refresh(ctx);
            await this.tracker.update(ctx, disabled);
          },
        }),
      },
      baseApiEndpoint('compute'),
    ];
  }

  private async instanceUuids(): Promise<string[]> {
    const list = await this.conductor.classActionObject(this.ctx(), 'InstanceList', 'get_by_host', [this.config.DEFAULT.host], { expected_attrs: [] });
    return (list?.items() ?? []).map((i) => i.str('uuid'));
  }

  private requireRpc(): RpcRuntime {
    if (!this.rpc) throw new Error('compute service stopped');
    return this.rpc;
  }
}

/** Runs until SIGTERM or SIGINT; returns the process exit code. */
export async function runComputeService(config: Config): Promise<number> {
  const log = createLogger({ level: config.DEFAULT.debug ? 'debug' : 'info' });
  const rpc = await connectRpc(config, log.child({ component: 'rpc' }));
  const service = new ComputeService(config, log, rpc);
  const abort = new AbortController();
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      log.info({ signal: sig }, 'stopping');
      abort.abort();
      void service.stop().finally(resolve);
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  try {
    await service.start(abort.signal);
  } catch (err) {
    if (abort.signal.aborted) return 0;
    log.fatal({ err }, 'compute host failed to start');
    await service.stop();
    return 1;
  }
  await stopped;
  return 0;
}
