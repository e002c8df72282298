/**
 * Instance-info casts to every scheduler (fanout `scheduler_fanout`, version 4.2;
 * nova/scheduler/rpcapi.py). Schedulers use them for affinity host state only, so they are
 * fire-and-forget and sent only when [filter_scheduler] track_instance_changes is on.
 */
import type { RequestContext, RpcClient, Target } from '../messaging/types.js';
import type { NovaObject } from './objects/versioned-object.js';

const SCHEDULER_FANOUT: Target = { topic: 'scheduler', version: '4.2', fanout: true };

export class SchedulerClient {
  constructor(private readonly rpc: RpcClient, private readonly host: string, private readonly enabled: boolean) {}

  async updateInstanceInfo(ctx: RequestContext, instances: NovaObject): Promise<void> {
    if (this.enabled) await this.rpc.cast(SCHEDULER_FANOUT, ctx, 'update_instance_info', { host_name: this.host, instance_info: instances.toPrimitive() });
  }

  async deleteInstanceInfo(ctx: RequestContext, instanceUuid: string): Promise<void> {
    if (this.enabled) await this.rpc.cast(SCHEDULER_FANOUT, ctx, 'delete_instance_info', { host_name: this.host, instance_uuid: instanceUuid });
  }

  async syncInstanceInfo(ctx: RequestContext, instanceUuids: string[]): Promise<void> {
    if (this.enabled) await this.rpc.cast(SCHEDULER_FANOUT, ctx, 'sync_instance_info', { host_name: this.host, instance_uuids: instanceUuids });
  }
}
