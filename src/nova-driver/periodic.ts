import type { Logger } from '../common/log.js';

/** One run of a periodic task: how long it took, and whether it failed. */
export interface PeriodicRun { task: string; durationMs: number; ok: boolean }

/**
 * Periodic tasks as nova-compute runs them: each on its own spacing, never overlapping
 * itself (a tick that comes during a run is skipped), a failure logged and the next run kept.
 * Every run is timed (`observe`, /metrics); one longer than its spacing is logged as a
 * warning, as oslo.service's fixed-interval looping calls (the heartbeat's) do.
 */
export class PeriodicTasks {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly observe: (run: PeriodicRun) => void = () => undefined) {}

  every(name: string, seconds: number, task: () => Promise<void>, log: Logger): void {
    let running = false;
    const run = async (): Promise<void> => {
      const started = performance.now();
      let ok = true;
      try {
        await task();
      } catch (err) {
        ok = false;
        log.warn({ task: name, err: err instanceof Error ? err.message : String(err) }, 'periodic task failed');
      }
      const durationMs = performance.now() - started;
      const fields = { task: name, duration_ms: Math.round(durationMs) };
      if (durationMs > seconds * 1000) log.warn({ ...fields, interval_s: seconds }, 'periodic task outlasted its interval');
      else log.debug(fields, 'periodic task ran');
      this.observe({ task: name, durationMs, ok });
    };
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      // whatever a run throws (its log lines, the observer), the next tick runs the task again
      run().catch(() => undefined).finally(() => { running = false; });
    }, seconds * 1000);
    timer.unref();
    this.timers.set(name, timer);
  }

  stopAll(): void {
    for (const t of this.timers.values()) clearInterval(t);
    this.timers.clear();
  }
}
