/**
 * Waiting for external instance events (nova/compute/manager.py InstanceEvents,
 * wait_for_instance_event): a build registers `network-vif-plugged-<port>` waiters before it
 * plugs, Neutron's event arrives through nova-api as an external_instance_event cast, and
 * the build goes on (or fails at vif_plugging_timeout when that is fatal).
 */
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
          if (e.status === 'failed') throw new Error(`Neutron reported ${e.name} for port ${e.tag} as failed`);
        }))),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}
