/**
 * The compute host's life: connect to the broker, wait for the conductor, register the
 * Service and ComputeNode (nova/service.py start() and the resource tracker's first run, in
 * the order nova-compute uses), then serve compute RPC, heartbeat and run the periodic tasks
 * until SIGTERM/SIGINT.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger, type Logger } from '../common/log.js';
import { pluggerSettings, resourcePolicy, serviceAuth, type Config } from '../config/types.js';
import { ConfigError } from '../config/load.js';
import { parsePortRange } from '../config/options.js';
import { ImageImporter, KeystoneSession, ServiceTokenSource, SnapshotExporter } from '../glance-bridge/index.js';
import { createEngine } from '../runtime/engines.js';
import { ContainerDriver } from '../runtime/container-driver.js';
import { SerialConsoles } from '../runtime/serial-consoles.js';
import { imageInUse } from '../runtime/instance-containers.js';
import type { ContainerEngine } from '../runtime/types.js';
import { capabilityTraits, type InstanceDriver } from './instance-driver.js';
import { ConductorClient } from './conductor.js';
import { PlacementClient } from './placement.js';
import { ResourceTracker } from './resource-tracker.js';
import { ServiceRecord, TOPIC } from './service-record.js';
import { parseServiceVersionOption, ServiceVersionRefused } from './service-version.js';
import { SchedulerClient } from './scheduler.js';
import { measureHost, versionToInt } from './host-resources.js';
import { baseApiEndpoint, hostHandlers } from './host-handlers.js';
import { PeriodicTasks } from './periodic.js';
import { cleanupIncompleteMigrations } from './manager/incomplete-migrations.js';
import { connectComputeRpc } from './messaging-config.js';
import { DeclarationRefused } from '../messaging/connection.js';
import type { RpcRuntime } from '../messaging/runtime.js';
import type { Endpoint, RequestContext } from '../messaging/types.js';
import { adminContext } from './context.js';
import { computeEndpoint } from './manager/compute-endpoint.js';
import { ComputeRpcClient } from './compute-rpc.js';
import { GlanceImages } from './manager/glance-images.js';
import { InstanceStore } from './manager/instance-store.js';
import { KeyedLock } from '../common/keyed-lock.js';
import { recoverOnStartup, syncPowerStates } from './manager/recovery.js';
import type { ManagerDeps } from './manager/deps.js';
import { ImageCacheManager } from './manager/image-cache.js';
import { InstanceEvents, virtApi } from './manager/instance-events.js';
import { NeutronClient } from '../network/neutron-client.js';
import { PortManager } from '../network/ports.js';
import { VifPluggers } from '../network/pluggers.js';
import { OperatorEndpoints, parseListen } from './ops/index.js';
import { checkAllVifs, checkInstanceVifs } from './manager/vif-check.js';
import { stopOnSignal } from './stop-on-signal.js';
import { reloadOnHangup } from './reload-on-hangup.js';

/** Logged once start-up is done (instances recovered, VIFs checked, RPC served); launchers wait for it (devstack/lib/nova_container.sh). */
export const SERVING_MESSAGE = 'nova-container compute host is serving';

export class ComputeService {
  private rpc: RpcRuntime | null = null;
  private readonly periodic: PeriodicTasks;
  private driverWatch: { close(): void } | null = null;
  readonly serviceRecord: ServiceRecord;
  readonly tracker: ResourceTracker;
  private readonly engine: ContainerEngine;
  private readonly driver: InstanceDriver;
  private readonly conductor: ConductorClient;
  private readonly scheduler: SchedulerClient;
  readonly importer: ImageImporter;
  /** Where delta snapshots wait between the engine's save and their upload. */
  private readonly snapshotSpool: string;
  private readonly events = new InstanceEvents();
  private readonly manager: ManagerDeps;
  /** /healthz and /metrics ([container] health_listen). */
  readonly ops: OperatorEndpoints;

