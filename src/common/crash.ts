/**
 * What a long-running process does with a promise rejection nobody handled: that is a bug
 * whose state cannot be trusted, so it is logged as one pino `fatal` line (with the stack)
 * and the process exits 1 at once, for systemd to restart it.
 */
import { createLogger, type Logger } from './log.js';

export function exitOnUnhandledRejection(log: Logger = createLogger(), exit: (code: number) => void = (code) => process.exit(code)): void {
  process.on('unhandledRejection', (reason: unknown) => {
    log.fatal(reason instanceof Error ? { err: reason } : { reason: reasonText(reason) }, 'unhandled promise rejection; exiting');
    exit(1);
  });
}

function reasonText(v: unknown): string {
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
