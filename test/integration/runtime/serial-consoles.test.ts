/**
 * SerialConsoles (src/runtime/serial-consoles.ts) on the local cloud's engine (dockerd or
 * podman): a raw TCP client, as nova-serialproxy connects, types into a workload's shell and
 * reads its answer; a second client is refused while the first is on; the console's output is
 * in the container's log; after a restart of the service the same port leads to the same
 * workload; a released console stops listening; a workload made without a console says so;
 * Ctrl-P is not held back as the first key of the engine's detach sequence.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/common/log.js';
import { workloadName } from '../../../src/runtime/instance-containers.js';
import { SerialConsoles, type SerialConsoleOptions } from '../../../src/runtime/serial-consoles.js';
import type { ContainerEngine } from '../../../src/runtime/types.js';
import { ENGINE_DRIVER, busyboxRootfs, cloudEngine, dockerClient, importRootfs } from '../glance-bridge/images.js';

const RUN = `nc-console-${randomUUID().slice(0, 8)}`;

/** A client of the console: everything it has read so far, and a wait for a text in it. */
class Client {
  readonly socket: Socket;
  private text = '';
  readonly closed: Promise<void>;

  constructor(port: number) {
    this.socket = connect({ host: '127.0.0.1', port });
    this.socket.on('error', () => undefined); // a reset ends it as a close does
    this.socket.on('data', (d: Buffer) => { this.text += d.toString('utf8'); });
    this.closed = new Promise((resolve) => this.socket.on('close', () => resolve()));
  }

  get output(): string {
    return this.text;
  }

