/**
 * The operator endpoints of a compute host, served by express on [container] health_listen
 * (loopback by default, off when unset):
 *   GET /healthz  200 {status:"ok", checks:{broker, engine, heartbeat, conductor}}, 503 when a check fails
 *   GET /metrics  Prometheus text exposition format
 * The compute service builds one, hands it its parts (watch), starts it first and closes it
 * last. A port that cannot be bound is logged and the host keeps serving Nova without them.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Logger } from '../../common/log.js';
import { ConfigError } from '../../config/load.js';
import type { Config } from '../../config/types.js';
import type { ExportStats, ImportStats } from '../../glance-bridge/index.js';
import type { ContainerEngine } from '../../runtime/types.js';
import { PowerState, type InstanceInfo } from '../instance-driver.js';
import type { RpcServer } from '../../messaging/server.js';
import { CachedProbe, ConductorWatch, evaluateHealth, type BrokerState, type HealthReport } from './health.js';
import { ComputeMetrics } from './metrics.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * `host:port`, `[v6]:port` or a port alone (127.0.0.1); null when empty or port 0 (off).
 * Throws ConfigError naming the option otherwise.
 */
export function parseListen(value: string, option = '[container] health_listen'): ListenAddress | null {
  const text = value.trim();
  if (text === '') return null;
  const m = /^(?:(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):)?(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`${option}: must be host:port, [address]:port or a port (got ${JSON.stringify(value)})`);
  if (port === 0) return null;
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}

/** What the endpoints read; given once the compute service has built its parts. */
export interface WatchedParts {
  rpc: { status(): BrokerState };
  engine: Pick<ContainerEngine, 'info'>;
  /** This host's instances as the driver sees them. */
  instances(): Promise<InstanceInfo[]>;
  serviceRecord: { lastHeartbeat: Date | null };
  importer: { stats(): ImportStats };
  exporter: { stats(): ExportStats };
}

const POWER_STATE_NAMES: Record<PowerState, string> = {
  [PowerState.NOSTATE]: 'nostate', [PowerState.RUNNING]: 'running', [PowerState.PAUSED]: 'paused', [PowerState.SHUTDOWN]: 'shutdown',
  [PowerState.CRASHED]: 'crashed', [PowerState.SUSPENDED]: 'suspended',
};

const ENGINE_TTL_MS = 2000;
const ENGINE_TIMEOUT_MS = 3000;
const CONTAINERS_TTL_MS = 5000;
const CONTAINERS_TIMEOUT_MS = 10_000;

export class OperatorEndpoints {
  /** Wrap the conductor's RPC client with `conductor.wrap(client)` so /healthz sees every call's outcome. */
  readonly conductor = new ConductorWatch();
  readonly metrics: ComputeMetrics;
  readonly listen: ListenAddress | null;
  private parts: WatchedParts | null = null;
  private readonly servers: RpcServer[] = [];
  private engineProbe: CachedProbe<{ version: string }> | null = null;
  private containersProbe: CachedProbe<Record<string, number>> | null = null;
  private http: Server | null = null;
  private readonly startTimeS = Date.now() / 1000;

  constructor(private readonly reportIntervalS: number, listen: ListenAddress | null,
    private readonly log: Logger) {
    this.listen = listen;
    this.metrics = new ComputeMetrics({
      importer: () => this.parts?.importer.stats() ?? zeroImport(),
      exporter: () => this.parts?.exporter.stats() ?? { uploads: 0, uploadedBytes: 0, failures: 0 },
      rpcServers: () => this.servers.map((s) => s.stats()),
      containers: () => this.containers(),
      heartbeatAgeS: () => {
        const last = this.parts?.serviceRecord.lastHeartbeat;
        return last ? Math.max(0, (Date.now() - last.getTime()) / 1000) : null;
      },
      health: () => this.health(),
      startTimeS: this.startTimeS,
    });
  }

  /** From [DEFAULT] host, report_interval and [container] health_listen (ConfigError when it is malformed). */
  static fromConfig(config: Config, log: Logger): OperatorEndpoints {
    return new OperatorEndpoints(config.DEFAULT.report_interval, parseListen(config.container.health_listen ?? ''), log);
  }

