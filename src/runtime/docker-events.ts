/**
 * The engine's event stream (GET /events), filtered to container starts, kept open for the
 * life of the service. When the stream breaks (the engine restarted, or its socket went away)
 * it is opened again with a growing pause, and `reconnected` tells the caller that events may
 * have been missed meanwhile.
 */
import Docker from 'dockerode';
import type { Logger } from '../common/log.js';
import type { EngineWatch, StartWatcher } from './types.js';

interface StartEvent {
  id?: string;
  Actor?: { Attributes?: Record<string, string> };
}

const MIN_PAUSE_MS = 500;
const MAX_PAUSE_MS = 10_000;

export function watchContainerStarts(options: Docker.DockerOptions, labels: Record<string, string>, handlers: StartWatcher,
  log: Logger): EngineWatch {
  // No request timeout: the stream stays quiet for as long as nothing starts.
  const docker = new Docker(options);
  const filters = { type: ['container' as const], event: ['start'], label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) };
  return followStartEvents(() => docker.getEvents({ filters }), handlers, log);
}

/**
 * Follows the event streams `openStream` gives, opening a new one whenever the current one
 * breaks. Nothing in a stream, nor a handler that throws, can end the watch: both are logged.
 */
export function followStartEvents(openStream: () => Promise<NodeJS.ReadableStream>, handlers: StartWatcher, log: Logger): EngineWatch {
  let closed = false;
  let stream: NodeJS.ReadableStream | null = null;
  let timer: NodeJS.Timeout | null = null;
  let pause = MIN_PAUSE_MS;
  let broken = false;

  const tell = (what: keyof StartWatcher, call: () => void): void => {
    try {
      call();
    } catch (err) {
      log.error({ err: (err as Error).message, handler: what }, 'the engine event handler failed');
    }
  };

  const again = (err: Error): void => {
    stream = null;
    if (closed || timer) return;
    if (!broken) tell('lost', () => handlers.lost(err));
    broken = true;
    timer = setTimeout(() => { timer = null; open(); }, pause);
    pause = Math.min(pause * 2, MAX_PAUSE_MS);
  };

  const deliver = (line: string): void => {
    let e: StartEvent | null;
    try {
      e = JSON.parse(line) as StartEvent | null;
    } catch (err) {
      log.warn({ err: (err as Error).message, line: line.slice(0, 200) }, 'ignored a line of the engine\'s event stream that is not JSON');
      return;
    }
    const id = e?.id;
    if (typeof id !== 'string') {
      log.warn({ line: line.slice(0, 200) }, 'ignored an engine event without a container id');
      return;
    }
    tell('started', () => handlers.started(id, e?.Actor?.Attributes ?? {}));
  };

  const open = (): void => {
    openStream().then((s) => {
      if (closed) {
        (s as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
        return;
      }
      stream = s;
      pause = MIN_PAUSE_MS;
      if (broken) {
        broken = false;
        tell('reconnected', () => handlers.reconnected());
      }
      let buffered = '';
      s.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line) deliver(line);
        }
      });
      // only the current stream reconnects: a replaced one's late end must not open a second
      s.on('error', (err: Error) => { if (stream === s) again(err); });
      s.on('end', () => { if (stream === s) again(new Error('the engine closed its event stream')); });
    }, (err: unknown) => again(err instanceof Error ? err : new Error(String(err))));
  };

  open();
  return {
    close(): void {
      closed = true;
      if (timer) clearTimeout(timer);
      (stream as (NodeJS.ReadableStream & { destroy?: () => void }) | null)?.destroy?.();
      stream = null;
    },
  };
}
