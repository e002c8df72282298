/**
 * The operator endpoints of a real compute host on the local cloud: an extra nova-container
 * (host nc-ops-test) with [container] health_listen on a free loopback port, reaching
 * RabbitMQ through a TCP proxy inside this test. The shared broker is never touched: "RabbitMQ
 * unavailable" is the proxy dropping every connection and refusing new ones, which is what
 * the host sees when the broker dies. /healthz must turn 503 within one heartbeat interval
 * and 200 again once the broker is back, with no restart of the service; /metrics must count
 * a server built on this host. A SIGHUP with debug turned on in its file must leave it running
 * and logging at debug. Last, a SIGTERM while the proxy holds every connection open and
 * forwards nothing (a broker that answers nothing): the service must still stop and exit by
 * itself; it used to wait forever for the broker's cancel-ok and close-ok.
 */
import { strict as assert } from 'node:assert';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import {
  computeConfValue, settlesWithin, waitFor, type ComputeProcess,
} from '../../helpers/cloud.js';
import { forgetTestCompute, joinTestCompute } from '../../helpers/rest.js';
import { BOOT_MICROVERSION, Created, cli, deleteWithCli, waitForStatus } from '../../helpers/servers.js';
import { RUN, newImageOfArchive } from '../lifecycle/fixture.js';
import { TcpProxy } from '../../helpers/tcp-proxy.js';

const HOST = 'nc-ops-test';
/** The local cloud's report_interval (devstack/lib/nova_container.sh), inherited by the test host. */
const REPORT_INTERVAL_S = Number(computeConfValue('DEFAULT', 'report_interval') ?? 10);
/** What the test host inherits from the local cloud's configuration, else Nova's default. */
const GRACEFUL_SHUTDOWN_TIMEOUT_S = Number(computeConfValue('DEFAULT', 'graceful_shutdown_timeout') ?? 60);