  /** The RPC server's observer (RpcServerOptions.observer). */
  get observeRpc(): ComputeMetrics['observeRpc'] {
    return this.metrics.observeRpc;
  }

  /** The periodic tasks' observer (PeriodicTasks). */
  get observePeriodic(): ComputeMetrics['observePeriodic'] {
    return this.metrics.observePeriodic;
  }

  watch(parts: WatchedParts): void {
    this.parts = parts;
    this.engineProbe = new CachedProbe(async () => ({ version: (await parts.engine.info()).version }), ENGINE_TTL_MS, ENGINE_TIMEOUT_MS);
    this.containersProbe = new CachedProbe(async () => {
      const byState: Record<string, number> = { running: 0 };
      for (const i of await parts.instances()) byState[POWER_STATE_NAMES[i.state]] = (byState[POWER_STATE_NAMES[i.state]] ?? 0) + 1;
      return byState;
    }, CONTAINERS_TTL_MS, CONTAINERS_TIMEOUT_MS);
  }

  /** An RPC server whose queue depth and running handlers /metrics shows. */
  watchServer(server: RpcServer): void {
    this.servers.push(server);
  }

  async health(): Promise<HealthReport> {
    const parts = this.parts;
    const engine = this.engineProbe ? await this.engineProbe.get() : { ok: false, error: 'not started', at: Date.now() };
    return evaluateHealth({
      broker: parts?.rpc.status() ?? { connected: false, brokers: '', connections: [] },
      engine,
      lastHeartbeat: parts?.serviceRecord.lastHeartbeat ?? null,
      reportIntervalS: this.reportIntervalS,
      conductor: this.conductor.last,
      now: Date.now(),
    });
  }

  /** Where it listens (the real port), or null when off or not listening. */
  address(): AddressInfo | null {
    const a = this.http?.address();
    return a && typeof a === 'object' ? a : null;
  }

  /** Starts listening when configured; a failure to bind is logged, not thrown. */
  async start(): Promise<void> {
    if (!this.listen || this.http) return;
    const { host, port } = this.listen;
    const server = this.app().listen({ host, port });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('listening', resolve);
        server.once('error', reject);
      });
    } catch (err) {
      this.log.error({ err: (err as Error).message, listen: `${host}:${port}` },
        'cannot serve /healthz and /metrics; the compute host runs without them');
      server.close();
      return;
    }
    server.on('error', (err) => this.log.error({ err: err.message }, 'operator endpoints server error'));
    this.http = server;
    this.log.info({ listen: `${host}:${port}` }, 'serving /healthz and /metrics');
  }

  async close(): Promise<void> {
    const server = this.http;
    this.http = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** The express app (also for tests, without listening). */
  app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.get('/healthz', (_req, res, next) => {
      this.health().then((report) => {
        res.status(report.status === 'ok' ? 200 : 503).set('Cache-Control', 'no-store').json(report);
      }, next);
    });
    app.get('/metrics', (_req, res, next) => {
      this.metrics.render().then((text) => {
        res.status(200).set('Content-Type', 'text/plain; version=0.0.4; charset=utf-8').send(text);
      }, next);
    });
    app.use((_req: express.Request, res: express.Response) => {
      res.status(404).json({ error: 'not found', endpoints: ['/healthz', '/metrics'] });
    });
    app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      this.log.error({ err: err.message }, 'operator endpoint failed');
      res.status(500).json({ error: err.message });
    });
    return app;
  }

  private async containers(): Promise<Record<string, number>> {
    if (!this.containersProbe) throw new Error('not started');
    const r = await this.containersProbe.get();
    if (!r.ok || !r.value) throw new Error(r.error ?? 'engine unreachable');
    return r.value;
  }
}

function zeroImport(): ImportStats {
  return { downloads: 0, downloadedBytes: 0, cacheHits: 0, joined: 0, failures: 0, inFlight: 0, lastImportMs: 0 };
}
