/**
 * The per-instance lock (src/common/keyed-lock.ts): order per key, and the marks
 * a reader of many instances uses to tell which of them an operation took since it listed them.
 */
import { strict as assert } from 'node:assert';
import { KeyedLock } from '../../../src/common/keyed-lock.js';

/** A lock held on `key` until `release` is called. */
function hold(lock: KeyedLock, key: string): { done: Promise<void>; release(): void } {
  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  return { done: lock.run(key, () => released), release };
}

describe('KeyedLock', () => {
  it('runs one operation per key at a time, in order, and others in parallel', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const step = (key: string, name: string, ms: number) => lock.run(key, async () => {
      log.push(`${name}+`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`${name}-`);
    });
    await Promise.all([step('a', 'a1', 20), step('a', 'a2', 1), step('b', 'b1', 5)]);
    assert.ok(log.indexOf('a1-') < log.indexOf('a2+'), log.join(' '));
    assert.ok(log.indexOf('b1+') < log.indexOf('a1-'), 'b does not wait for a');
    assert.deepEqual(lock.busy(), []);
  });

  it('keeps going after a failed operation', async () => {
    const lock = new KeyedLock();
    await assert.rejects(lock.run('k', async () => { throw new Error('x'); }));
    assert.equal(await lock.run('k', async () => 42), 42);
  });

  it('a mark reports a key locked after it opened, and one held or waited for when it opened; not one only locked before', async () => {
    const lock = new KeyedLock();
    await lock.run('before', async () => undefined);
    const held = hold(lock, 'held');
    const waiting = lock.run('held', async () => undefined);
    const mark = lock.mark();
    await lock.run('after', async () => undefined);
    assert.equal(mark.touched('before'), false);
    assert.equal(mark.touched('held'), true);
    assert.equal(mark.touched('after'), true);
    assert.equal(mark.touched('never'), false);
    held.release();
    await Promise.all([held.done, waiting]);
    mark.close();
  });

  it('a mark does not record its holder\'s own operations; other marks do', async () => {
    const lock = new KeyedLock();
    const mine = lock.mark();
    const other = lock.mark();
    await lock.run('k', async () => undefined, mine);
    assert.equal(mine.touched('k'), false);
    assert.equal(other.touched('k'), true);
    mine.close();
    other.close();
  });

  it('a closed mark records nothing more, and keeps what it recorded', async () => {
    const lock = new KeyedLock();
    const mark = lock.mark();
    await lock.run('open', async () => undefined);
    mark.close();
    await lock.run('closed', async () => undefined);
    assert.equal(mark.touched('open'), true);
    assert.equal(mark.touched('closed'), false);
  });
});
