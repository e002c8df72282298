/**
 * What /healthz decides, from state the service already keeps (no RPC of its own per probe):
 *   broker     every RPC connection up (RpcTransport.status())
 *   engine     a cheap engine call (version/info), cached for a moment so probes cost nothing
 *   heartbeat  the last successful Service save younger than 2 x report_interval
 *   conductor  the last call to nova-conductor got an answer (a result or a remote error)
 * Any failing check makes the whole answer unhealthy (HTTP 503).
 */
import { PyError } from '../../messaging/errors.js';
import type { CallOptions, RequestContext, RpcClient, Target } from '../../messaging/types.js';

export interface BrokerState {
  connected: boolean;
  brokers: string;
  connections: { name: string; connected: boolean; lastError: string | null }[];
}

export interface ProbeResult<T> {
  ok: boolean;
  value?: T;
  error?: string;
  /** Epoch ms of the check. */
  at: number;
}

export interface ConductorCall {
  /** Epoch ms the call ended. */
  at: number;
  /** The conductor answered (a result or a remote exception). */
  ok: boolean;
  method: string;
  error?: string;
}

export interface HealthInputs {
  broker: BrokerState;
  engine: ProbeResult<{ version: string }>;
  lastHeartbeat: Date | null;
  reportIntervalS: number;
  conductor: ConductorCall | null;
  /** Epoch ms. */
  now: number;
}

export interface HealthReport {
  status: 'ok' | 'unhealthy';
  checks: {
    broker: { ok: boolean; brokers: string; connections: number; down: string[]; last_error?: string };
    engine: { ok: boolean; version: string | null; error?: string };
    heartbeat: { ok: boolean; age_s: number | null; max_age_s: number };
    conductor: { ok: boolean; last_call: string | null; last_call_age_s: number | null; error?: string };
  };
}

const round1 = (v: number): number => Math.round(v * 10) / 10;

export function evaluateHealth(i: HealthInputs): HealthReport {
  const down = i.broker.connections.filter((c) => !c.connected);
  const lastError = down.map((c) => c.lastError).find((e) => e);
  const broker = {
    ok: i.broker.connected, brokers: i.broker.brokers, connections: i.broker.connections.length, down: down.map((c) => c.name),
    ...(lastError ? { last_error: lastError } : {}),
  };
  const engine = { ok: i.engine.ok, version: i.engine.value?.version ?? null, ...(i.engine.error ? { error: i.engine.error } : {}) };
  const maxAge = 2 * i.reportIntervalS;
  const age = i.lastHeartbeat ? Math.max(0, (i.now - i.lastHeartbeat.getTime()) / 1000) : null;
  const heartbeat = { ok: age !== null && age < maxAge, age_s: age === null ? null : round1(age), max_age_s: maxAge };
  const c = i.conductor;
  const conductor = {
    ok: c?.ok === true,
    last_call: c?.method ?? null,
    last_call_age_s: c ? round1(Math.max(0, (i.now - c.at) / 1000)) : null,
    ...(c?.error ? { error: c.error } : c ? {} : { error: 'no call to nova-conductor yet' }),
  };
  const ok = broker.ok && engine.ok && heartbeat.ok && conductor.ok;
  return { status: ok ? 'ok' : 'unhealthy', checks: { broker, engine, heartbeat, conductor } };
}

/** True when the error came back from the peer (it was reachable), false for timeouts and transport errors. */
export function answeredByPeer(err: unknown): boolean {
  return err instanceof PyError && err.remoteTraceback !== undefined;
}

/**
 * Remembers the outcome of the last call to nova-conductor: wrap the RPC client the
 * ConductorClient uses and every call (heartbeat saves included) updates it.
 */
export class ConductorWatch {
  last: ConductorCall | null = null;

  constructor(private readonly topic = 'conductor', private readonly clock: () => number = Date.now) {}

  wrap(client: RpcClient): RpcClient {
    return {
      call: async <T>(target: Target, ctx: RequestContext, method: string, args: Record<string, unknown>, options?: CallOptions): Promise<T> => {
        if (target.topic !== this.topic) return client.call<T>(target, ctx, method, args, options);
        const name = conductorMethod(method, args);
        try {
          const result = await client.call<T>(target, ctx, method, args, options);
          this.last = { at: this.clock(), ok: true, method: name };
          return result;
        } catch (err) {
          const reached = answeredByPeer(err);
          this.last = { at: this.clock(), ok: reached, method: name, ...(reached ? {} : { error: errorText(err) }) };
          throw err;
        }
      },
      cast: (target, ctx, method, args) => client.cast(target, ctx, method, args),
    };
  }
}

/** `object_action` -> `Service.save`, as an operator reads it. */
function conductorMethod(method: string, args: Record<string, unknown>): string {
  if (method === 'object_action') {
    const inst = args.objinst as Record<string, unknown> | undefined;
    const name = inst && typeof inst['nova_object.name'] === 'string' ? inst['nova_object.name'] : 'object';
    return `${name}.${String(args.objmethod)}`;
  }
  if (method === 'object_class_action_versions') return `${String(args.objname)}.${String(args.objmethod)}`;
  return method;
}

function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 300);
  return String(err).slice(0, 300);
}

/**
 * A probe whose result is reused for `ttlMs`; concurrent callers share one check, and a check
 * that takes longer than `timeoutMs` counts as failed.
 */
export class CachedProbe<T> {
  private result: ProbeResult<T> | null = null;
  private inflight: Promise<ProbeResult<T>> | null = null;

  constructor(private readonly check: () => Promise<T>, private readonly ttlMs: number, private readonly timeoutMs: number,
    private readonly clock: () => number = Date.now) {}

  get(): Promise<ProbeResult<T>> {
    const now = this.clock();
    if (this.result && now - this.result.at < this.ttlMs) return Promise.resolve(this.result);
    if (!this.inflight) {
      this.inflight = this.run().then((r) => {
        this.result = r;
        this.inflight = null;
        return r;
      });
    }
    return this.inflight;
  }

  private async run(): Promise<ProbeResult<T>> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      const value = await Promise.race([this.check(), timeout]);
      return { ok: true, value, at: this.clock() };
    } catch (err) {
      return { ok: false, error: errorText(err), at: this.clock() };
    } finally {
      clearTimeout(timer);
    }
  }
}
