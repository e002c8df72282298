/**
 * One operation at a time per key (an instance uuid; a btrfs subvolume), in arrival order: nova-compute
 * serializes every action on an instance the same way (utils.synchronized(instance.uuid)).
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();
  /** The keys each open mark has recorded. */
  private readonly marks = new Map<LockMark, Set<string>>();

  /** `holder`: the mark of the caller, which does not record its own operations. */
  async run<T>(key: string, fn: () => Promise<T>, holder?: LockMark): Promise<T> {
    for (const [mark, keys] of this.marks) if (mark !== holder) keys.add(key);
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => { release = r; });
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Keys with an operation running or waiting. */
  busy(): string[] {
    return [...this.tails.keys()];
  }

  /**
   * Opens a mark: from now until it is closed it records every key with an operation running
   * or waiting now, or started later. It holds only those keys; with no mark open, `run` pays nothing.
   */
  mark(): LockMark {
    const keys = new Set(this.tails.keys());
    const mark: LockMark = {
      touched: (key) => keys.has(key),
      close: () => { this.marks.delete(mark); },
    };
    this.marks.set(mark, keys);
    return mark;
  }
}

/** What a reader of many keys learns from KeyedLock.mark: which of them an operation may have changed since. */
export interface LockMark {
  /** Whether an operation (other than the mark holder's own) held or waited for the key since the mark opened. */
  touched(key: string): boolean;
  /** Stops recording; what was recorded stays readable. */
  close(): void;
}
