/** SIGTERM/SIGINT: a graceful stop, bounded by graceful_shutdown_timeout (src/nova-driver/stop-on-signal.ts). */
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import { stopOnSignal } from '../../../src/nova-driver/stop-on-signal.js';
import { captureLogs } from '../../helpers/log-capture.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('stopOnSignal', () => {
  it('aborts, stops, and resolves once the stop is over, before the timeout and without its exit', async () => {
    const logs = captureLogs();
    const signals = new EventEmitter();
    const exits: number[] = [];
    let stops = 0;
    const s = stopOnSignal({ stop: async () => { stops += 1; await sleep(20); }, timeoutMs: 200, log: logs.log, signals, exit: (c) => exits.push(c) });
    assert.equal(s.aborted.aborted, false);
    signals.emit('SIGTERM', 'SIGTERM');
    assert.equal(s.aborted.aborted, true);
    await s.stopped;
    assert.equal(stops, 1);
    assert.deepEqual(exits, []);
    assert.equal(logs.find('stopping')[0]?.signal, 'SIGTERM');
  });

  it('exits with 1 when the stop outlasts graceful_shutdown_timeout', async () => {
    const logs = captureLogs();
    const signals = new EventEmitter();
    const exits: number[] = [];
    const s = stopOnSignal({ stop: () => new Promise<void>(() => undefined), timeoutMs: 50, log: logs.log, signals, exit: (c) => exits.push(c) });
    signals.emit('SIGINT', 'SIGINT');
    await sleep(30);
    assert.deepEqual(exits, [], 'not before the timeout');
    await sleep(100);
    assert.deepEqual(exits, [1]);
    assert.equal(logs.find('Graceful shutdown timeout exceeded, instantaneous exiting').length, 1);
    assert.equal(s.aborted.aborted, true);
  });

  it('waits without bound when the timeout is 0, and logs a failed stop', async () => {
    const logs = captureLogs();
    const signals = new EventEmitter();
    const exits: number[] = [];
    const s = stopOnSignal({ stop: async () => { await sleep(60); throw new Error('engine gone'); }, timeoutMs: 0, log: logs.log, signals, exit: (c) => exits.push(c) });
    signals.emit('SIGTERM', 'SIGTERM');
    await s.stopped;
    assert.deepEqual(exits, []);
    assert.equal(logs.find('stopping failed').length, 1);
  });

  it('a second signal of either kind is not taken: the process default (death) applies', () => {
    const signals = new EventEmitter();
    stopOnSignal({ stop: async () => undefined, timeoutMs: 0, log: captureLogs().log, signals, exit: () => undefined });
    assert.equal(signals.listenerCount('SIGTERM'), 1);
    assert.equal(signals.listenerCount('SIGINT'), 1);
    signals.emit('SIGTERM', 'SIGTERM');
    assert.equal(signals.listenerCount('SIGTERM'), 0);
    assert.equal(signals.listenerCount('SIGINT'), 0);
  });
});
