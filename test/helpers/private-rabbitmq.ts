/**
 * A RabbitMQ node of the test's own (Debian's rabbitmq-server, no systemd): its own node name
 * `nctest-<pid>-<n>@localhost`, AMQP (and optionally AMQPS) listener and Erlang distribution
 * port on free high ports of 127.0.0.1, its mnesia, logs, config and enabled-plugins file under
 * a temporary directory. It may be stopped and started again (its data stays) and is removed
 * by `destroy()`. epmd (4369) is shared with any other node; one this helper started is
 * stopped again when no node is left on it.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { portOpen } from './rabbitmq.js';

const run = promisify(execFile);
const CTL = process.env.RABBITMQCTL ?? '/usr/sbin/rabbitmqctl';
const SERVER = process.env.RABBITMQ_SERVER ?? '/usr/sbin/rabbitmq-server';
const EPMD = process.env.EPMD ?? 'epmd';
const HOST = '127.0.0.1';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface BrokerTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Also accept SASL EXTERNAL: the client certificate's common name is the user. */
  external?: boolean;
}

/** A port nothing listens on now (the kernel's pick among the ephemeral ones). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

let counter = 0;

export class PrivateRabbitMQ {
  readonly node = `nctest-${process.pid}-${++counter}@localhost`;
  readonly vhost = 'nctest';
  readonly user = 'nctest';
  readonly password = 'nctest-pw';
  /** Made by the first start(), so a suite that never runs leaves nothing behind. */
  dir = '';
  port = 0;
  tlsPort = 0;
  private distPort = 0;
  private startedEpmd = false;
  private running = false;

  constructor(private readonly tls?: BrokerTls) {}

  /** AMQP URL of the test vhost on the plain listener. */
  get url(): string {
    return `rabbit://${this.user}:${this.password}@${HOST}:${this.port}/${this.vhost}`;
  }

  /** The same on the TLS listener. */
  get tlsUrl(): string {
    return `rabbit://${this.user}:${this.password}@${HOST}:${this.tlsPort}/${this.vhost}`;
  }

  async ctl(args: string[], timeoutMs = 60_000): Promise<string> {
    const { stdout } = await run(CTL, ['-n', this.node, ...args], { timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 });
    return stdout;
  }

  /** First start: ports, files, the node, then the test vhost and user. */
  async start(): Promise<void> {
    if (!this.port) {
      this.dir = mkdtempSync(join(tmpdir(), 'nctest-rabbitmq-'));
      this.port = await freePort();
      this.distPort = await freePort();
      if (this.tls) this.tlsPort = await freePort();
      this.startedEpmd = !(await portOpen(HOST, 4369));
      this.writeFiles();
    }
    await this.boot();
    await this.ctl(['add_vhost', this.vhost]).catch(ignoreExists);
    await this.ctl(['add_user', this.user, this.password]).catch(ignoreExists);
    await this.ctl(['set_permissions', '-p', this.vhost, this.user, '.*', '.*', '.*']);
  }

  /** A user of the test vhost with every permission (e.g. a client certificate's common name). */
  async addUser(name: string, password: string): Promise<void> {
    await this.ctl(['add_user', name, password]).catch(ignoreExists);
    await this.ctl(['set_permissions', '-p', this.vhost, name, '.*', '.*', '.*']);
  }

  /** Stops the node (data kept) and waits until its listener is gone. */
  async stop(): Promise<void> {
    if (!this.running) return;
    await this.ctl(['stop'], 120_000);
    const deadline = Date.now() + 60_000;
    while ((await portOpen(HOST, this.port)) && Date.now() < deadline) await sleep(300);
    this.running = false;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.boot();
  }

  /** Stops the node, removes its files, and the epmd it started when no node is left on it. */
  async destroy(): Promise<void> {
    try {
      await this.stop();
    } finally {
      if (this.dir) rmSync(this.dir, { recursive: true, force: true });
      if (this.startedEpmd) {
        const names = await run(EPMD, ['-names']).then((r) => r.stdout, () => '');
        if (!/^name /m.test(names)) await run(EPMD, ['-kill']).catch(() => undefined);
      }
    }
  }

  /** `rabbitmqctl list_queues` of the test vhost: name, type, durable, arguments (as printed). */
  async queues(): Promise<{ name: string; type: string; durable: boolean; arguments: string }[]> {
    const out = await this.ctl(['list_queues', '-p', this.vhost, '--no-table-headers', '--quiet', 'name', 'type', 'durable', 'arguments']);
    return out.split('\n').filter((l) => l.trim()).map((l) => {
      const [name, type, durable, ...rest] = l.split('\t');
      return { name, type, durable: durable === 'true', arguments: rest.join('\t') };
    });
  }

  /** One column of `list_connections` / `list_channels` of the test vhost, one value per row. */
  async column(what: 'list_connections' | 'list_channels', item: string): Promise<string[]> {
    const out = await this.ctl([what, '-p', this.vhost, '--no-table-headers', '--quiet', item]);
    return out.split('\n').filter((l) => l.trim()).map((l) => l.trim());
  }

  private writeFiles(): void {
    for (const d of ['mnesia', 'log']) mkdirSync(join(this.dir, d), { recursive: true });
    const conf = [`listeners.tcp.default = ${HOST}:${this.port}`, 'loopback_users = none'];
    if (this.tls) {
      conf.push(`listeners.ssl.default = ${HOST}:${this.tlsPort}`,
        `ssl_options.cacertfile = ${this.tls.caFile}`, `ssl_options.certfile = ${this.tls.certFile}`,
        `ssl_options.keyfile = ${this.tls.keyFile}`, 'ssl_options.verify = verify_peer', 'ssl_options.fail_if_no_peer_cert = true');
      if (this.tls.external) {
        conf.push('auth_mechanisms.1 = PLAIN', 'auth_mechanisms.2 = AMQPLAIN', 'auth_mechanisms.3 = EXTERNAL', 'ssl_cert_login_from = common_name');
      }
    }
    writeFileSync(join(this.dir, 'rabbitmq.conf'), `${conf.join('\n')}\n`);
    writeFileSync(join(this.dir, 'enabled_plugins'), this.tls?.external ? '[rabbitmq_auth_mechanism_ssl].\n' : '[].\n');
  }

  private async boot(): Promise<void> {
    // The Debian wrapper runs the node as the rabbitmq user when started as root.
    if (process.getuid?.() === 0) await run('chown', ['-R', 'rabbitmq:rabbitmq', this.dir]);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      RABBITMQ_NODENAME: this.node,
      RABBITMQ_NODE_IP_ADDRESS: HOST,
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_CONFIG_FILE: join(this.dir, 'rabbitmq.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, 'enabled_plugins'),
      RABBITMQ_MNESIA_BASE: join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(this.dir, 'log'),
      RABBITMQ_PID_FILE: join(this.dir, 'node.pid'),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
      ERL_EPMD_ADDRESS: HOST,
    };
    await new Promise<void>((resolve, reject) => {
      const child = spawn(SERVER, ['-detached'], { env, stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`rabbitmq-server -detached exited with ${code}`))));
    });
    const deadline = Date.now() + 120_000;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        await this.ctl(['await_startup', '--timeout', '30'], 40_000);
        if (await portOpen(HOST, this.port)) {
          this.running = true;
          return;
        }
      } catch (err) {
        last = err;
      }
      await sleep(1000);
    }
    throw new Error(`RabbitMQ node ${this.node} did not start (logs in ${this.dir}/log): ${String((last as Error | undefined)?.message ?? last)}`);
  }
}

function ignoreExists(err: unknown): void {
  const text = `${(err as { stderr?: string }).stderr ?? ''} ${(err as Error).message}`;
  if (!/already exists|already_exists/i.test(text)) throw err;
}