  constructor(private readonly config: Config, private readonly log: Logger, rpc: RpcRuntime) {
    this.snapshotSpool = join(config.DEFAULT.state_path, 'snapshot-spool');
    this.rpc = rpc;
    const d = config.DEFAULT;
    this.engine = createEngine(config.container.driver, {
      endpoint: config.container.engine_socket, statePath: d.state_path, podmanUsernsRemap: config.container.podman_userns_remap,
    }, log.child({ component: 'engine' }));
    this.driver = new ContainerDriver({
      host: d.host,
      engineName: config.container.driver,
      engine: this.engine,
      pluggers: VifPluggers.forHost(pluggerSettings(config)),
      virtApi: virtApi(this.events, d.vif_plugging_timeout, d.vif_plugging_is_fatal, log.child({ component: 'vif-events' })),
      sandboxInit: config.container.sandbox_init,
      consoles: config.serial_console.enabled ? new SerialConsoles(this.engine, {
        address: config.serial_console.proxyclient_address, portRange: parsePortRange(config.serial_console.port_range),
        stateFile: join(d.state_path, 'serial-consoles.json'),
      }, log.child({ component: 'serial-console' })) : null,
      log: log.child({ component: 'driver' }),
    });
    this.ops = OperatorEndpoints.fromConfig(config, log.child({ component: 'ops' }));
    this.periodic = new PeriodicTasks(this.ops.observePeriodic);
    this.conductor = new ConductorClient(this.ops.conductor.wrap(rpc.client), log.child({ component: 'conductor' }));
    this.scheduler = new SchedulerClient(rpc.client, d.host, config.filter_scheduler.track_instance_changes);
    this.serviceRecord = new ServiceRecord(this.conductor, d.host, log.child({ component: 'service' }),
      parseServiceVersionOption(config.container.service_version));
    const placementAuth = serviceAuth(config, 'placement');
    if (!placementAuth.auth_url) throw new ConfigError('[placement] auth_url is not set (nor in [service_user] or [keystone_authtoken]): a compute host reports to Placement');
    const placement = new PlacementClient(new KeystoneSession(placementAuth, log.child({ component: 'keystone' })),
      log.child({ component: 'placement' }), placementAuth.timeout);
    this.tracker = new ResourceTracker({
      conductor: this.conductor,
      placement,
      log: log.child({ component: 'resource-tracker' }),
      host: d.host,
      nodename: d.host,
      hostIp: d.my_ip,
      statePath: d.state_path,
      policy: resourcePolicy(config),
      measure: async () => {
        const info = await this.driver.hostInfo();
        return { ...measureHost(info.dataRoot), hypervisorType: info.hypervisorType, hvType: info.hvType, hypervisorVersion: versionToInt(info.hypervisorVersion) };
      },
      capabilityTraits: capabilityTraits(this.driver.capabilities),
    });
    this.importer = new ImageImporter(this.engine, { log: log.child({ component: 'images' }) });
    const glanceAuth = serviceAuth(config, 'glance');
    const exporter = new SnapshotExporter(this.engine, {
      deltaDepth: config.container.snapshot_delta_depth, spoolDir: this.snapshotSpool, log: log.child({ component: 'snapshots' }),
    });
    const interfaces = glanceAuth.valid_interfaces.filter((i): i is 'internal' | 'public' | 'admin' => ['internal', 'public', 'admin'].includes(i));
    this.manager = {
      host: d.host,
      nodename: d.host,
      hostIp: d.my_ip,
      conductor: this.conductor,
      providerUuid: () => this.tracker.providerUuid,
      computeNodeId: () => this.tracker.computeNodeId,
      instances: new InstanceStore(this.conductor, d.host, () => this.tracker.computeNodeId),
      driver: this.driver,
      images: new GlanceImages(this.importer, exporter,
        glanceAuth.auth_url ? new ServiceTokenSource(new KeystoneSession(glanceAuth, log.child({ component: 'keystone' })), glanceAuth.endpoint_override) : null,
        { interfaces, ...(glanceAuth.region_name ? { regionName: glanceAuth.region_name } : {}), ...(glanceAuth.endpoint_override ? { endpointOverride: glanceAuth.endpoint_override } : {}) }),
      placement,
      ports: this.ports(log),
      events: this.events,
      scheduler: this.scheduler,
      computeRpc: new ComputeRpcClient(rpc.client),
      usage: this.tracker,
      locks: new KeyedLock(),
      log: log.child({ component: 'manager' }),
      shutdownTimeout: d.shutdown_timeout,
      offloadShelvedAtOnce: d.shelved_offload_time === 0,
      limitsPolicy: { pidsPerVcpu: this.config.container.pids_per_vcpu, enforceRootDisk: this.config.container.enforce_root_disk },
      serialConsole: config.serial_console.enabled ? { baseUrl: config.serial_console.base_url, tokenTtl: config.consoleauth.token_ttl } : null,
    };
    this.ops.watch({ rpc, engine: this.engine, instances: () => this.driver.listInstances(), serviceRecord: this.serviceRecord, importer: this.importer, exporter });
  }

