import { strict as assert } from 'node:assert';
import { CachedProbe, ConductorWatch, evaluateHealth, type HealthInputs } from '../../../src/nova-driver/ops/health.js';
import { parseListen } from '../../../src/nova-driver/ops/endpoints.js';
import { MessagingTimeout } from '../../../src/messaging/errors.js';
import { deserializeRemoteException, serializeRemoteException } from '../../../src/messaging/failure.js';
import type { RpcClient, Target } from '../../../src/messaging/types.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');

function inputs(over: Partial<HealthInputs> = {}): HealthInputs {
  return {
    broker: { connected: true, brokers: '127.0.0.1:5672', connections: [{ name: 'send', connected: true, lastError: null }] },
    engine: { ok: true, value: { version: '20.10.24' }, at: NOW },
    lastHeartbeat: new Date(NOW - 3000),
    reportIntervalS: 5,
    conductor: { at: NOW - 3000, ok: true, method: 'Service.save' },
    now: NOW,
    ...over,
  };
}

describe('ops/health: /healthz decisions', () => {
  it('is ok when every check passes, with the details an operator reads', () => {
    const r = evaluateHealth(inputs());
    assert.equal(r.status, 'ok');
    assert.deepEqual(r.checks, {
      broker: { ok: true, brokers: '127.0.0.1:5672', connections: 1, down: [] },
      engine: { ok: true, version: '20.10.24' },
      heartbeat: { ok: true, age_s: 3, max_age_s: 10 },
      conductor: { ok: true, last_call: 'Service.save', last_call_age_s: 3 },
    });
  });

  it('is unhealthy when the broker connection is down, naming it', () => {
    const r = evaluateHealth(inputs({
      broker: { connected: false, brokers: 'b:5672', connections: [{ name: 'send', connected: true, lastError: null }, { name: 'server:compute.h', connected: false, lastError: 'ECONNREFUSED' }] },
    }));
    assert.equal(r.status, 'unhealthy');
    assert.deepEqual(r.checks.broker, { ok: false, brokers: 'b:5672', connections: 2, down: ['server:compute.h'], last_error: 'ECONNREFUSED' });
  });

  it('is unhealthy when the engine probe failed', () => {
    const r = evaluateHealth(inputs({ engine: { ok: false, error: 'Error: connect ENOENT', at: NOW } }));
    assert.equal(r.status, 'unhealthy');
    assert.deepEqual(r.checks.engine, { ok: false, version: null, error: 'Error: connect ENOENT' });
  });

  it('wants a heartbeat younger than 2 x report_interval, and one at all', () => {
    assert.equal(evaluateHealth(inputs({ lastHeartbeat: new Date(NOW - 9900) })).checks.heartbeat.ok, true);
    const old = evaluateHealth(inputs({ lastHeartbeat: new Date(NOW - 10_000) }));
    assert.equal(old.status, 'unhealthy');
    assert.deepEqual(old.checks.heartbeat, { ok: false, age_s: 10, max_age_s: 10 });
    const none = evaluateHealth(inputs({ lastHeartbeat: null }));
    assert.deepEqual(none.checks.heartbeat, { ok: false, age_s: null, max_age_s: 10 });
  });

  it('judges the conductor by the last call\'s outcome', () => {
    const down = evaluateHealth(inputs({ conductor: { at: NOW - 1000, ok: false, method: 'Service.save', error: 'MessagingTimeout: x' } }));
    assert.equal(down.status, 'unhealthy');
    assert.deepEqual(down.checks.conductor, { ok: false, last_call: 'Service.save', last_call_age_s: 1, error: 'MessagingTimeout: x' });
    const never = evaluateHealth(inputs({ conductor: null }));
    assert.equal(never.checks.conductor.ok, false);
    assert.match(never.checks.conductor.error ?? '', /no call/);
  });
});

