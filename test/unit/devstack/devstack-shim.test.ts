/**
 * The devstack shim's run_process (test/integration/devstack/devstack-shim.sh) ties the service
 * it starts to the test runner named in RUN_PROCESS_OWNER: a runner killed before its `after`
 * must not leave a nova-container behind to declare queues on the next cloud's broker.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SHIM = fileURLToPath(new URL('../../../../test/integration/devstack/devstack-shim.sh', import.meta.url));

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true; } catch { return false; }
};

async function gone(pid: number, withinMs: number): Promise<boolean> {
  for (const end = Date.now() + withinMs; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    if (!alive(pid)) return true;
  }
  return !alive(pid);
}

describe('devstack shim: run_process and its owner', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nc-shim-'));
  const started: number[] = [];
  after(() => {
    for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts `sleep 600` as service NAME through the shim, owned by OWNER; returns its pid. */
  function runProcess(name: string, owner: number): number {
    const r = spawnSync('bash', ['-c', `source "${SHIM}"; run_process ${name} "sleep 600" group root`], {
      encoding: 'utf8', timeout: 10_000,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin', ENABLED_SERVICES: name, SHIM_CALLS: join(dir, 'calls.log'),
        SERVICE_DIR: join(dir, 'status'), SERVICE_LOG_DIR: join(dir, 'logs'), RUN_PROCESS_OWNER: String(owner),
      },
    });
    assert.equal(r.status, 0, r.stderr);
    const pid = Number(readFileSync(join(dir, 'status', `${name}.pid`), 'utf8').trim());
    started.push(pid);
    return pid;
  }

  it('the service is killed once its owner is gone', async () => {
    const owner = spawn('sleep', ['600'], { stdio: 'ignore' });
    const pid = runProcess('owned', owner.pid ?? 0);
    assert.ok(alive(pid), 'the service started');
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(alive(pid), 'the service runs while its owner does');
    owner.kill('SIGKILL');
    assert.ok(await gone(pid, 5000), 'the service ended within 5 s of its owner');
  });

  it('a live owner leaves the service to stop_process', async () => {
    const pid = runProcess('kept', process.pid);
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(alive(pid), 'the service runs while this runner does');
    const r = spawnSync('bash', ['-c', `source "${SHIM}"; stop_process kept`], {
      encoding: 'utf8', timeout: 40_000,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SHIM_CALLS: join(dir, 'calls.log'), SERVICE_DIR: join(dir, 'status') },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(await gone(pid, 2000), 'stop_process ended it');
  });
});
