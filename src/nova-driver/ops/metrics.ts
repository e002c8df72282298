/**
 * The compute host's /metrics: RPC dispatches (from the RPC server's observer), builds,
 * image cache and snapshot counters (importer/exporter stats()), this host's containers,
 * heartbeat age, the health checks and the periodic tasks' runs, in Prometheus text format.
 */
import type { ExportStats, ImportStats } from '../../glance-bridge/index.js';
import type { RpcDispatchEvent, RpcServerStats } from '../../messaging/server.js';
import type { PeriodicRun } from '../periodic.js';
import type { HealthReport } from './health.js';
import { MetricsRegistry, single, type CollectedFamily, type Counter, type Histogram } from './prometheus.js';

export const PREFIX = 'nova_container_';
export const BUILD_METHOD = 'build_and_run_instance';
const BUILD_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600];
// from a token cleanup's few milliseconds to a resource audit of a full host
const PERIODIC_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** What the metrics read at scrape time; each piece may be missing (not yet started, not configured). */
export interface MetricSources {
  importer?: () => ImportStats;
  exporter?: () => ExportStats;
  rpcServers?: () => RpcServerStats[];
  /** This host's instances by power state; rejects when the engine cannot be asked. */
  containers?: () => Promise<Record<string, number>>;
  heartbeatAgeS?: () => number | null;
  health?: () => Promise<HealthReport>;
  /** Epoch seconds the process started. */
  startTimeS?: number;
}

export class ComputeMetrics {
  readonly registry = new MetricsRegistry();
  readonly rpcMessages: Counter;
  readonly rpcDuration: Histogram;
  readonly builds: Counter;
  readonly buildFailures: Counter;
  readonly buildDuration: Histogram;
  readonly periodicDuration: Histogram;
  readonly periodicFailures: Counter;

  constructor(private readonly sources: MetricSources = {}) {
    const r = this.registry;
    this.rpcMessages = r.counter(`${PREFIX}rpc_messages_total`, 'Compute RPC requests handled, by method, kind (call/cast) and outcome (ok/failure).',
      ['method', 'kind', 'outcome']);
    this.rpcDuration = r.histogram(`${PREFIX}rpc_duration_seconds`, 'Time compute RPC handlers ran, by method.', ['method']);
    this.builds = r.counter(`${PREFIX}builds_total`, 'Instance builds (build_and_run_instance) finished, failed ones included.');
    this.buildFailures = r.counter(`${PREFIX}build_failures_total`, 'Instance builds that failed (the instance went to ERROR or was rescheduled).');
    this.buildDuration = r.histogram(`${PREFIX}build_duration_seconds`,
      'Duration of build_and_run_instance on this host, from the handler\'s start to its end (image import, container start, the saves to ACTIVE and the resource update after it).',
      [], BUILD_BUCKETS);
    this.periodicDuration = r.histogram(`${PREFIX}periodic_task_duration_seconds`,
      'Time each run of a periodic task took (update_available_resource, sync_power_states, ...), failed runs included.', ['task'], PERIODIC_BUCKETS);
    this.periodicFailures = r.counter(`${PREFIX}periodic_task_failures_total`, 'Runs of a periodic task that failed (logged: periodic task failed).', ['task']);
    r.collect(() => this.collectStats());
    r.collect(() => this.collectHost());
  }

  /** The RPC server's observer: pass as RpcServerOptions.observer. */
  readonly observeRpc = (e: RpcDispatchEvent): void => {
    const seconds = e.durationMs / 1000;
    this.rpcMessages.inc({ method: e.method, kind: e.kind, outcome: e.outcome });
    this.rpcDuration.observe({ method: e.method }, seconds);
    if (e.method === BUILD_METHOD && e.namespace === null) {
      this.builds.inc();
      if (e.outcome === 'failure') this.buildFailures.inc();
      this.buildDuration.observe({}, seconds);
    }
  };

  /** The periodic tasks' observer: pass to PeriodicTasks. */
  readonly observePeriodic = (run: PeriodicRun): void => {
    this.periodicDuration.observe({ task: run.task }, run.durationMs / 1000);
    if (!run.ok) this.periodicFailures.inc({ task: run.task });
  };

  render(): Promise<string> {
    return this.registry.render();
  }

