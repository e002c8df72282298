/**
 * This host's `Service` row (binary nova-compute, topic compute) and its heartbeat: the
 * servicegroup db driver's `report_count += 1; save()` every report_interval
 * (nova/servicegroup/drivers/db.py). nova-api calls the host down when no heartbeat landed
 * within service_down_time.
 */
import type { Logger } from '../common/log.js';
import type { RequestContext } from '../messaging/types.js';
import type { ConductorClient } from './conductor.js';
import { NovaObject } from './objects/versioned-object.js';
import { objectVersion } from './objects/manifest.js';

/** Zed's SERVICE_VERSION (nova/objects/service.py); the control plane refuses computes older than Yoga's 61. */
export const SERVICE_VERSION = 64;
export const BINARY = 'nova-compute';
export const TOPIC = 'compute';

export class ServiceRecord {
  private service: NovaObject | null = null;
  private timer: NodeJS.Timeout | null = null;
  private beating = false;
  /** When the last heartbeat was saved (for /healthz); null before the first. */
  lastHeartbeat: Date | null = null;

  constructor(private readonly conductor: ConductorClient, private readonly host: string, private readonly log: Logger) {}

  get record(): NovaObject {
    if (!this.service) throw new Error('service not registered');
    return this.service;
  }

  get disabled(): boolean {
    return this.service?.get('disabled') === true;
  }

  /** Creates the Service row, or updates its version if one exists (nova/service.py start()). */
  async register(ctx: RequestContext): Promise<void> {
    const minimum = await this.conductor.classAction(ctx, 'Service', 'get_minimum_version', [BINARY]);
    this.log.info({ minimum_compute_version: minimum, our_version: SERVICE_VERSION }, 'cell\'s minimum nova-compute version');
    const existing = await this.conductor.classActionObject(ctx, 'Service', 'get_by_host_and_binary', [this.host, BINARY]);
    if (existing) {
      if (existing.get('version') !== SERVICE_VERSION) {
        existing.set('version', SERVICE_VERSION);
        await this.conductor.objectAction(ctx, existing, 'save');
      }
      this.service = existing;
      this.log.info({ service_id: existing.get('id') }, 'found this host\'s service record');
      return;
    }
    const created = NovaObject.create('Service', objectVersion('Service'), {
      host: this.host, binary: BINARY, topic: TOPIC, report_count: 0, version: SERVICE_VERSION,
    });
    await this.conductor.objectAction(ctx, created, 'create');
    this.service = created;
    this.log.info({ service_id: created.get('id') }, 'created this host\'s service record');
  }

  /** Re-reads the row, e.g. to learn whether an operator disabled the host. */
  async refresh(ctx: RequestContext): Promise<void> {
    const fresh = await this.conductor.classActionObject(ctx, 'Service', 'get_by_compute_host', [this.host]);
    if (fresh) this.service = fresh;
  }

  /** Heartbeats every `intervalSec`, the first after min(5, interval) s as nova's servicegroup does. */
  startHeartbeat(ctx: () => RequestContext, intervalSec: number): void {
    const beat = async (): Promise<void> => {
      if (this.beating) return; // a slow conductor: never stack saves
      this.beating = true;
      try {
        const svc = this.record;
        svc.set('report_count', Number(svc.get('report_count') ?? 0) + 1);
        await this.conductor.objectAction(ctx(), svc, 'save');
        this.lastHeartbeat = new Date();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'heartbeat failed; will retry at the next interval');
      } finally {
        this.beating = false;
      }
    };
    const first = setTimeout(() => {
      void beat();
      this.timer = setInterval(() => void beat(), intervalSec * 1000);
    }, Math.min(5, intervalSec) * 1000);
    this.timer = first;
  }

  stopHeartbeat(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      clearInterval(this.timer);
    }
    this.timer = null;
  }
}