  /** Neutron ports, when [neutron] (or a fallback group) has credentials. */
  private ports(log: Logger): PortManager | null {
    const auth = serviceAuth(this.config, 'neutron');
    if (!auth.auth_url) return null;
    const neutron = new NeutronClient(new KeystoneSession(auth, log.child({ component: 'keystone' })), log.child({ component: 'neutron' }), auth.timeout);
    return new PortManager(neutron, this.config.DEFAULT.host, this.config.neutron.ovs_bridge);
  }

  private ctx(): RequestContext {
    return adminContext();
  }

  async start(signal: AbortSignal): Promise<void> {
    const d = this.config.DEFAULT;
    const rpc = this.requireRpc();
    await this.ops.start();
    await this.conductor.waitUntilReady(this.ctx(), signal);
    const { rpcVersion } = await this.serviceRecord.register(this.ctx());
    await this.tracker.init(this.ctx(), this.serviceRecord.disabled);
    await this.driver.init();
    // what a snapshot under way when the service stopped spooled: no snapshot runs yet
    await rm(this.snapshotSpool, { recursive: true, force: true });
    await recoverOnStartup(this.manager, this.ctx(), this.config.container.remove_orphans);
    await this.checkVifs(true);
    this.watchInstances();
    this.ops.watchServer(await rpc.serve({ topic: TOPIC, server: d.host }, this.endpoints(rpcVersion), { observer: this.ops.observeRpc }));
    this.serviceRecord.startHeartbeat(() => this.ctx(), d.report_interval);
    this.periodic.every('update_available_resource', d.update_resources_interval, async () => {
      await this.serviceRecord.refresh(this.ctx());
      await this.tracker.audit(this.ctx(), this.serviceRecord.disabled);
    }, this.log);
    this.periodic.every('sync_power_states', d.sync_power_state_interval, () => syncPowerStates(this.manager, this.ctx()), this.log);
    this.periodic.every('check_vifs', d.sync_power_state_interval, () => this.checkVifs(false), this.log);
    const cacheConf = this.config.image_cache;
    if (cacheConf.remove_unused_base_images) {
      const cache = new ImageCacheManager(this.importer, (id) => imageInUse(this.engine, id), cacheConf.remove_unused_original_minimum_age_seconds, this.log.child({ component: 'image-cache' }));
      this.periodic.every('image_cache_manager', cacheConf.manager_interval, async () => { await cache.run(); }, this.log);
    }
    // nova-compute's _cleanup_expired_console_auth_tokens: the whole cell's, whatever host made them
    this.periodic.every('cleanup_expired_console_auth_tokens', d.instance_delete_interval, async () => {
      await this.conductor.classAction(this.ctx(), 'ConsoleAuthToken', 'clean_expired_console_auths');
    }, this.log);
    this.periodic.every('cleanup_incomplete_migrations', d.instance_delete_interval, async () => {
      await cleanupIncompleteMigrations(this.manager, this.ctx(), this.log.child({ task: 'cleanup_incomplete_migrations' }));
    }, this.log);
    this.periodic.every('sync_scheduler_instance_info', d.scheduler_instance_sync_interval, async () => {
      await this.scheduler.syncInstanceInfo(this.ctx(), await this.instanceUuids());
    }, this.log);
    this.log.info({ host: d.host, compute_node: this.tracker.providerUuid, compute_rpc_version: rpcVersion }, SERVING_MESSAGE);
  }

