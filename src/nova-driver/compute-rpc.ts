/**
 * Casts to another compute host (topic `compute`, server = its host; nova/compute/rpcapi.py):
 * the steps of a move that run on the move's other host. Version 6.0, which every release from
 * Zed on serves; the arguments are 6.0's.
 */
import type { RequestContext, RpcClient } from '../messaging/types.js';

const VERSION = '6.0';

/** What a move's handlers cast to the other host. */
export type MoveStep = 'resize_instance' | 'finish_resize' | 'finish_revert_resize';

export interface ComputeCasts {
  cast(ctx: RequestContext, host: string, method: MoveStep, args: Record<string, unknown>): Promise<void>;
}

export class ComputeRpcClient implements ComputeCasts {
  constructor(private readonly rpc: RpcClient) {}

  async cast(ctx: RequestContext, host: string, method: MoveStep, args: Record<string, unknown>): Promise<void> {
    await this.rpc.cast({ topic: 'compute', server: host, version: VERSION }, ctx, method, args);
  }
}
