import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CRASH = pathToFileURL(fileURLToPath(new URL('../../../src/common/crash.js', import.meta.url))).href;
const CLI = fileURLToPath(new URL('../../../src/cli.js', import.meta.url));

/** The parsed JSON lines of a child's stdout (others skipped). */
function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout.split('\n').flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

describe('common/crash: an unhandled rejection ends the process, logged', () => {
  it('logs the rejection as one pino fatal line and exits 1 at once', () => {
    const script = `import { exitOnUnhandledRejection } from ${JSON.stringify(CRASH)};
exitOnUnhandledRejection();
setTimeout(() => process.exit(0), 10_000); // what a running service looks like: it would not end by itself
void Promise.reject(new Error('boom from a forgotten promise'));`;
    const started = Date.now();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.ok(Date.now() - started < 8000, 'exited by the handler, not by the timer');
    const fatal = jsonLines(r.stdout).filter((l) => l.level === 60);
    assert.equal(fatal.length, 1, r.stdout);
    assert.equal(fatal[0].msg, 'unhandled promise rejection; exiting');
    assert.equal(fatal[0].name, 'nova-container');
    const err = fatal[0].err as { message: string; stack: string };
    assert.equal(err.message, 'boom from a forgotten promise');
    assert.match(err.stack, /boom from a forgotten promise/);
  });

  it('logs a rejection with a value that is no Error too', () => {
    const script = `import { exitOnUnhandledRejection } from ${JSON.stringify(CRASH)};
exitOnUnhandledRejection();
void Promise.reject({ code: 42 });`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 1, r.stderr);
    const fatal = jsonLines(r.stdout).filter((l) => l.level === 60);
    assert.equal(fatal.length, 1, r.stdout);
    assert.equal(fatal[0].reason, '{"code":42}');
  });

  it('is installed by the executable while it runs the compute host', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nc-crash-'));
    try {
      const conf = join(dir, 'nova.conf');
      // Nothing listens on port 1: the host keeps trying the broker, as it does while RabbitMQ is down.
      writeFileSync(conf, '[DEFAULT]\ntransport_url = rabbit://u:p@127.0.0.1:1/\nstate_path = ' + dir + '\n');
      const reject = "data:text/javascript,setTimeout(() => { void Promise.reject(new Error('rejected while running')); }, 1500);";
      const r = spawnSync(process.execPath, ['--import', reject, CLI, '--config-file', conf], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 1, `${String(r.status)} ${r.stderr}`);
      const fatal = jsonLines(r.stdout).filter((l) => l.level === 60);
      assert.equal(fatal.length, 1, r.stdout);
      assert.equal((fatal[0].err as { message: string }).message, 'rejected while running');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
