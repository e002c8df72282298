import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths pino blanks wherever they appear: credentials and tokens never reach a log line. */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'auth_token',
  '*.auth_token',
  '_context_auth_token',
  '*._context_auth_token',
  'context.auth_token',
  'token',
  '*.token',
  'headers["X-Auth-Token"]',
  'headers["x-auth-token"]',
  'transport_url',
  '*.transport_url',
  'admin_password',
  '*.admin_password',
  'new_pass',
  '*.new_pass',
];

export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: options.name ?? 'nova-container',
    level: options.level ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '***' },
    base: { pid: process.pid },
  });
}

/** A logger that writes nothing, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
