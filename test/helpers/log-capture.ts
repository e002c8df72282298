/** A pino logger whose JSON lines the test can read (same redaction as the real logger). */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { REDACTED_PATHS, type Logger } from '../../src/common/log.js';

export interface CapturedLogs {
  log: Logger;
  /** Every line exactly as written. */
  raw: string[];
  /** Parsed lines. */
  lines: Record<string, unknown>[];
  /** Parsed lines whose msg matches. */
  find(msg: RegExp | string): Record<string, unknown>[];
}

export function captureLogs(level = 'debug'): CapturedLogs {
  const raw: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      for (const l of chunk.toString().split('\n')) {
        if (!l.trim()) continue;
        raw.push(l);
        try {
          lines.push(JSON.parse(l) as Record<string, unknown>);
        } catch {
          // not JSON: keep raw only
        }
      }
      cb();
    },
  });
  const log = pino({ level, redact: { paths: REDACTED_PATHS, censor: '***' } }, stream);
  return {
    log, raw, lines,
    find: (msg) => lines.filter((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(String(l.msg)))),
  };
}
