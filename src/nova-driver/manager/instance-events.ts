/**
 * Waiting for external instance events (nova/compute/manager.py InstanceEvents,
 * wait_for_instance_event): a build registers `network-vif-plugged-<port>` waiters before it
 * plugs, Neutron's event arrives through nova-api as an external_instance_event cast, and
 * the build goes on (or fails at vif_plugging_timeout when that is fatal).
 */
import type { Logger } from '../../common/log.js';
import type { VirtApi } from '../instance-driver.js';

export interface ExternalEvent {
  name: string;
  tag: string | null;
  status: string;
}

interface Waiter {
  resolve(e: ExternalEvent): void;
  reject(err: Error): void;
}

export class VifPlugTimeout extends Error {
  constructor(readonly instanceUuid: string, readonly missing: string[], seconds: number) {
    super(`Neutron did not report ${missing.join(', ')} within ${seconds} s (vif_plugging_timeout)`);
    this.name = 'VirtualInterfaceCreateException';
  }
}

/** Neutron reported a port's plug as failed (fatal only with vif_plugging_is_fatal, as in Nova). */
export class VifPlugFailed extends Error {
  constructor(readonly instanceUuid: string, readonly event: string) {
    super(`Neutron reported ${event} as failed`);
    this.name = 'VirtualInterfaceCreateException';
  }
}

export class InstanceEvents {
  private readonly waiters = new Map<string, Waiter>();

  private static key(uuid: string, name: string, tag: string | null): string {
    return `${uuid}/${name}/${tag ?? ''}`;
  }

  /** Registers waiters now (before the action that triggers them); returns one promise per event. */
  prepare(uuid: string, events: { name: string; tag: string | null }[]): Promise<ExternalEvent>[] {
    return events.map(({ name, tag }) => new Promise<ExternalEvent>((resolve, reject) => {
      this.waiters.set(InstanceEvents.key(uuid, name, tag), { resolve, reject });
    }));
  }

  /** Forgets waiters that will never be awaited (their promises never settle). */
  drop(uuid: string, events: { name: string; tag: string | null }[]): void {
    for (const e of events) this.waiters.delete(InstanceEvents.key(uuid, e.name, e.tag));
  }

  /** How many waiters are registered (a leak shows here). */
  get size(): number {
    return this.waiters.size;
  }

  /** Delivers an event; false when nobody waited for it. */
  deliver(uuid: string, event: ExternalEvent): boolean {
    const key = InstanceEvents.key(uuid, event.name, event.tag);
    const w = this.waiters.get(key);
    if (!w) return false;
    this.waiters.delete(key);
    w.resolve(event);
    return true;
  }

  /**
   * Waits for all `pending` events of `uuid`; on timeout the waiters are dropped and
   * VifPlugTimeout names what never came. A `failed` status is an error too.
   */
  async wait(uuid: string, events: { name: string; tag: string | null }[], pending: Promise<ExternalEvent>[], seconds: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Set<number>();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const missing = events.filter((_e, i) => !arrived.has(i));
        for (const e of missing) this.waiters.delete(InstanceEvents.key(uuid, e.name, e.tag));
        reject(new VifPlugTimeout(uuid, missing.map((e) => `${e.name}-${e.tag}`), seconds));
      }, seconds * 1000);
    });
    try {
      await Promise.race([
        Promise.all(pending.map((p, i) => p.then((e) => {
          arrived.add(i);
          if (e.status === 'failed') throw new VifPlugFailed(uuid, `${e.name}-${e.tag}`);
        }))),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The VirtApi the driver plugs through: waiters registered before the plug and dropped
 * whatever happens (a failed plug leaves none behind), the wait bounded by
 * vif_plugging_timeout, a timeout fatal only with vif_plugging_is_fatal.
 */
export function virtApi(events: InstanceEvents, timeoutSeconds: number, isFatal: boolean, log: Logger): VirtApi {
  return {
    async waitForVifPlugged(instanceUuid, portIds, plug) {
      const expected = portIds.map((tag) => ({ name: 'network-vif-plugged', tag }));
      const pending = events.prepare(instanceUuid, expected);
      try {
        await plug();
      } catch (err) {
        events.drop(instanceUuid, expected);
        throw err;
      }
      if (expected.length === 0) return;
      try {
        await events.wait(instanceUuid, expected, pending, timeoutSeconds);
      } catch (err) {
        if (err instanceof VifPlugTimeout && !isFatal) {
          log.warn({ instance: instanceUuid, missing: err.missing }, 'timed out waiting for network-vif-plugged; going on (vif_plugging_is_fatal = false)');
          return;
        }
        if (err instanceof VifPlugFailed && !isFatal) {
          log.warn({ instance: instanceUuid, event: err.event }, 'Neutron reported a failed plug; going on (vif_plugging_is_fatal = false)');
          return;
        }
        throw err;
      } finally {
        events.drop(instanceUuid, expected);
      }
    },
  };
}
