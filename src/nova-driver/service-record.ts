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
import { chooseServiceVersion, type VersionChoice } from './service-version.js';

export const BINARY = 'nova-compute';
export const TOPIC = 'compute';

export class ServiceRecord {
  private service: NovaObject | null = null;
  private timer: NodeJS.Timeout | null = null;
  private beating = false;
  /** When the last heartbeat was saved (for /healthz); null before the first. */
  lastHeartbeat: Date | null = null;

  /** `forcedVersion`: [container] service_version as a number, null for auto. */
  constructor(private readonly conductor: ConductorClient, private readonly host: string, private readonly log: Logger,
    private readonly forcedVersion: number | null = null) {}

  get record(): NovaObject {
    if (!this.service) throw new Error('service not registered');
    return this.service;
  }

  get disabled(): boolean {
    return this.service?.get('disabled') === true;
  }

  /**
   * Chooses the version to report from the conductor's and the cell's computes'
   * (service-version.ts), then creates the Service row or writes that version into the
   * existing one, as nova-compute does at start. `version` is always among the changes: the
   * conductor writes only changed fields, and a Service it builds from a primitive without
   * `version` would carry the conductor's own version instead.
   */
  async register(ctx: RequestContext): Promise<VersionChoice> {
    const conductor = await this.minimumVersion(ctx, 'nova-conductor');
    const minCompute = await this.minimumVersion(ctx, BINARY);
    const existing = await this.conductor.classActionObject(ctx, 'Service', 'get_by_host_and_binary', [this.host, BINARY]);
    const ownVersion = existing?.get('version');
    const choice = chooseServiceVersion({
      conductor, minCompute, ownRecord: typeof ownVersion === 'number' ? ownVersion : null, forced: this.forcedVersion,
    });
    const fields = { conductor_version: conductor, minimum_compute_version: minCompute, own_record_version: ownVersion ?? null };
    if (choice.warning) this.log.warn({ ...fields, service_version: choice.version }, choice.warning);
    this.log.info({ ...fields, service_version: choice.version, compute_rpc_version: choice.rpcVersion, reason: choice.reason },
      'chose the service version to report');
    if (existing) {
      existing.set('version', choice.version);
      // a report of its own (the database's last_seen_up moves with report_count): the host is
      // up for the scheduler from here, not from the first heartbeat, 5 s on; after a stop longer
      // than service_down_time it would turn builds away as down until then
      existing.set('report_count', Number(existing.get('report_count') ?? 0) + 1);
      await this.conductor.objectAction(ctx, existing, 'save');
      this.service = existing;
      this.log.info({ service_id: existing.get('id') }, 'found this host\'s service record');
      return choice;
    }
    const created = NovaObject.create('Service', objectVersion('Service'), {
      host: this.host, binary: BINARY, topic: TOPIC, report_count: 0, version: choice.version,
    });
    await this.conductor.objectAction(ctx, created, 'create');
    this.service = created;
    this.log.info({ service_id: created.get('id') }, 'created this host\'s service record');
    return choice;
  }

  /**
   * Service.get_minimum_version_multi: the lowest version among the cell's live services of
   * `binary`, 0 when none. The conductor may answer from its process-lifetime cache; its own
   * check on create/save reads the same cache, so this is the minimum that check applies.
   */
  private async minimumVersion(ctx: RequestContext, binary: string): Promise<number> {
    const v = await this.conductor.classAction(ctx, 'Service', 'get_minimum_version_multi', [[binary]]);
    if (typeof v !== 'number') throw new TypeError(`Service.get_minimum_version_multi([${binary}]) answered ${JSON.stringify(v)}, not a number`);
    return v;
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
