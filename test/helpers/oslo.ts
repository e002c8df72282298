/**
 * The real Python oslo.messaging (Debian python3-oslo.messaging 14.0.3, run with /usr/bin/python3)
 * on the other end of the interop tests: scripts in test/integration/rpc/python/.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const PYTHON = process.env.OSLO_PYTHON ?? '/usr/bin/python3';
const SCRIPTS = join(fileURLToPath(new URL('../../../', import.meta.url)), 'test', 'integration', 'rpc', 'python');

export interface OsloOperation {
  kind: 'call' | 'cast';
  method: string;
  args?: Record<string, unknown>;
  version?: string;
  namespace?: string | null;
  timeout?: number;
  call_monitor_timeout?: number | null;
  fanout?: boolean;
  /** false: target without server (routing key = topic). */
  server?: boolean;
  exmods?: string[];
  context?: Record<string, unknown>;
}

export interface OsloOutcome {
  ok: boolean;
  result?: unknown;
  class?: string;
  module?: string;
  mro?: string[];
  kwargs?: Record<string, unknown> | null;
  str?: string;
  exc_type?: string | null;
  elapsed: number;
}

/** Runs one operation with a Python RPCClient and returns what the Python caller saw. */
export function osloClient(url: string, topic: string, server: string, op: OsloOperation): Promise<OsloOutcome> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [join(SCRIPTS, 'oslo_client.py'), url, topic, server, JSON.stringify(op)],
      { timeout: 120_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
        const line = stdout.split('\n').find((l) => l.startsWith('{'));
        if (!line) return reject(new Error(`oslo_client.py printed nothing: ${err?.message ?? ''}\n${stderr}`));
        resolve(JSON.parse(line) as OsloOutcome);
      });
  });
}

export interface OsloEvent {
  event: string;
  method?: string;
  args?: Record<string, unknown>;
  context?: Record<string, unknown>;
}

/** A Python RPCServer (TestEndpoint of oslo_server.py) listening on (topic, server). */
export class OsloServer {
  readonly events: OsloEvent[] = [];
  private readonly listeners = new Set<() => void>();
  private stderr = '';

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as OsloEvent);
      } catch {
        return;
      }
      for (const l of this.listeners) l();
    });
    child.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-20_000); });
  }

  static async start(url: string, topic: string, server: string): Promise<OsloServer> {
    const child = spawn(PYTHON, [join(SCRIPTS, 'oslo_server.py'), url, topic, server], { stdio: ['pipe', 'pipe', 'pipe'] });
    const s = new OsloServer(child);
    await s.waitFor((e) => e.event === 'ready', 60_000);
    return s;
  }

  /** Resolves with the first event (already seen or future) matching `pred`. */
  waitFor(pred: (e: OsloEvent) => boolean, timeoutMs: number): Promise<OsloEvent> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.events.find(pred);
        if (hit) {
          this.listeners.delete(onEvent);
          clearTimeout(timer);
          resolve(hit);
          return true;
        }
        return false;
      };
      const onEvent = (): void => { check(); };
      const timer = setTimeout(() => {
        this.listeners.delete(onEvent);
        reject(new Error(`no matching event from oslo_server.py within ${timeoutMs} ms; stderr:\n${this.stderr.slice(-3000)}`));
      }, timeoutMs);
      this.listeners.add(onEvent);
      check();
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  }
}
