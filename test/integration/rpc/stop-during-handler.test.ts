/**
 * Closing the RPC runtime while a handler runs (nova-container's SIGTERM during a build): close()
 * waits for the handler, then the process ends by itself. It used to linger until the server's
 * stop timeout (30 s in the service), held by the timer of that wait, which nothing cleared once
 * the handler was done; the local cloud and systemd then killed it. The child process
 * (children/stop-during-handler.ts) runs against the real broker with a stop timeout of 120 s.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { uuidHex } from '../../../src/messaging/dedup.js';
import { ensureRabbitMQ } from '../../helpers/rabbitmq.js';

const CHILD = fileURLToPath(new URL('./children/stop-during-handler.js', import.meta.url));
const STOP_TIMEOUT_MS = 120_000;

describe('rpc: close() while a handler runs', function () {
  this.timeout(180_000);

  before(ensureRabbitMQ);

  it('waits for the handler, then the process ends by itself, long before the stop timeout', async () => {
    const child = spawn(process.execPath, [CHILD, `nc_stop_${uuidHex().slice(0, 8)}`, String(STOP_TIMEOUT_MS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const t0 = Date.now();
    const exited = await new Promise<number | null>((resolve) => {
      const guard = setTimeout(() => { child.kill('SIGKILL'); resolve(null); }, STOP_TIMEOUT_MS / 2);
      child.once('exit', (code) => { clearTimeout(guard); resolve(code); });
    });
    assert.notEqual(exited, null, `the process still ran ${STOP_TIMEOUT_MS / 2000} s later: ${out}`);
    assert.equal(exited, 0, out);
    const closed = /closed (\d+)/.exec(out);
    assert.ok(closed, `close() returned: ${out}`);
    assert.ok(Number(closed[1]) >= 100, `close() waited for the running handler (${closed[1]} ms)`);
    console.log(`      measured: close() took ${closed[1]} ms, the process ended ${Date.now() - t0} ms after its start`);
  });
});
