/**
 * SerialConsoles without an engine: which kept ports a start listens on again, a stopped
 * service opens no console, and [serial_console] port_range as it is read. The bridge to a
 * workload is shown on the real engines (test/integration/runtime/serial-consoles.test.ts).
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/common/log.js';
import { parsePortRange } from '../../../src/config/options.js';
import { SerialConsoles } from '../../../src/runtime/serial-consoles.js';
import type { ContainerEngine } from '../../../src/runtime/types.js';

/** A port the system picks, free when this returns. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

describe('serial consoles: kept ports and the range', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'nc-consoles-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a start listens again only on kept ports of instances still here and inside the range as it is now', async () => {
    const port = await freePort();
    const [here, gone, outside, zero, notNumber] = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const stateFile = join(dir, 'serial-consoles.json');
    writeFileSync(stateFile, JSON.stringify({ [here]: port, [gone]: port + 1, [outside]: port + 50, [zero]: 0, [notNumber]: 'x' }));
    const consoles = new SerialConsoles({} as ContainerEngine, { address: '127.0.0.1', portRange: [port, port + 10], stateFile }, silentLogger());
    await consoles.restore(new Set([here, outside, zero, notNumber]));
    assert.deepEqual(JSON.parse(readFileSync(stateFile, 'utf8')), { [here]: port });
    assert.deepEqual(await consoles.address(here), { host: '127.0.0.1', port });
    await consoles.close();
    await assert.rejects(consoles.address(here), /the service is stopping/);
  });

  it('a kept file that is no JSON object: nothing restored, ports allocated anew', async () => {
    const stateFile = join(dir, 'serial-consoles.json');
    for (const text of ['null', '[1]', 'not json']) {
      writeFileSync(stateFile, text);
      const consoles = new SerialConsoles({} as ContainerEngine, { address: '127.0.0.1', portRange: [40000, 40010], stateFile }, silentLogger());
      await consoles.restore(new Set());
      assert.deepEqual(JSON.parse(readFileSync(stateFile, 'utf8')), {}, text);
      await consoles.close();
    }
  });

  it('port_range: start:stop, start below stop, ports of TCP', () => {
    assert.deepEqual(parsePortRange('10000:20000'), [10000, 20000]);
    assert.deepEqual(parsePortRange('1:65536'), [1, 65536]);
    for (const bad of ['20000:10000', '10000:10000', '0:10', '1:65537', '10000', 'a:b', '10000:20000:1']) {
      assert.throws(() => parsePortRange(bad), /must be start:stop/, bad);
    }
  });
});
