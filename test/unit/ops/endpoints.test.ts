import { strict as assert } from 'node:assert';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { silentLogger } from '../../../src/common/log.js';
import { OperatorEndpoints, type WatchedParts } from '../../../src/nova-driver/ops/endpoints.js';
import { PowerState, type InstanceInfo } from '../../../src/nova-driver/instance-driver.js';
import type { BrokerState } from '../../../src/nova-driver/ops/health.js';


function world() {
  const broker: BrokerState = { connected: true, brokers: '127.0.0.1:5672', connections: [{ name: 'send', connected: true, lastError: null }] };
  const state = { engineUp: true, listCalls: 0 };
  const engine = {
    async info() {
      if (!state.engineUp) throw new Error('container engine unreachable');
      return { version: '20.10.24', apiVersion: '1.41', dataRoot: '/d', storageDriver: 'overlay2' };
    },
  };
  const instances = async (): Promise<InstanceInfo[]> => {
    state.listCalls++;
    if (!state.engineUp) throw new Error('container engine unreachable');
    return [{ uuid: 'a', state: PowerState.RUNNING }, { uuid: 'b', state: PowerState.RUNNING }, { uuid: 'c', state: PowerState.SHUTDOWN }];
  };
  const serviceRecord = { lastHeartbeat: new Date() as Date | null };
  const importer = { stats: () => ({ downloads: 2, downloadedBytes: 12345, cacheHits: 7, joined: 1, failures: 0, inFlight: 0, lastImportMs: 80 }) };
  const exporter = { stats: () => ({ uploads: 3, uploadedBytes: 999, failures: 1 }) };
  const parts: WatchedParts = { rpc: { status: () => broker }, engine, instances, serviceRecord, importer, exporter };
  return { broker, state, serviceRecord, parts };
}

async function serve(ops: OperatorEndpoints): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = ops.app().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

