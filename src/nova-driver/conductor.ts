/**
 * The compute host's side of the conductor's object protocol (topic `conductor`, version 3.0,
 * no namespace; nova/conductor/rpcapi.py): remote object methods and the readiness ping.
 */
import type { Logger } from '../common/log.js';
import type { RequestContext, RpcClient, Target } from '../messaging/types.js';
import { NovaObject, decodeValue, encodeValue, type FieldValue, type Primitive } from './objects/versioned-object.js';
import { objectManifest } from './objects/manifest.js';

const CONDUCTOR: Target = { topic: 'conductor', version: '3.0' };
const BASEAPI: Target = { topic: 'conductor', namespace: 'baseapi', version: '1.0' };

export class ConductorClient {
  constructor(private readonly rpc: RpcClient, private readonly log: Logger) {}

  /**
   * Pings until a conductor answers: ten tries with a short timeout, then the normal one, as
   * nova's conductor API wait_until_ready does. Resolves once answered or rejects when aborted.
   */
  async waitUntilReady(ctx: RequestContext, signal?: AbortSignal, earlyTimeout = 10, earlyAttempts = 10): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      try {
        await this.rpc.call(BASEAPI, ctx, 'ping', { arg: '1.21 GigaWatts' },
          attempt < earlyAttempts ? { timeout: earlyTimeout } : {});
        if (attempt > 0) this.log.info('nova-conductor connection established');
        return;
      } catch (err) {
        if (!isTimeout(err)) throw err;
        this.log.warn({ attempt: attempt + 1 }, 'timed out waiting for nova-conductor; is it running? retrying');
      }
    }
  }

  /** A remotable classmethod, e.g. Service.get_by_host_and_binary(host, binary). */
  async classAction(ctx: RequestContext, objname: string, objmethod: string,
    args: FieldValue[] = [], kwargs: Record<string, FieldValue> = {}): Promise<FieldValue> {
    const result = await this.rpc.call<Primitive>(CONDUCTOR, ctx, 'object_class_action_versions', {
      objname,
      objmethod,
      object_versions: objectManifest(objname),
      args: args.map(encodeValue),
      kwargs: encodeKwargs(kwargs),
    });
    return decodeValue(result ?? null);
  }

  /** Like classAction, for methods that return one object or nothing. */
  async classActionObject(ctx: RequestContext, objname: string, objmethod: string,
    args: FieldValue[] = [], kwargs: Record<string, FieldValue> = {}): Promise<NovaObject | null> {
    const result = await this.classAction(ctx, objname, objmethod, args, kwargs);
    if (result === null) return null;
    if (!(result instanceof NovaObject)) throw new TypeError(`${objname}.${objmethod} did not return an object`);
    return result;
  }

  /**
   * A remotable instance method (save, create, destroy, ...). The conductor answers
   * `[updates, result]`; the updates are applied to `obj`, so after `save` it holds what the
   * database holds and has no pending changes.
   */
  async objectAction(ctx: RequestContext, obj: NovaObject, objmethod: string,
    args: FieldValue[] = [], kwargs: Record<string, FieldValue> = {}): Promise<FieldValue> {
    const reply = await this.rpc.call<Primitive>(CONDUCTOR, ctx, 'object_action', {
      objinst: obj.toPrimitive(),
      objmethod,
      args: args.map(encodeValue),
      kwargs: encodeKwargs(kwargs),
    });
    if (!Array.isArray(reply) || reply.length !== 2 || typeof reply[0] !== 'object' || reply[0] === null || Array.isArray(reply[0])) {
      throw new TypeError(`object_action ${obj.name}.${objmethod}: unexpected reply ${JSON.stringify(reply).slice(0, 200)}`);
    }
    obj.applyUpdates(reply[0]);
    return decodeValue(reply[1]);
  }
}

function encodeKwargs(kwargs: Record<string, FieldValue>): Record<string, Primitive> {
  const out: Record<string, Primitive> = {};
  for (const [k, v] of Object.entries(kwargs)) out[k] = encodeValue(v);
  return out;
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && err.name === 'MessagingTimeout';
}