  /** A failed check is logged, never fatal: the next trigger checks again. */
  private async checkVifs(startup: boolean): Promise<void> {
    try {
      await checkAllVifs(this.manager, this.ctx(), startup);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'checking the VIFs of running instances failed');
    }
  }

  /**
   * An instance whose workload starts while no operation of ours holds it was started behind
   * our back (e.g. `docker restart`): nothing needs plugging unless its network namespace is
   * new (a sandbox that holds it started again, or a workload with its own started). All
   * instances are checked when the driver's event stream comes back after a break.
   */
  private watchInstances(): void {
    const log = this.log.child({ component: 'instance-events' });
    this.driverWatch = this.driver.watch({
      started: (uuid, networkRestarted) => {
        // An operation of ours on the instance started it and plugs it itself: no check needed.
        if (this.manager.locks.busy().includes(uuid)) return;
        if (!networkRestarted) {
          log.info({ instance: uuid }, 'workload started behind Nova\'s back; its network sandbox kept its interfaces: nothing to plug');
          return;
        }
        checkInstanceVifs(this.manager, this.ctx(), uuid).catch((err: unknown) =>
          log.error({ instance: uuid, err: (err as Error).message }, 'checking the VIFs of a restarted network namespace failed'));
      },
      lost: (err) => log.warn({ err: err.message }, 'lost the engine\'s event stream; reconnecting'),
      reconnected: () => {
        log.info('engine event stream back: checking every instance\'s VIFs');
        void this.checkVifs(false);
      },
    });
  }

  async stop(): Promise<void> {
    this.driverWatch?.close();
    this.driverWatch = null;
    this.periodic.stopAll();
    this.serviceRecord.stopHeartbeat();
    await this.rpc?.close();
    this.rpc = null;
    await this.ops.close();
    await this.driver.close();
  }

  private endpoints(rpcVersion: string): Endpoint[] {
    return [
      computeEndpoint(this.manager, hostHandlers({
        setDisabled: async (ctx, disabled) => {
          await this.serviceRecord.refresh(ctx);
          await this.tracker.audit(ctx, disabled);
        },
      }), rpcVersion),
      baseApiEndpoint('compute'),
    ];
  }

  private async instanceUuids(): Promise<string[]> {
    return (await this.manager.instances.listOnHost(this.ctx(), [])).map((i) => i.str('uuid'));
  }

  private requireRpc(): RpcRuntime {
    if (!this.rpc) throw new Error('compute service stopped');
    return this.rpc;
  }
}

/** Runs until SIGTERM or SIGINT; SIGHUP re-reads the configuration with `reload`. Returns the process exit code. */
export async function runComputeService(config: Config, reload: () => Config): Promise<number> {
  const log = createLogger({ level: config.DEFAULT.debug ? 'debug' : 'info' });
  parseListen(config.container.health_listen); // a malformed address stops us before the broker is tried
  const rpc = await connectComputeRpc(config, log.child({ component: 'rpc' }));
  let service: ComputeService;
  try {
    service = new ComputeService(config, log, rpc);
  } catch (err) {
    await rpc.close(); // an open AMQP connection would keep the process alive
    throw err;
  }
  const { aborted, stopped } = stopOnSignal({ stop: () => service.stop(), timeoutMs: config.DEFAULT.graceful_shutdown_timeout * 1000, log });
  const stopReloading = reloadOnHangup({ load: reload, running: config, log });
  try {
    await service.start(aborted);
  } catch (err) {
    stopReloading();
    if (aborted.aborted) return 0;
    const refused = err instanceof ServiceVersionRefused;
    if (refused) log.fatal(`cannot join this control plane: ${err.message}`);
    else log.fatal({ err }, 'compute host failed to start');
    await service.stop();
    // Neither a refused version nor a queue the broker refuses to re-declare changes until the
    // control plane, the settings or the queues do: exit as for a configuration error (the
    // systemd unit does not restart on 2).
    return refused || err instanceof DeclarationRefused ? 2 : 1;
  }
  await stopped;
  stopReloading();
  return 0;
}
