/**
 * Instances' serial consoles, as libvirt gives a VM's under Nova's [serial_console] (a
 * `<serial type='tcp'>` in bind mode): per instance a TCP port of `port_range` on
 * `proxyclient_address`, raw bytes, no authentication of its own (nova-serialproxy checks the
 * console token, then connects here), one client at a time; a second one is told so, and kept connected until it leaves.
 *
 * A client is bridged to the workload's TTY by an attach, not to a shell started per
 * connection: it sees and types into the instance's own first process, as a VM's serial
 * console reaches what runs on ttyS0, what it sees is what `console log show` shows, and an
 * image needs no shell for it.
 *
 * The ports are kept in `stateFile`, so that a restarted service listens on the same ones (a
 * console URL handed out before the restart still leads to its instance).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import type { Logger } from '../common/log.js';
import { ConsolePortsExhausted, type ConsoleAddress } from '../nova-driver/instance-driver.js';
import { workloadName } from './instance-containers.js';
import type { ContainerEngine } from './types.js';
import { writeWhole } from './whole-file.js';

export interface SerialConsoleOptions {
  /** [serial_console] proxyclient_address: where the ports listen. */
  address: string;
  /** [serial_console] port_range: first port, and the one after the last. */
  portRange: [number, number];
  stateFile: string;
}

interface Listening {
  port: number;
  server: Server;
  client: Socket | null;
  /** Clients told why they have no console, until they leave (refuse). */
  refused: Set<Socket>;
}

/** What a console client may have unread before it is dropped. */
const CLIENT_BACKLOG_BYTES = 1 << 20;
/** How long a client has to take the last bytes and close its side once its console ends. */
const LINGER_MS = 5000;

/**
 * How long the end of a connection waits after the workload's last output: with the end right
 * behind them, Zed's nova-serialproxy (websockify 0.10) closed the browser's websocket without
 * passing them on.
 */
const END_DELAY_MS = 500;

/** Ends the connection a moment after what was written to it; at the latest after LINGER_MS. */
function closeAfter(socket: Socket): void {
  setTimeout(() => socket.end(), END_DELAY_MS).unref();
  socket.setTimeout(LINGER_MS, () => socket.destroy());
}

/**
 * How long a refused client stays connected at most. Not closed at once: when nova-serialproxy
 * (websockify) sees this end while the browser's first keystroke is unread, its close resets
 * the browser's connection, and the reason written just before is lost: a refused Horizon tab
 * then showed only "Closed", even with the end half a second behind the reason.
 */
const REFUSED_HOLD_MS = 60_000;
/** Refused clients held at once per console; one more is closed at once. */
const REFUSED_HELD_MAX = 8;

/** Tells the client why it has no console; what it types is dropped; closed when it leaves, the console goes, or after REFUSED_HOLD_MS. */
function refuse(socket: Socket, why: string, refused: Set<Socket>): void {
  // gone already (while its attach failed), or one too many held: nothing to hold
  if (socket.destroyed || refused.size >= REFUSED_HELD_MAX) {
    socket.destroy();
    return;
  }
  refused.add(socket);
  const hold = setTimeout(() => closeAfter(socket), REFUSED_HOLD_MS).unref();
  socket.once('close', () => {
    clearTimeout(hold);
    refused.delete(socket);
  });
  socket.resume();
  socket.write(`\r\nnova-container: ${why}\r\n`);
}

function dropClients(l: Listening): void {
  l.client?.destroy();
  for (const socket of l.refused) socket.destroy();
}

export class SerialConsoles {
  private readonly listening = new Map<string, Listening>();
  /** Allocations and releases one at a time, so two never take the same port or write the file at once. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly engine: ContainerEngine, private readonly options: SerialConsoleOptions, private readonly log: Logger) {}

  /** At start: listens again on the ports kept for the instances still on this host; forgets the others. */
  async restore(instances: ReadonlySet<string>): Promise<void> {
    await this.serially(async () => {
      for (const [uuid, port] of Object.entries(await this.kept())) {
        if (!instances.has(uuid)) continue;
        const server = await this.listen(uuid, port).catch((err: NodeJS.ErrnoException) => {
          this.log.warn({ instance: uuid, port, code: err.code, err: err.message }, 'cannot listen on the serial console port kept for the instance: it gets another one when asked');
          return null;
        });
        if (server) this.listening.set(uuid, { port, server, client: null, refused: new Set() });
      }
      await this.save();
    });
  }

