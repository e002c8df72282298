/**
 * SIGHUP reads the configuration files again and applies what may change while the service
 * runs, as nova-compute does with its mutable options (oslo.service's 'mutate' restart):
 * [DEFAULT] debug, the log level. Any other option found changed is named in the log (names
 * only: values may be secrets) and takes effect at the next start. Files that no longer load
 * are logged and change nothing. Node's default for SIGHUP was to end the process at once.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from '../common/log.js';
import type { Config } from '../config/types.js';

export interface ReloadOnHangupOptions {
  load(): Config;
  /** The configuration the service started with. */
  running: Config;
  log: Logger;
  /** Where the signal comes from (the process). */
  signals?: Pick<EventEmitter, 'on' | 'off'>;
}

/** Listens for SIGHUP; returns the function that stops listening. */
export function reloadOnHangup(opts: ReloadOnHangupOptions): () => void {
  const signals = opts.signals ?? process;
  const onHangup = (): void => {
    let read: Config;
    try {
      read = opts.load();
    } catch (err) {
      opts.log.error({ signal: 'SIGHUP', err: (err as Error).message }, 'the configuration files did not load again; nothing changed');
      return;
    }
    const level = read.DEFAULT.debug ? 'debug' : 'info';
    opts.log.level = level;
    const atNextStart = changedOptions(opts.running, read).filter((name) => name !== 'DEFAULT.debug');
    opts.log.info({ signal: 'SIGHUP', log_level: level, ...(atNextStart.length > 0 ? { changed_at_next_start: atNextStart } : {}) },
      'configuration files read again');
  };
  signals.on('SIGHUP', onHangup);
  return () => signals.off('SIGHUP', onHangup);
}

/** The `group.option` names whose values differ between two configurations. */
export function changedOptions(a: Config, b: Config): string[] {
  const groupsOf = (c: Config) => c as unknown as Record<string, Record<string, unknown> | undefined>;
  const [ga, gb] = [groupsOf(a), groupsOf(b)];
  const changed: string[] = [];
  for (const group of new Set([...Object.keys(ga), ...Object.keys(gb)])) {
    const [oa, ob] = [ga[group] ?? {}, gb[group] ?? {}];
    for (const key of new Set([...Object.keys(oa), ...Object.keys(ob)])) {
      if (JSON.stringify(oa[key]) !== JSON.stringify(ob[key])) changed.push(`${group}.${key}`);
    }
  }
  return changed;
}
