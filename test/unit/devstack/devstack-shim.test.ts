/**
 * The devstack shim's run_process (test/integration/devstack/devstack-shim.sh) ties the service
 * it starts to the test runner named in RUN_PROCESS_OWNER: a runner killed before its `after`
 * must not leave a nova-container behind to declare queues on the next cloud's broker.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SHIM = fileURLToPath(new URL('../../../../test/integration/devstack/devstack-shim.sh', import.meta.url));

/** The process's /proc/<pid>/stat fields after its command, or null when it is gone. */
function stat(pid: number | string): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Running, not gone and not a zombie its reaper has yet to collect. */
const alive = (pid: number): boolean => { const f = stat(pid); return f !== null && f[0] !== 'Z'; };

/** The live processes of the process group `pgid`. */
const group = (pgid: number): number[] =>
  readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((p) => { const f = stat(p); return f !== null && f[0] !== 'Z' && Number(f[2]) === pgid; });

async function gone(pid: number, withinMs: number): Promise<boolean> {
  for (const end = Date.now() + withinMs; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    if (!alive(pid)) return true;
  }
  return !alive(pid);
}

describe('devstack shim: run_process and its owner', () => {
  let dir = '';
  const started: number[] = [];
  before(() => { dir = mkdtempSync(join(tmpdir(), 'nc-shim-')); });
  after(() => {
    for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Starts COMMAND as service NAME through the shim, owned by OWNER; returns its pid. */
  function runProcess(name: string, owner: number, command = 'sleep 600'): number {
    const r = spawnSync('bash', ['-c', `source "${SHIM}"; run_process ${name} "$1" group root`, 'shim', command], {
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

  it('the service and its children are killed once its owner is gone', async () => {
    const owner = spawn('sleep', ['600'], { stdio: 'ignore' });
    started.push(owner.pid ?? 0);
    // a service with a child of its own, as nova-container runs ip, btrfs, ...
    const pid = runProcess('owned', owner.pid ?? 0, 'bash -c "sleep 601 & wait"');
    await new Promise((r) => setTimeout(r, 1500));
    const members = group(pid);
    started.push(...members);
    assert.equal(members.length, 2, `the service and its child run while their owner does (${members.join(' ')})`);
    owner.kill('SIGKILL');
    for (const p of members) assert.ok(await gone(p, 5000), `process ${p} of the service's group ended within 5 s of its owner`);
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
