/**
 * Following the engine's event stream, on fake streams: lines that are not events and
 * handlers that throw are logged and never end the watch (nor crash the process), and a
 * broken stream is opened again.
 */
import { strict as assert } from 'node:assert';
import { PassThrough } from 'node:stream';
import { followStartEvents } from '../../../src/runtime/docker-events.js';
import type { StartWatcher } from '../../../src/runtime/types.js';
import { captureLogs } from '../../helpers/log-capture.js';

const tick = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const startLine = (id: string): string => `${JSON.stringify({ id, Actor: { Attributes: { instance: `i-${id}` } } })}\n`;

/** Streams handed out in order, as the engine would open them. */
function streams(): { open: () => Promise<PassThrough>; opened: PassThrough[] } {
  const opened: PassThrough[] = [];
  return {
    opened,
    open: async () => {
      const s = new PassThrough();
      opened.push(s);
      return s;
    },
  };
}

/** A watcher that records what it is told, and throws where the test says. */
function watcher(throwsOn: Partial<Record<keyof StartWatcher, (arg?: string) => boolean>> = {}): StartWatcher & { told: string[] } {
  const told: string[] = [];
  const record = (what: keyof StartWatcher, arg?: string): void => {
    told.push(arg ? `${what}:${arg}` : what);
    if (throwsOn[what]?.(arg)) throw new Error(`${what} handler broke`);
  };
  return {
    told,
    started: (id, attributes) => record('started', `${id}/${attributes.instance}`),
    lost: () => record('lost'),
    reconnected: () => record('reconnected'),
  };
}

describe('engine start events', () => {
  it('delivers every event, also one split across chunks; a line that is not an event is logged and skipped', async () => {
    const logs = captureLogs();
    const { open, opened } = streams();
    const w = watcher();
    const watch = followStartEvents(open, w, logs.log);
    await tick();
    const [s] = opened;
    s.write(startLine('a'));
    s.write('{not json\n');
    s.write('null\n');
    const b = startLine('b');
    s.write(b.slice(0, 5));
    s.write(b.slice(5));
    await tick();
    assert.deepEqual(w.told, ['started:a/i-a', 'started:b/i-b']);
    assert.equal(logs.find(/not JSON/).length, 1);
    assert.equal(logs.find(/without a container id/).length, 1);
    watch.close();
  });

  it('a started handler that throws is logged; the following events are still delivered', async () => {
    const logs = captureLogs();
    const { open, opened } = streams();
    const w = watcher({ started: (arg) => arg === 'a/i-a' });
    const watch = followStartEvents(open, w, logs.log);
    await tick();
    opened[0].write(startLine('a') + startLine('b'));
    await tick();
    assert.deepEqual(w.told, ['started:a/i-a', 'started:b/i-b']);
    assert.deepEqual(logs.find('the engine event handler failed').map((l) => [l.handler, l.err]), [['started', 'started handler broke']]);
    watch.close();
  });

  it('a broken stream is opened again; lost and reconnected handlers that throw are logged and the new stream is followed', async () => {
    const logs = captureLogs();
    const { open, opened } = streams();
    const w = watcher({ lost: () => true, reconnected: () => true });
    const watch = followStartEvents(open, w, logs.log);
    await tick();
    opened[0].destroy(new Error('engine restarted'));
    await tick(700); // the first pause before opening again is half a second
    assert.equal(opened.length, 2);
    opened[1].write(startLine('c'));
    await tick();
    assert.deepEqual(w.told, ['lost', 'reconnected', 'started:c/i-c']);
    assert.deepEqual(logs.find('the engine event handler failed').map((l) => l.handler), ['lost', 'reconnected']);
    watch.close();
  });
});
