/**
 * oslo_messaging/_drivers/amqp.py _MsgIdCache: remembers the last 16 `_unique_id`s so a
 * message the broker delivers twice (e.g. after an ack lost in a reconnect) runs once.
 */
import { randomUUID } from 'node:crypto';

export const DUP_MSG_CHECK_SIZE = 16;

export class MsgIdCache {
  private readonly ids: string[] = [];

  constructor(private readonly size = DUP_MSG_CHECK_SIZE) {}

  /** True when `id` was seen among the last `size` ids. */
  isDuplicate(id: string | null | undefined): boolean {
    return typeof id === 'string' && this.ids.includes(id);
  }

  add(id: string | null | undefined): void {
    if (typeof id !== 'string' || id === '' || this.ids.includes(id)) return;
    this.ids.push(id);
    if (this.ids.length > this.size) this.ids.shift();
  }

  /** Checks then remembers: true when it is a duplicate (and should be dropped). */
  checkAndAdd(id: string | null | undefined): boolean {
    if (this.isDuplicate(id)) return true;
    this.add(id);
    return false;
  }
}

/** uuid4 hex, the form of `_msg_id`, `_unique_id` and queue suffixes. */
export function uuidHex(): string {
  return randomUUID().replace(/-/g, '');
}
