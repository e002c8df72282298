/**
 * SerialConsoles without an engine: which kept ports a start listens on again, a stopped
 * service opens no console, [serial_console] port_range as it is read, how long a refused client
 * stays connected, and how a client is closed when the workload ends. The bridge to a
 * workload is shown on the real engines (test/integration/runtime/serial-consoles.test.ts).
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
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

/** A client of a console port: its first bytes, all it received so far, and when its end came after the first bytes. */
function client(port: number): { socket: Socket; data: Promise<string>; received: () => string; msFromDataToEnd: Promise<number> } {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  let firstAt = 0;
  let gotData: (s: string) => void = () => undefined;
  const data = new Promise<string>((r) => { gotData = r; });
  socket.on('data', (b: Buffer) => {
    firstAt ||= Date.now();
    text += b.toString();
    gotData(text);
  });
  const msFromDataToEnd = new Promise<number>((r) => socket.on('end', () => r(Date.now() - firstAt)));
  return { socket, data, received: () => text, msFromDataToEnd };
}

/**
 * One instance's console on a free port, its workload's TTY a PassThrough; `use` connects to
 * `port`. The consoles are closed after `use`, whatever it did.
 */
async function withConsole(use: (port: number, tty: PassThrough, consoles: SerialConsoles) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nc-consoles-'));
  const port = await freePort();
  const tty = new PassThrough();
  const engine = { attachConsole: async () => tty } as unknown as ContainerEngine;
  const consoles = new SerialConsoles(engine, { address: '127.0.0.1', portRange: [port, port + 1], stateFile: join(dir, 'consoles.json') }, silentLogger());
  try {
    await consoles.address(randomUUID());
    await use(port, tty, consoles);
  } finally {
    await consoles.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('serial consoles: a client\'s end', () => {
  it('a refused client gets the reason and stays connected, what it types dropped, until the console goes (nova-serialproxy on Zed lost the reason when an end came soon after it)', () => withConsole(async (port, tty, consoles) => {
    const first = client(port);
    await new Promise((r) => first.socket.once('connect', r));
    tty.write('/ # ');
    await first.data;
    const second = client(port);
    let ended = false;
    second.socket.on('end', () => { ended = true; });
    assert.match(await second.data, /this console is in use by another client/);
    // the TTY echoes what reaches it back to the first client
    second.socket.write('typed by the second\r');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(ended, false, 'still connected a second after the reason');
    first.socket.write('typed by the first\r');
    await new Promise((r) => setTimeout(r, 200));
    assert.match(first.received(), /typed by the first/);
    assert.doesNotMatch(first.received(), /typed by the second/);
    const closed = new Promise((r) => second.socket.once('close', r));
    await consoles.close();
    await closed;
  }));

  it('at most eight refused clients are held: a ninth gets the end at once', () => withConsole(async (port, tty) => {
    const first = client(port);
    await new Promise((r) => first.socket.once('connect', r));
    tty.write('/ # ');
    await first.data;
    const held = Array.from({ length: 8 }, () => client(port));
    for (const h of held) assert.match(await h.data, /in use by another client/);
    const ninth = client(port);
    await new Promise((r) => ninth.socket.once('close', r));
    assert.equal(ninth.received(), '', 'closed without a word');
    assert.ok(held.every((h) => !h.socket.destroyed && h.socket.readyState === 'open'));
    for (const h of [first, ...held]) h.socket.destroy();
  }));

  it('the workload\'s end: its client gets the last output, and the end only a moment later', () => withConsole(async (port, tty) => {
    const c = client(port);
    await new Promise((r) => c.socket.once('connect', r));
    await new Promise((r) => setTimeout(r, 100)); // attached
    tty.end('bye\r\n');
    assert.equal(await c.data, 'bye\r\n');
    assert.ok(await c.msFromDataToEnd >= 400, 'the end follows the last output by half a second');
  }));
});
