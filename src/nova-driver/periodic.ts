import type { Logger } from '../common/log.js';

/**
 * Periodic tasks as nova-compute runs them: each on its own spacing, never overlapping
 * itself, a failure logged and the next run kept.
 */
export class PeriodicTasks {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  every(name: string, seconds: number, task: () => Promise<void>, log: Logger): void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      task().catch((err: unknown) => log.warn({ task: name, err: (err as Error).message }, 'periodic task failed'))
        .finally(() => { running = false; });
    }, seconds * 1000);
    timer.unref();
    this.timers.set(name, timer);
  }

  stopAll(): void {
    for (const t of this.timers.values()) clearInterval(t);
    this.timers.clear();
  }
}