  private collectStats(): CollectedFamily[] {
    const out: CollectedFamily[] = [];
    const imp = this.sources.importer?.();
    if (imp) {
      out.push(
        single(`${PREFIX}image_cache_hits_total`, 'Builds whose Glance image was already in the engine (nothing downloaded).', 'counter', imp.cacheHits),
        single(`${PREFIX}image_downloads_total`, 'Glance images downloaded and loaded into the engine.', 'counter', imp.downloads),
        single(`${PREFIX}image_downloaded_bytes_total`, 'Bytes downloaded from Glance.', 'counter', imp.downloadedBytes),
        single(`${PREFIX}image_download_joins_total`, 'Image requests that waited for a download of the same image already under way.', 'counter', imp.joined),
        single(`${PREFIX}image_download_failures_total`, 'Image imports that failed.', 'counter', imp.failures),
        single(`${PREFIX}image_downloads_in_flight`, 'Image imports under way.', 'gauge', imp.inFlight),
      );
    }
    const exp = this.sources.exporter?.();
    if (exp) {
      out.push(
        single(`${PREFIX}snapshots_uploaded_total`, 'Snapshots (server image create, shelve) uploaded to Glance.', 'counter', exp.uploads),
        single(`${PREFIX}snapshot_uploaded_bytes_total`, 'Bytes of snapshots uploaded to Glance.', 'counter', exp.uploadedBytes),
        single(`${PREFIX}snapshot_upload_failures_total`, 'Snapshot uploads that failed.', 'counter', exp.failures),
      );
    }
    const servers = this.sources.rpcServers?.();
    if (servers) {
      const sum = (k: keyof RpcServerStats): number => servers.reduce((n, s) => n + s[k], 0);
      out.push(
        single(`${PREFIX}rpc_handlers_running`, 'Compute RPC handlers running now.', 'gauge', sum('running')),
        single(`${PREFIX}rpc_requests_queued`, 'Compute RPC requests received and waiting for a free handler.', 'gauge', sum('queued')),
        single(`${PREFIX}rpc_malformed_total`, 'RPC messages that could not be decoded or dispatched.', 'counter', sum('malformed')),
        single(`${PREFIX}rpc_duplicates_total`, 'RPC messages dropped as duplicates (same _unique_id).', 'counter', sum('duplicates')),
      );
    }
    if (this.sources.startTimeS !== undefined) {
      out.push(single('process_start_time_seconds', 'Start time of the process since the Unix epoch, seconds.', 'gauge', this.sources.startTimeS));
    }
    // the heap beside the RSS: RSS also counts the node binary's pages and the heap's unused room
    const mem = process.memoryUsage();
    out.push(
      single('process_resident_memory_bytes', 'Resident memory size, bytes.', 'gauge', mem.rss),
      single('nodejs_heap_size_total_bytes', 'Process heap size from Node.js, bytes.', 'gauge', mem.heapTotal),
      single('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js, bytes.', 'gauge', mem.heapUsed),
    );
    return out;
  }

  private async collectHost(): Promise<CollectedFamily[]> {
    const out: CollectedFamily[] = [];
    if (this.sources.containers) {
      let byState: Record<string, number> | null = null;
      try {
        byState = await this.sources.containers();
      } catch {
        byState = null; // engine down: the health gauge says so; no made-up counts
      }
      if (byState) {
        out.push(single(`${PREFIX}instances_running`, 'Instances of this host whose workload runs.', 'gauge', byState.running ?? 0));
        out.push({
          name: `${PREFIX}instance_containers`, help: 'This host\'s instances by power state (running, paused, shutdown, crashed, nostate).', type: 'gauge',
          samples: Object.entries(byState).map(([state, value]) => ({ labels: { state }, value })),
        });
      }
    }
    const age = this.sources.heartbeatAgeS?.();
    if (age !== undefined && age !== null) {
      out.push(single(`${PREFIX}heartbeat_age_seconds`, 'Seconds since the service heartbeat last reached the database (absent before the first).', 'gauge', age));
    }
    if (this.sources.health) {
      const h = await this.sources.health();
      out.push({
        name: `${PREFIX}health_check`, help: 'The /healthz checks: 1 passing, 0 failing.', type: 'gauge',
        samples: Object.entries(h.checks).map(([check, c]) => ({ labels: { check }, value: c.ok ? 1 : 0 })),
      });
      out.push(single(`${PREFIX}healthy`, '1 when /healthz answers 200.', 'gauge', h.status === 'ok' ? 1 : 0));
    }
    return out;
  }
}