  async waitFor(pattern: RegExp, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pattern.test(this.text)) {
      if (Date.now() > deadline) throw new Error(`no ${String(pattern)} from the console in ${ms} ms; it sent ${JSON.stringify(this.text)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Whether the port is bound (tried by binding it: a connection would be a console client). */
async function listening(port: number): Promise<boolean> {
  return !(await bindable(port));
}

async function bindable(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** The first of `count` consecutive free ports from 20000 up, so that the test's range is its own. */
async function freeRange(count: number): Promise<[number, number]> {
  for (let start = 20000; start < 30000; start += count) {
    let free = true;
    for (let p = start; p < start + count && free; p++) free = await bindable(p);
    if (free) return [start, start + count];
  }
  throw new Error('no free port range between 20000 and 30000');
}

describe(`serial consoles on ${ENGINE_DRIVER}`, function () {
  this.timeout(60_000);
  const docker = dockerClient();
  const uuid = randomUUID();
  const plain = randomUUID();
  let dir: string;
  let engine: ContainerEngine;
  let options: SerialConsoleOptions;
  let consoles: SerialConsoles;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), `${RUN}-`));
    engine = cloudEngine(join(dir, 'engine'), 60_000);
    const image = await importRootfs(docker, await busyboxRootfs(), RUN, 'v1');
    options = { address: '127.0.0.1', portRange: await freeRange(3), stateFile: join(dir, 'serial-consoles.json') };
    consoles = new SerialConsoles(engine, options, silentLogger());
    // an instance's workload with its console, its command a shell as a VM's serial getty; and one made without
    for (const [id, console] of [[uuid, true], [plain, false]] as const) {
      const c = await engine.createContainer({ name: workloadName(id), image, labels: { 'test-run': RUN }, command: ['/bin/sh'], limits: {}, console });
      await engine.startContainer(c);
    }
  });

  after(async () => {
    await consoles?.close();
    for (const id of [uuid, plain]) await engine?.removeContainer(workloadName(id)).catch(() => undefined);
    await engine?.removeImage(`${RUN}:v1`).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a client types a command into the workload\'s shell and reads its answer; the workload runs on after it leaves', async () => {
    const { host, port } = await consoles.address(uuid);
    assert.equal(host, '127.0.0.1');
    assert.equal(port, options.portRange[0]);
    assert.deepEqual(await consoles.address(uuid), { host, port }, 'the same console when asked again (validate_console_port)');
    const client = new Client(port);
    client.socket.write('\r'); // as Horizon's serial console does on open
    client.socket.write('echo CONSOLE-$((6*7))\r');
    await client.waitFor(/CONSOLE-42/);
    assert.doesNotMatch(client.output.replace('echo CONSOLE-$((6*7))', ''), /CONSOLE-\$/, 'the shell evaluated what was typed');
    client.socket.end();
    await client.closed;
    assert.equal((await engine.inspectContainer(workloadName(uuid)))?.state, 'running');
    assert.match(await engine.containerLogs(workloadName(uuid)), /CONSOLE-42/, 'console log show shows what the console showed');
    assert.deepEqual(JSON.parse(readFileSync(options.stateFile, 'utf8')), { [uuid]: port });
  });

  it('Ctrl-P reaches the shell at once: the engine holds back no key of a detach sequence', async () => {
    const { port } = await consoles.address(uuid);
    const client = new Client(port);
    client.socket.write('echo PREVIOUS-$((2*3))\r');
    await client.waitFor(/PREVIOUS-6/);
    const before = client.output.length;
    client.socket.write('\x10'); // Ctrl-P alone: the shell's line editing shows the previous command again
    const deadline = Date.now() + 5000;
    while (!client.output.slice(before).includes('echo PREVIOUS-$((2*3))')) {
      assert.ok(Date.now() < deadline, `Ctrl-P brought back nothing in 5 s; after it the console sent ${JSON.stringify(client.output.slice(before))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    client.socket.write('\x03'); // the recalled line abandoned
    client.socket.end();
    await client.closed;
  });

  it('one client at a time: a second one is told the console is in use; after the first leaves the next one gets it', async () => {
    const { port } = await consoles.address(uuid);
    const first = new Client(port);
    first.socket.write('echo FIRST-$((1+1))\r');
    await first.waitFor(/FIRST-2/);
    const second = new Client(port);
    await second.waitFor(/this console is in use by another client/);
    second.socket.end();
    await second.closed;
    first.socket.end();
    await first.closed;
    // the service frees the console when it sees the first one's close, which may come just after
    let third = new Client(port);
    for (let tries = 0; tries < 20; tries++) {
      await new Promise((r) => setTimeout(r, 200));
      if (!/in use/.test(third.output)) break;
      third = new Client(port);
    }
    third.socket.write('echo THIRD-$((1+2))\r');
    await third.waitFor(/THIRD-3/);
    third.socket.end();
    await third.closed;
  });

  it('after a restart of the service the console listens on the same port again and leads to the same workload', async () => {
    const { port } = await consoles.address(uuid);
    await consoles.close();
    assert.equal(await listening(port), false, 'closed with the service');
    consoles = new SerialConsoles(engine, options, silentLogger());
    await consoles.restore(new Set([uuid, randomUUID()]));
    assert.equal(await listening(port), true, 'listening again at start, before anyone asks');
    assert.deepEqual(await consoles.address(uuid), { host: '127.0.0.1', port });
    const client = new Client(port);
    client.socket.write('echo AGAIN-$((6*7))\r');
    await client.waitFor(/AGAIN-42/);
    client.socket.end();
    await client.closed;
  });

  it('a workload made without a console: the client is told so; releasing a console closes its clients, stops it listening and gives its port back', async () => {
    const { port } = await consoles.address(plain);
    assert.equal(port, options.portRange[0] + 1);
    const client = new Client(port);
    await client.waitFor(/no console: .*made without a console/);
    await consoles.release(plain);
    await client.closed;
    assert.equal(await listening(port), false);
    assert.deepEqual(JSON.parse(readFileSync(options.stateFile, 'utf8')), { [uuid]: options.portRange[0] });
    await consoles.release(uuid);
    assert.deepEqual(JSON.parse(readFileSync(options.stateFile, 'utf8')), {});
  });

  it('every port of the range taken: ConsolePortsExhausted', async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of ids) await consoles.address(id);
    await assert.rejects(consoles.address(randomUUID()), { name: 'ConsolePortsExhausted', message: `no free TCP port on 127.0.0.1 in [serial_console] port_range ${options.portRange[0]}:${options.portRange[1]}` });
    for (const id of ids) await consoles.release(id);
  });
});