describe('ops/health: ConductorWatch', () => {
  const conductor: Target = { topic: 'conductor', version: '3.0' };
  function fake(outcome: () => Promise<unknown>): RpcClient & { calls: number } {
    const c = {
      calls: 0,
      async call<T>(): Promise<T> { c.calls += 1; return await outcome() as T; },
      async cast(): Promise<void> { /* nothing */ },
    };
    return c;
  }

  it('records success, a remote exception as reachable, a timeout as unreachable', async () => {
    let t = 1000;
    const w = new ConductorWatch('conductor', () => t);
    let next: () => Promise<unknown> = async () => [{}, null];
    const client = w.wrap(fake(() => next()));
    assert.equal(w.last, null);
    await client.call(conductor, {}, 'object_action', { objinst: { 'nova_object.name': 'Service' }, objmethod: 'save' });
    assert.deepEqual(w.last, { at: 1000, ok: true, method: 'Service.save' });

    t = 2000;
    const remote = deserializeRemoteException(serializeRemoteException(new Error('boom')));
    next = async () => { throw remote; };
    await assert.rejects(client.call(conductor, {}, 'object_class_action_versions', { objname: 'Instance', objmethod: 'get_by_uuid' }));
    assert.deepEqual(w.last, { at: 2000, ok: true, method: 'Instance.get_by_uuid' });

    t = 3000;
    next = async () => { throw new MessagingTimeout('Timed out waiting for a reply'); };
    await assert.rejects(client.call(conductor, {}, 'object_action', { objinst: { 'nova_object.name': 'Service' }, objmethod: 'save' }));
    const last = w.last as { ok: boolean; at: number; error?: string } | null;
    assert.equal(last?.ok, false);
    assert.equal(last?.at, 3000);
    assert.match(last?.error ?? '', /MessagingTimeout: Timed out/);
  });

  it('ignores calls to other topics', async () => {
    const w = new ConductorWatch();
    const client = w.wrap(fake(async () => { throw new MessagingTimeout('x'); }));
    await assert.rejects(client.call({ topic: 'scheduler', version: '4.0' }, {}, 'select_destinations', {}));
    assert.equal(w.last, null);
  });
});

describe('ops/health: CachedProbe', () => {
  it('reuses a result within the TTL and shares one check between concurrent callers', async () => {
    let t = 0;
    let checks = 0;
    const p = new CachedProbe(async () => { checks += 1; return checks; }, 1000, 500, () => t);
    const [a, b] = await Promise.all([p.get(), p.get()]);
    assert.equal(checks, 1);
    assert.deepEqual([a.value, b.value], [1, 1]);
    t = 999;
    assert.equal((await p.get()).value, 1);
    t = 1000;
    assert.equal((await p.get()).value, 2);
  });

  it('turns a failure or a hang into ok: false', async () => {
    const failing = new CachedProbe(async () => { throw new Error('engine down'); }, 0, 500);
    assert.deepEqual({ ...(await failing.get()), at: 0 }, { ok: false, error: 'Error: engine down', at: 0 });
    const hanging = new CachedProbe(() => new Promise<number>(() => undefined), 0, 50);
    const r = await hanging.get();
    assert.equal(r.ok, false);
    assert.match(r.error ?? '', /no answer within 50 ms/);
  });
});

describe('ops: [container] health_listen', () => {
  it('reads host:port, [v6]:port and a bare port (loopback); empty or port 0 is off', () => {
    assert.deepEqual(parseListen('127.0.0.1:8779'), { host: '127.0.0.1', port: 8779 });
    assert.deepEqual(parseListen('0.0.0.0:9000'), { host: '0.0.0.0', port: 9000 });
    assert.deepEqual(parseListen('[::1]:8779'), { host: '::1', port: 8779 });
    assert.deepEqual(parseListen('localhost:1'), { host: 'localhost', port: 1 });
    assert.deepEqual(parseListen(' 8779 '), { host: '127.0.0.1', port: 8779 });
    assert.equal(parseListen(''), null);
    assert.equal(parseListen('127.0.0.1:0'), null);
    assert.equal(parseListen('0'), null);
  });

  it('refuses anything else with the option named', () => {
    for (const bad of ['127.0.0.1', '127.0.0.1:', ':8779', '127.0.0.1:65536', 'http://127.0.0.1:8779', '::1:8779', 'a b:1']) {
      assert.throws(() => parseListen(bad), (e: Error) => e.name === 'ConfigError' && /\[container\] health_listen: must be/.test(e.message), bad);
    }
  });
});