  /** The instance's console, listening: on the port it has, or on the first free one of the range. */
  address(uuid: string): Promise<ConsoleAddress> {
    return this.serially(async () => {
      if (this.closed) throw new Error('the service is stopping: no console is opened');
      const had = this.listening.get(uuid);
      if (had) return { host: this.options.address, port: had.port };
      const [first, end] = this.options.portRange;
      const taken = new Set([...this.listening.values()].map((l) => l.port));
      for (let port = first; port < end; port++) {
        if (taken.has(port)) continue;
        const server = await this.listen(uuid, port).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'EADDRINUSE') return null;
          throw err;
        });
        if (!server) continue;
        this.listening.set(uuid, { port, server, client: null, refused: new Set() });
        await this.save();
        this.log.info({ instance: uuid, port }, 'serial console listening');
        return { host: this.options.address, port };
      }
      throw new ConsolePortsExhausted(this.options.address, this.options.portRange);
    });
  }

  /** Closes the instance's console, its client included, and gives its port back. */
  release(uuid: string): Promise<void> {
    return this.serially(async () => {
      const l = this.listening.get(uuid);
      if (!l) return;
      this.listening.delete(uuid);
      dropClients(l);
      l.server.close(); // stops listening now; its callback would wait for every connection to end
      await this.save();
    });
  }

  /** Stops listening (service stop); the ports stay kept for the next start. */
  async close(): Promise<void> {
    await this.serially(async () => {
      this.closed = true;
      for (const l of this.listening.values()) {
        dropClients(l);
        l.server.close();
      }
      this.listening.clear();
    });
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private listen(uuid: string, port: number): Promise<Server> {
    const server = createServer((socket) => {
      this.connected(uuid, socket).catch((err: unknown) => {
        this.log.error({ instance: uuid, port, err }, 'serial console client failed');
        socket.destroy();
      });
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.options.address, port, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.log.error({ instance: uuid, port, err }, 'serial console listener failed'));
        resolve(server);
      });
    });
  }

  private async connected(uuid: string, socket: Socket): Promise<void> {
    const l = this.listening.get(uuid);
    socket.on('error', () => undefined); // the client went away: its close ends the attach
    if (!l) {
      socket.destroy(); // released meanwhile
      return;
    }
    if (l.client) return refuse(socket, 'this console is in use by another client (one at a time, as a VM\'s serial console)', l.refused);
    l.client = socket;
    // set before the attach, so that a client gone while it is asked for frees the console
    socket.once('close', () => {
      if (l.client === socket) l.client = null;
    });
    let stream: Duplex;
    try {
      stream = await this.engine.attachConsole(workloadName(uuid));
    } catch (err) {
      if (l.client === socket) l.client = null;
      return refuse(socket, `no console: ${(err as Error).message}`, l.refused);
    }
    const close = (): void => {
      stream.destroy();
      socket.destroy();
    };
    stream.on('error', close);
    // the workload's end: its last output still goes out before the client is closed
    let ended = false;
    stream.on('end', () => {
      ended = true;
      closeAfter(socket);
    });
    stream.on('close', () => {
      if (!ended) close();
    });
    socket.on('close', close);
    if (socket.destroyed) return close();
    socket.pipe(stream);
    // Not piped the other way: a client that does not read would hold the engine's attach, and
    // with it the workload's every write to its TTY. One that falls behind is dropped instead.
    stream.on('data', (chunk: Buffer) => {
      if (socket.writableLength > CLIENT_BACKLOG_BYTES) {
        this.log.warn({ instance: uuid, port: l.port }, 'serial console client dropped: it did not read what the instance wrote');
        socket.destroy();
      } else {
        socket.write(chunk);
      }
    });
    this.log.info({ instance: uuid, port: l.port, client: `${socket.remoteAddress}:${socket.remotePort}` }, 'serial console client attached');
  }

  private async kept(): Promise<Record<string, number>> {
    const text = await readFile(this.options.stateFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '{}';
      throw err;
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      this.log.warn({ file: this.options.stateFile }, 'the serial console ports file is not a JSON object: ports are allocated anew');
      return {};
    }
    // only ports of the range as it is now (it may have changed since they were kept)
    const [first, end] = this.options.portRange;
    return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, number] => Number.isInteger(e[1]) && e[1] >= first && e[1] < end));
  }

  private async save(): Promise<void> {
    const ports = Object.fromEntries([...this.listening].map(([uuid, l]) => [uuid, l.port]));
    await writeWhole(this.options.stateFile, `${JSON.stringify(ports)}\n`, 0o600);
  }
}
