import { strict as assert } from 'node:assert';
import { PeriodicTasks, type PeriodicRun } from '../../../src/nova-driver/periodic.js';
import { captureLogs } from '../../helpers/log-capture.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Until `runs` has `n` (timers run late on a loaded machine), at most 5 s. */
async function until(runs: PeriodicRun[], n: number): Promise<void> {
  for (const end = Date.now() + 5000; runs.length < n; await sleep(10)) if (Date.now() > end) assert.fail(`${runs.length} runs of ${n}`);
}

describe('periodic tasks: timed, failures and overruns logged', () => {
  let tasks: PeriodicTasks | null = null;
  afterEach(() => tasks?.stopAll());

  it('times every run and tells a failed one from one that went well', async () => {
    const runs: PeriodicRun[] = [];
    const logs = captureLogs();
    tasks = new PeriodicTasks((r) => runs.push(r));
    let n = 0;
    // far more room than the run needs: a late timer on a loaded machine still makes it in time
    tasks.every('audit', 0.2, async () => {
      await sleep(5);
      if (++n === 2) throw new Error('conductor timed out');
    }, logs.log);
    await until(runs, 3);
    tasks.stopAll();
    assert.deepEqual(runs.slice(0, 3).map((r) => [r.task, r.ok]), [['audit', true], ['audit', false], ['audit', true]]);
    for (const r of runs) assert.ok(r.durationMs >= 4, `${r.durationMs} ms`);
    assert.equal(logs.find('periodic task failed')[0]?.err, 'conductor timed out');
    // a run within its interval is logged at debug with its time, failed or not
    const ran = logs.find('periodic task ran');
    assert.equal(ran.length + logs.find('periodic task outlasted its interval').length, runs.length);
    assert.ok(ran.length >= 1 && ran.every((l) => l.task === 'audit' && Number(l.duration_ms) >= 4));
  });

  it('warns of a run longer than its interval, and does not start the next one before it ends', async () => {
    const runs: PeriodicRun[] = [];
    const logs = captureLogs();
    tasks = new PeriodicTasks((r) => runs.push(r));
    let running = 0;
    let most = 0;
    tasks.every('sync_power_states', 0.02, async () => {
      most = Math.max(most, ++running);
      await sleep(70);
      running--;
    }, logs.log);
    await until(runs, 2);
    tasks.stopAll();
    assert.equal(most, 1);
    const warned = logs.find('periodic task outlasted its interval');
    assert.equal(warned.length, runs.length);
    assert.equal(logs.find('periodic task ran').length, 0);
    assert.equal(warned[0].task, 'sync_power_states');
    assert.equal(warned[0].interval_s, 0.02);
    assert.ok(Number(warned[0].duration_ms) >= 69, String(warned[0].duration_ms));
  });

  it('keeps running the task when the observer throws', async () => {
    let calls = 0;
    tasks = new PeriodicTasks(() => { throw new Error('observer broke'); });
    tasks.every('check_vifs', 0.02, async () => { calls++; }, captureLogs().log);
    for (const end = Date.now() + 5000; calls < 3; await sleep(10)) if (Date.now() > end) assert.fail(`${calls} runs`);
  });
});