describe('ops/endpoints: /healthz and /metrics over HTTP', () => {
  it('/healthz answers 200 with every check, and 503 as soon as the broker is down', async () => {
    const w = world();
    const ops = new OperatorEndpoints(5, null, silentLogger());
    ops.watch(w.parts);
    ops.conductor.last = { at: Date.now(), ok: true, method: 'Service.save' };
    const s = await serve(ops);
    try {
      let res = await fetch(`${s.url}/healthz`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      const body = await res.json() as { status: string; checks: Record<string, { ok: boolean; version?: string }> };
      assert.equal(body.status, 'ok');
      assert.deepEqual(Object.keys(body.checks), ['broker', 'engine', 'heartbeat', 'conductor']);
      assert.equal(body.checks.engine.version, '20.10.24');

      w.broker.connected = false;
      res = await fetch(`${s.url}/healthz`);
      assert.equal(res.status, 503);
      assert.equal((await res.json() as { status: string }).status, 'unhealthy');
      w.broker.connected = true;
      assert.equal((await fetch(`${s.url}/healthz`)).status, 200);

      w.serviceRecord.lastHeartbeat = new Date(Date.now() - 11_000);
      assert.equal((await fetch(`${s.url}/healthz`)).status, 503);
      assert.equal((await fetch(`${s.url}/nothing`)).status, 404);
    } finally {
      await s.close();
    }
  });

  it('/metrics counts RPC dispatches, builds and periodic task runs, and reads importer, exporter, containers and heartbeat', async () => {
    const w = world();
    const ops = new OperatorEndpoints(5, null, silentLogger());
    ops.watch(w.parts);
    ops.observeRpc({ method: 'build_and_run_instance', namespace: null, kind: 'cast', outcome: 'ok', durationMs: 400 });
    ops.observeRpc({ method: 'build_and_run_instance', namespace: null, kind: 'cast', outcome: 'failure', durationMs: 1500, errorClass: 'BuildAbortException' });
    ops.observeRpc({ method: 'ping', namespace: 'baseapi', kind: 'call', outcome: 'ok', durationMs: 2 });
    ops.observePeriodic({ task: 'update_available_resource', durationMs: 800, ok: true });
    ops.observePeriodic({ task: 'update_available_resource', durationMs: 3000, ok: false });
    ops.observePeriodic({ task: 'cleanup_expired_console_auth_tokens', durationMs: 20, ok: true });
    const s = await serve(ops);
    try {
      const res = await fetch(`${s.url}/metrics`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      const text = await res.text();
      const line = (l: string): void => assert.ok(text.split('\n').includes(l), `missing line ${l} in\n${text}`);
      line('nova_container_rpc_messages_total{method="build_and_run_instance",kind="cast",outcome="ok"} 1');
      line('nova_container_rpc_messages_total{method="build_and_run_instance",kind="cast",outcome="failure"} 1');
      line('nova_container_rpc_messages_total{method="ping",kind="call",outcome="ok"} 1');
      line('nova_container_rpc_duration_seconds_count{method="ping"} 1');
      line('nova_container_builds_total 2');
      line('nova_container_build_failures_total 1');
      line('nova_container_build_duration_seconds_bucket{le="0.5"} 1');
      line('nova_container_build_duration_seconds_bucket{le="2"} 2');
      line('nova_container_build_duration_seconds_sum 1.9');
      line('nova_container_periodic_task_duration_seconds_bucket{task="update_available_resource",le="1"} 1');
      line('nova_container_periodic_task_duration_seconds_bucket{task="update_available_resource",le="5"} 2');
      line('nova_container_periodic_task_duration_seconds_sum{task="update_available_resource"} 3.8');
      line('nova_container_periodic_task_duration_seconds_count{task="cleanup_expired_console_auth_tokens"} 1');
      line('nova_container_periodic_task_failures_total{task="update_available_resource"} 1');
      assert.doesNotMatch(text, /periodic_task_failures_total\{task="cleanup_expired_console_auth_tokens"\}/);
      line('nova_container_image_cache_hits_total 7');
      line('nova_container_image_downloads_total 2');
      line('nova_container_image_downloaded_bytes_total 12345');
      line('nova_container_snapshots_uploaded_total 3');
      line('nova_container_instances_running 2');
      line('nova_container_instance_containers{state="shutdown"} 1');
      line('nova_container_health_check{check="broker"} 1');
      line('nova_container_health_check{check="conductor"} 0');
      line('nova_container_healthy 0');
      assert.match(text, /^nova_container_heartbeat_age_seconds \d/m);
      const gauge = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
      const [rss, heapTotal, heapUsed] = ['process_resident_memory_bytes', 'nodejs_heap_size_total_bytes', 'nodejs_heap_size_used_bytes'].map(gauge);
      assert.ok(heapUsed > 0 && heapUsed <= heapTotal && heapTotal < rss, `heap used ${heapUsed} <= total ${heapTotal} < RSS ${rss}`);
      assert.equal(w.state.listCalls, 1, 'one listing of the host\'s instances');
      // every sample line is name{labels} value
      for (const l of text.split('\n').filter((x) => x && !x.startsWith('#'))) assert.match(l, /^[a-z_:]+(\{[^}]*\})? [-+0-9.eInfNa]+$/, l);
    } finally {
      await s.close();
    }
  });

  it('leaves out container counts while the engine is down, and says so in the health gauge', async () => {
    const w = world();
    w.state.engineUp = false;
    const ops = new OperatorEndpoints(5, null, silentLogger());
    ops.watch(w.parts);
    const text = await ops.metrics.render();
    assert.doesNotMatch(text, /instances_running/);
    assert.match(text, /^nova_container_health_check\{check="engine"\} 0$/m);
  });

  it('listens where configured, and a port already taken is logged, not fatal', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const taken = new OperatorEndpoints(5, { host: '127.0.0.1', port }, silentLogger());
      await taken.start();
      assert.equal(taken.address(), null);
      await taken.close();
    } finally {
      await new Promise((r) => blocker.close(r));
    }
    const ops = new OperatorEndpoints(5, { host: '127.0.0.1', port }, silentLogger());
    await ops.start();
    try {
      assert.equal(ops.address()?.port, port);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(res.status, 503, 'nothing watched yet: not healthy');
    } finally {
      await ops.close();
    }
    assert.equal(ops.address(), null);
  });
});
