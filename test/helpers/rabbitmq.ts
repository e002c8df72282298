/**
 * A real RabbitMQ for the RPC integration tests. If nothing listens on 127.0.0.1:5672 the
 * Debian rabbitmq-server is started by hand (no systemd: `rabbitmq-server -detached`, bound
 * to 127.0.0.1) and awaited with `rabbitmqctl await_startup`; a broker someone else started
 * (the local cloud) is used as it is. Tests live in their own vhost and user so they cannot
 * disturb a running cloud; `restart()` stops/starts the broker only when this process started
 * it, otherwise it closes the connections of the test vhost from the broker side.
 *
 * NC_TEST_RABBITMQ_PORT=5673 (any port but 5672) makes the helper use a private node
 * `nc_test_<port>@localhost` with its own data directory under /tmp, so the stop/start path can
 * run beside a broker that a local cloud is using.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLOUD_DIR } from './cloud-dir.js';

const run = promisify(execFile);

export const TEST_VHOST = 'nova_container_test';
export const TEST_USER = 'nova_container_test';
export const TEST_PASSWORD = 'nova_container_test';
export const HOST = '127.0.0.1';
export const PORT = Number(process.env.NC_TEST_RABBITMQ_PORT ?? 5672);
/** A private node for a non-default port; undefined = the machine's default node. */
const NODE = PORT === 5672 ? undefined : `nc_test_${PORT}@localhost`;
const NODE_DIR = `/tmp/nc-test-rabbitmq-${PORT}`;
/** The transport URL of the test vhost. */
export const TEST_TRANSPORT_URL = `rabbit://${TEST_USER}:${TEST_PASSWORD}@${HOST}:${PORT}/${TEST_VHOST}`;

/** The local cloud's broker runs in its release's root, with that release's rabbitmqctl (devstack/lib/rabbitmq.sh). */
const CLOUD_CTL = join(CLOUD_DIR, 'bin', 'rabbitmqctl');
const CTL = process.env.RABBITMQCTL ?? (NODE === undefined && existsSync(CLOUD_CTL) ? CLOUD_CTL : '/usr/sbin/rabbitmqctl');
const SERVER = process.env.RABBITMQ_SERVER ?? '/usr/sbin/rabbitmq-server';

let ownedByUs = false;
let ensured: Promise<void> | null = null;

export function portOpen(host = HOST, port = PORT, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    const done = (ok: boolean): void => {
      s.removeAllListeners();
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export async function rabbitmqctl(args: string[], timeoutMs = 60_000): Promise<string> {
  const { stdout } = await run(CTL, NODE ? ['-n', NODE, ...args] : args, { timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 });
  return stdout;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function awaitStartup(timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await rabbitmqctl(['await_startup', '--timeout', '30'], 40_000);
      if (await portOpen()) return;
    } catch (err) {
      last = err;
    }
    await sleep(1000);
  }
  throw new Error(`RabbitMQ did not start within ${timeoutMs} ms: ${String((last as Error | undefined)?.message ?? last)}`);
}

async function startBroker(): Promise<void> {
  const env: NodeJS.ProcessEnv = {
    ...process.env, RABBITMQ_NODE_IP_ADDRESS: HOST, RABBITMQ_NODE_PORT: String(PORT),
    // Erlang distribution and epmd on loopback too: nothing of ours listens on other addresses.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}', ERL_EPMD_ADDRESS: HOST,
  };
  if (NODE) {
    Object.assign(env, {
      RABBITMQ_NODENAME: NODE,
      RABBITMQ_DIST_PORT: String(PORT + 20000),
      RABBITMQ_MNESIA_BASE: `${NODE_DIR}/mnesia`,
      RABBITMQ_LOG_BASE: `${NODE_DIR}/log`,
    });
    mkdirSync(`${NODE_DIR}/mnesia`, { recursive: true });
    mkdirSync(`${NODE_DIR}/log`, { recursive: true });
    // The Debian wrapper runs the server as the rabbitmq user when started as root.
    if (process.getuid?.() === 0) await run('chown', ['-R', 'rabbitmq:rabbitmq', NODE_DIR]).catch(() => undefined);
  }
  await new Promise<void>((resolve, reject) => {
    const child = spawn(SERVER, ['-detached'], { env, stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`rabbitmq-server -detached exited with ${code}`))));
  });
  await awaitStartup();
}