interface Health { status: string; checks: Record<string, { ok: boolean } & Record<string, unknown>> }

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** `name{labels} value` samples of a /metrics text. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('operator endpoints of a compute host on the local cloud (/healthz, /metrics)', function () {
  this.timeout(300_000);
  const created = new Created();
  const proxy = new TcpProxy({ host: '127.0.0.1', port: 5672 });
  let compute: ComputeProcess;
  let base: string;

  const health = async (): Promise<{ code: number; body: Health }> => {
    const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5000) });
    return { code: res.status, body: await res.json() as Health };
  };
  const metrics = async (): Promise<Map<string, number>> => {
    const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    return samples(await res.text());
  };

  before(async () => {
    await forgetTestCompute(HOST);
    await proxy.listen();
    const healthPort = await freePort();
    base = `http://127.0.0.1:${healthPort}`;
    const url = new URL(computeConfValue('DEFAULT', 'transport_url') ?? '');
    url.host = `127.0.0.1:${proxy.port}`;
    compute = await joinTestCompute(HOST, [
      `transport_url = ${url.toString()}`,
      '[oslo_messaging_rabbit]',
      'rabbit_retry_interval = 1',
      'rabbit_retry_backoff = 0',
      '[container]',
      `health_listen = 127.0.0.1:${healthPort}`,
      '',
    ].join('\n'));
    await waitFor('/healthz to answer 200', async () => (await health()).code === 200, 30_000, 500);
  });

  after(async () => {
    if (!proxy.up) await proxy.listen().catch(() => undefined);
    await created.cleanup();
    await compute?.stop();
    await proxy.cut();
    await forgetTestCompute(HOST);
  });

  it('/healthz: 200 with broker, engine, heartbeat and conductor checks passing', async () => {
    const { code, body } = await health();
    assert.equal(code, 200, JSON.stringify(body));
    assert.equal(body.status, 'ok');
    assert.deepEqual(Object.keys(body.checks), ['broker', 'engine', 'heartbeat', 'conductor']);
    for (const c of Object.values(body.checks)) assert.equal(c.ok, true, JSON.stringify(body));
    assert.match(String(body.checks.engine.version), /^\d+\.\d+/);
    assert.ok(Number(body.checks.heartbeat.age_s) < 2 * REPORT_INTERVAL_S);
    assert.equal(body.checks.broker.brokers, `127.0.0.1:${proxy.port}`);
  });

  it('/metrics: builds, image downloads, running instances and RPC counts move as a server is built here', async () => {
    const before = await metrics();
    assert.equal(before.get('nova_container_builds_total'), 0);
    assert.equal(before.get('nova_container_instances_running'), 0);
    assert.equal(before.get('nova_container_healthy'), 1);
    assert.ok((before.get('nova_container_heartbeat_age_seconds') ?? Infinity) < 2 * REPORT_INTERVAL_S);

    // An image of its own: the engine is shared, and a cached copy would not be downloaded.
    const image = await newImageOfArchive(created, 'ops');
    const id = (await cli(['--os-compute-api-version', BOOT_MICROVERSION, 'server', 'create', '--image', image.id, '--flavor', 'm1.tiny',
      '--nic', 'none', '--availability-zone', `nova:${HOST}`, `${RUN}-ops`, '-f', 'value', '-c', 'id'])).trim();
    assert.match(id, /^[0-9a-f-]{36}$/);
    created.servers.add(id);
    const server = await waitForStatus(id, 'ACTIVE', 120_000);
    assert.equal(server['OS-EXT-SRV-ATTR:host'], HOST);

    const after = await waitFor('the build to be counted', async () => {
      const m = await metrics();
      return m.get('nova_container_builds_total') === 1 && m.get('nova_container_instances_running') === 1 ? m : null;
    }, 30_000, 500);
    assert.equal(after.get('nova_container_build_failures_total'), 0);
    assert.equal(after.get('nova_container_build_duration_seconds_count'), 1);
    assert.ok((after.get('nova_container_build_duration_seconds_sum') ?? 0) > 0);
    assert.equal(after.get('nova_container_rpc_messages_total{method="build_and_run_instance",kind="cast",outcome="ok"}'), 1);
    assert.equal(after.get('nova_container_rpc_duration_seconds_count{method="build_and_run_instance"}'), 1);
    assert.equal(after.get('nova_container_image_downloads_total'), 1, 'a fresh host downloads the image once');
    assert.ok((after.get('nova_container_image_downloaded_bytes_total') ?? 0) > 0);
    assert.equal(after.get('nova_container_image_cache_hits_total'), 0);
    assert.equal(after.get('nova_container_snapshots_uploaded_total'), 0);

    // Logs: the build's lines carry Nova's request id and the instance uuid.
    const built = readFileSync(compute.logFile, 'utf8').split('\n').filter((l) => l.includes('"instance built"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.instance === id);
    assert.ok(built, 'an "instance built" log line for the server');
    assert.match(String(built.request_id), /^req-[0-9a-f-]{36}$/);

    await deleteWithCli(id);
    created.servers.delete(id);
    // the instance counts are of a listing kept for 5 s (src/nova-driver/ops/endpoints.ts)
    await waitFor('the delete to be counted', async () => {
      const m = await metrics();
      return m.get('nova_container_rpc_messages_total{method="terminate_instance",kind="cast",outcome="ok"}') === 1 &&
        m.get('nova_container_instances_running') === 0;
    }, 30_000, 500);
  });

  it('/metrics: the periodic tasks\' runs are timed (the token cleanup runs every instance_delete_interval)', async () => {
    const intervalS = Number(computeConfValue('DEFAULT', 'instance_delete_interval') ?? 300);
    const name = (metric: string): string => `nova_container_periodic_task_${metric}{task="cleanup_expired_console_auth_tokens"}`;
    const m = await waitFor('a run of the token cleanup', async () => {
      const now = await metrics();
      return (now.get(name('duration_seconds_count')) ?? 0) >= 1 ? now : null;
    }, (intervalS + 10) * 1000, 500);
    const mean = m.get(name('duration_seconds_sum'))! / m.get(name('duration_seconds_count'))!;
    // a conductor round trip: more than nothing, far less than the interval
    assert.ok(mean > 0 && mean < intervalS, String(mean));
    assert.equal(m.get(name('failures_total')), undefined, 'no failed run');
  });

  it('/healthz: 503 within one heartbeat interval of losing RabbitMQ, 200 again once it is back, same process', async () => {
    const pid = compute.child.pid;
    assert.equal((await health()).code, 200);

    const cutAt = Date.now();
    await proxy.cut();
    const down = await waitFor('/healthz 503', async () => {
      const h = await health();
      return h.code === 503 ? h : null;
    }, REPORT_INTERVAL_S * 1000, 100);
    const toUnhealthyMs = Date.now() - cutAt;
    assert.equal(down.body.status, 'unhealthy');
    assert.equal(down.body.checks.broker.ok, false);

    // Stay away long enough for heartbeats to go stale too.
    const stale = await waitFor('the heartbeat check to fail', async () => {
      const h = await health();
      return h.body.checks.heartbeat.ok === false ? h : null;
    }, 3 * REPORT_INTERVAL_S * 1000, 500);
    assert.equal(stale.code, 503);
    const m = await metrics();
    assert.equal(m.get('nova_container_health_check{check="broker"}'), 0);
    assert.equal(m.get('nova_container_healthy'), 0);

    const restoredAt = Date.now();
    await proxy.listen();
    const up = await waitFor('/healthz 200 again', async () => {
      const h = await health();
      return h.code === 200 ? h : null;
    }, 60_000, 100);
    const toHealthyMs = Date.now() - restoredAt;
    for (const c of Object.values(up.body.checks)) assert.equal(c.ok, true);
    assert.equal(compute.child.pid, pid);
    assert.equal(compute.child.exitCode, null, 'the service was not restarted');
    console.log(`      measured: unhealthy ${toUnhealthyMs} ms after the cut, healthy ${toHealthyMs} ms after the broker came back (report_interval ${REPORT_INTERVAL_S} s)`);
  });

  /** The records the test host logged since the log had `offset` bytes. */
  const recordsSince = (offset: number) => readFileSync(compute.logFile).subarray(offset).toString('utf8').split('\n').filter(Boolean)
    .map((l) => JSON.parse(l) as { level: number; msg: string } & Record<string, unknown>);

  it('SIGHUP with debug turned on in its file: the files are read again, debug lines follow, same process', async () => {
    const pid = compute.child.pid;
    const logStart = statSync(compute.logFile).size;
    const linesSince = () => recordsSince(logStart);
    assert.equal(linesSince().filter((l) => l.level === 20).length, 0, 'no debug line before');
    appendFileSync(join(compute.dir, 'override.conf'), '\n[DEFAULT]\ndebug = true\n');
    compute.child.kill('SIGHUP');
    const reread = await waitFor('the files read again', async () => linesSince().find((l) => l.msg === 'configuration files read again'), 10_000, 100);
    assert.equal(reread.log_level, 'debug');
    await waitFor('a debug line (a heartbeat\'s conductor CALL)', async () => linesSince().some((l) => l.level === 20 && l.msg === 'CALL'), 3 * REPORT_INTERVAL_S * 1000, 200);
    assert.equal(compute.child.pid, pid);
    assert.equal(compute.child.exitCode, null, 'SIGHUP did not end the service');
    assert.equal((await health()).code, 200);
  });

  it('SIGTERM while RabbitMQ answers nothing: the service stops and exits by itself, within graceful_shutdown_timeout', async () => {
    await created.cleanup(); // while its host can still delete what an earlier test left
    await waitFor('/healthz 200', async () => (await health()).code === 200, 60_000, 200);
    const logStart = statSync(compute.logFile).size;
    const exited = new Promise<number | null>((resolve) => compute.child.once('exit', (code) => resolve(code)));
    proxy.hold();
    compute.child.kill('SIGTERM');
    const tookMs = await settlesWithin(exited, GRACEFUL_SHUTDOWN_TIMEOUT_S * 1000);
    await proxy.cut();
    const records = recordsSince(logStart);
    assert.notEqual(tookMs, null, `still running ${GRACEFUL_SHUTDOWN_TIMEOUT_S} s after SIGTERM: ${records.slice(-5).map((r) => r.msg).join(' | ')}`);
    assert.equal(await exited, 0, 'a stop that ended, not the graceful_shutdown_timeout\'s exit');
    assert.ok(records.some((r) => r.msg === 'the AMQP server did not confirm the close; cutting the connection'), 'the unanswered closes were cut');
    console.log(`      measured: exited ${tookMs} ms after SIGTERM with the broker answering nothing`);
  });
});
