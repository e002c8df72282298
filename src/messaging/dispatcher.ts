/**
 * Endpoint selection as oslo_messaging/rpc/dispatcher.py RPCDispatcher.dispatch (267-320):
 * endpoints whose namespace equals the message's and whose version is compatible (same
 * major, requested minor <= endpoint minor) are searched in order for the method; none
 * compatible -> UnsupportedVersion, compatible but no such method -> NoSuchMethod.
 * Optional per-method ajv schemas check `args` before the handler runs.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { NoSuchMethod, UnsupportedVersion, ValueError } from './errors.js';
import { versionIsCompatible } from './envelope.js';
import type { Endpoint, IncomingCall, RequestContext } from './types.js';

export type Handler = Endpoint['handlers'][string];

export interface Resolved {
  endpoint: Endpoint;
  handler: Handler;
}

export class RpcDispatcher {
  private readonly ajv = new Ajv({ allErrors: true, strict: false });
  private readonly validators = new WeakMap<Endpoint, Map<string, ValidateFunction>>();

  constructor(readonly endpoints: readonly Endpoint[]) {
    for (const e of endpoints) {
      for (const [method, schema] of Object.entries(e.schemas ?? {})) {
        this.validator(e, method, schema); // compile early: a bad schema is a programming error
      }
    }
  }

  /** The endpoint and handler for a call, or NoSuchMethod / UnsupportedVersion. */
  resolve(call: Pick<IncomingCall, 'method' | 'namespace' | 'version'>): Resolved {
    let foundCompatible = false;
    for (const endpoint of this.endpoints) {
      if ((endpoint.namespace ?? null) !== (call.namespace ?? null)) continue;
      if (!versionIsCompatible(endpoint.version, call.version)) continue;
      const handler = Object.prototype.hasOwnProperty.call(endpoint.handlers, call.method) ? endpoint.handlers[call.method] : undefined;
      if (typeof handler === 'function') return { endpoint, handler };
      foundCompatible = true;
    }
    if (foundCompatible) throw new NoSuchMethod(call.method);
    throw new UnsupportedVersion(call.version, call.method);
  }

  /** Throws builtins.ValueError when `args` fail the endpoint's schema for the method. */
  validate(endpoint: Endpoint, method: string, args: Record<string, unknown>): void {
    const schema = endpoint.schemas?.[method];
    if (!schema) return;
    const validate = this.validator(endpoint, method, schema);
    if (!validate(args)) {
      const details = (validate.errors ?? []).slice(0, 5)
        .map((e) => `${e.instancePath || '(args)'} ${e.message ?? 'is invalid'}`).join('; ');
      throw new ValueError(`Invalid arguments for RPC method ${method}: ${details}`);
    }
  }

  /** resolve + validate + run. */
  async dispatch(call: IncomingCall): Promise<unknown> {
    const { endpoint, handler } = this.resolve(call);
    this.validate(endpoint, call.method, call.args);
    return handler(call.context as RequestContext, call.args, call);
  }

  private validator(endpoint: Endpoint, method: string, schema: object): ValidateFunction {
    let perEndpoint = this.validators.get(endpoint);
    if (!perEndpoint) {
      perEndpoint = new Map();
      this.validators.set(endpoint, perEndpoint);
    }
    let v = perEndpoint.get(method);
    if (!v) {
      v = this.ajv.compile(schema);
      perEndpoint.set(method, v);
    }
    return v;
  }
}