async function ignoreExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    const text = `${(err as { stderr?: string }).stderr ?? ''} ${(err as Error).message}`;
    if (!/already exists|already_exists/i.test(text)) throw err;
  }
}

async function prepareVhost(): Promise<void> {
  await ignoreExists(rabbitmqctl(['add_vhost', TEST_VHOST]));
  await ignoreExists(rabbitmqctl(['add_user', TEST_USER, TEST_PASSWORD]));
  await rabbitmqctl(['set_permissions', '-p', TEST_VHOST, TEST_USER, '.*', '.*', '.*']);
}

/** Ensures a broker on 127.0.0.1:5672 with the test vhost and user; idempotent. */
export function ensureRabbitMQ(): Promise<void> {
  if (!ensured) {
    ensured = (async () => {
      if (!(await portOpen())) {
        await startBroker();
        ownedByUs = true;
      } else {
        await awaitStartup();
      }
      await prepareVhost();
    })();
    ensured.catch(() => { ensured = null; });
  }
  return ensured;
}

/** True when this process started the broker (and may therefore restart it). */
export function brokerOwned(): boolean {
  return ownedByUs;
}

/**
 * Cuts every client of the test vhost off the broker: a full stop/start when we own the
 * broker, else a broker-side close of the test vhost's connections. Returns what it did.
 */
export async function disruptBroker(): Promise<'restarted' | 'connections-closed'> {
  if (ownedByUs) {
    await rabbitmqctl(['stop'], 120_000);
    const deadline = Date.now() + 60_000;
    while ((await portOpen()) && Date.now() < deadline) await sleep(500);
    await sleep(1000);
    await startBroker();
    return 'restarted';
  }
  await rabbitmqctl(['close_all_connections', '-p', TEST_VHOST, '--limit', '10000', 'nova-container test: broker-side disconnect']);
  return 'connections-closed';
}

/** `name` column of the connections of the test vhost (connection_name client property). */
export async function testVhostConnections(): Promise<string[]> {
  const out = await rabbitmqctl(['list_connections', '-p', TEST_VHOST, '--no-table-headers', '--quiet', 'client_properties']);
  return out.split('\n').map((l) => /connection_name","([^"]+)"/.exec(l)?.[1] ?? /<<"connection_name">>,longstr,<<"([^"]+)">>/.exec(l)?.[1] ?? '')
    .filter(Boolean);
}

/** Queue rows of the test vhost: name, durable, auto_delete, arguments (as rabbitmqctl prints them). */
export async function listQueues(): Promise<{ name: string; durable: boolean; autoDelete: boolean; arguments: string }[]> {
  const out = await rabbitmqctl(['list_queues', '-p', TEST_VHOST, '--no-table-headers', '--quiet', 'name', 'durable', 'auto_delete', 'arguments']);
  return out.split('\n').filter((l) => l.trim()).map((l) => {
    const [name, durable, autoDelete, ...rest] = l.split('\t');
    return { name, durable: durable === 'true', autoDelete: autoDelete === 'true', arguments: rest.join('\t') };
  });
}

/** Exchange rows of the test vhost: name, type, durable, auto_delete. */
export async function listExchanges(): Promise<{ name: string; type: string; durable: boolean; autoDelete: boolean }[]> {
  const out = await rabbitmqctl(['list_exchanges', '-p', TEST_VHOST, '--no-table-headers', '--quiet', 'name', 'type', 'durable', 'auto_delete']);
  return out.split('\n').filter((l) => l.trim()).map((l) => {
    const [name, type, durable, autoDelete] = l.split('\t');
    return { name, type, durable: durable === 'true', autoDelete: autoDelete === 'true' };
  });
}
