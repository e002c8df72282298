/**
 * SIGTERM and SIGINT stop the service gracefully, within [DEFAULT] graceful_shutdown_timeout
 * as oslo.service bounds nova-compute's stop: past it the process exits at once with 1, whatever
 * still holds it (0: no bound). A second signal, of either kind, during the stop kills the
 * process (Node's default), as nothing listens any more.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from '../common/log.js';

export interface StopOnSignalOptions {
  stop(): Promise<void>;
  timeoutMs: number;
  log: Logger;
  /** Where the signals come from (the process). */
  signals?: Pick<EventEmitter, 'once' | 'off'>;
  exit?(code: number): void;
}

export interface SignalledStop {
  /** Aborted as the signal comes, before the stop begins. */
  readonly aborted: AbortSignal;
  /** Resolves once the stop is over (failed or not). */
  readonly stopped: Promise<void>;
}

export function stopOnSignal(opts: StopOnSignalOptions): SignalledStop {
  const abort = new AbortController();
  const signals = opts.signals ?? process;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      signals.off('SIGTERM', onSignal);
      signals.off('SIGINT', onSignal);
      opts.log.info({ signal: sig }, 'stopping');
      abort.abort();
      if (opts.timeoutMs > 0) {
        // unref: a stop that ends with nothing left running exits without waiting for it
        setTimeout(() => {
          opts.log.fatal({ graceful_shutdown_timeout_s: opts.timeoutMs / 1000 }, 'Graceful shutdown timeout exceeded, instantaneous exiting');
          exit(1);
        }, opts.timeoutMs).unref();
      }
      opts.stop().catch((err: unknown) => opts.log.error({ err }, 'stopping failed')).finally(resolve);
    };
    signals.once('SIGTERM', onSignal);
    signals.once('SIGINT', onSignal);
  });
  return { aborted: abort.signal, stopped };
}
