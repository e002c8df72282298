/**
 * bench/status-watch.ts against an in-memory server list: what its polls ask nova-api, and
 * which waits end how. The bench's run against the local cloud is its real proof.
 */
import { strict as assert } from 'node:assert';
import type { AxiosInstance } from 'axios';
import { StatusWatch } from '../../../bench/status-watch.js';

interface Asked { 'changes-since': string; status: string }

/** A nova-api that lists the servers whose status is `status`, failing while `failing` is set. */
function fakeNova(statuses: Map<string, string>) {
  const asked: Asked[] = [];
  const api = {
    failing: false,
    asked,
    nova: {
      get: async (path: string, config: { params: Asked; timeout?: number }) => {
        assert.ok(config.timeout, 'a list call has a timeout');
        assert.equal(path, '/servers');
        asked.push(config.params);
        if (api.failing) throw new Error('503 Service Unavailable');
        return { data: { servers: [...statuses].filter(([, s]) => s === config.params.status).map(([id]) => ({ id })) } };
      },
    } as unknown as AxiosInstance,
  };
  return api;
}

const settled = (p: Promise<void>): Promise<string> => p.then(() => 'resolved', (e: Error) => `rejected: ${e.message}`);
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('bench StatusWatch', () => {
  it('a wait ends when its server is listed with the status, not before', async () => {
    const statuses = new Map([['a', 'BUILD']]);
    const api = fakeNova(statuses);
    const started = Date.now();
    let done = false;
    const wait = new StatusWatch(api.nova, { everyMs: 10 }).until('a', 'ACTIVE').then(() => { done = true; });
    const ended = Date.now();
    await tick(50);
    assert.equal(done, false, 'still building');
    statuses.set('a', 'ACTIVE');
    await wait;
    const since = Date.parse(api.asked[0]['changes-since']);
    assert.ok(since >= started - 2000 && since <= ended - 2000, `changes-since ${api.asked[0]['changes-since']} is the wait's start less 2 s`);
    assert.deepEqual([...new Set(api.asked.map((a) => a.status))].sort(), ['ACTIVE', 'ERROR']);
  });

  it('a server in ERROR fails its wait, a build\'s or a delete\'s; a deleted one ends a delete wait', async () => {
    const statuses = new Map([['a', 'ERROR'], ['b', 'DELETED'], ['c', 'ERROR']]);
    const api = fakeNova(statuses);
    const watch = new StatusWatch(api.nova, { everyMs: 10 });
    assert.equal(await settled(watch.until('a', 'ACTIVE')), 'rejected: server a went to ERROR');
    api.asked.length = 0;
    assert.equal(await settled(watch.until('b', 'DELETED')), 'resolved');
    assert.deepEqual([...new Set(api.asked.map((a) => a.status))].sort(), ['DELETED', 'ERROR']);
    assert.equal(await settled(watch.until('c', 'DELETED')), 'rejected: server c went to ERROR');
  });

  it('a wait past its deadline fails; a full page is a failure, not a partial answer', async () => {
    const statuses = new Map([['a', 'BUILD']]);
    const watch = new StatusWatch(fakeNova(statuses).nova, { everyMs: 10, deadlineMs: 50 });
    assert.equal(await settled(watch.until('a', 'ACTIVE')), 'rejected: server a is not ACTIVE 0.05 s after the wait began');
    const full = new Map(Array.from({ length: 1000 }, (_, i) => [`s${i}`, 'ACTIVE']));
    const fullWatch = new StatusWatch(fakeNova(full).nova, { everyMs: 10, giveUpMs: 30 });
    assert.match(await settled(fullWatch.until('s1', 'ACTIVE')), /^rejected: 1000 servers ACTIVE changed since .*: a page may leave some out$/);
  });

  it('a passing API failure ends no wait', async () => {
    const statuses = new Map([['a', 'BUILD']]);
    const api = fakeNova(statuses);
    api.failing = true;
    const watch = new StatusWatch(api.nova, { everyMs: 10, giveUpMs: 200 });
    const wait = settled(watch.until('a', 'ACTIVE'));
    await tick(50);
    api.failing = false;
    statuses.set('a', 'ACTIVE');
    assert.equal(await wait, 'resolved');
    assert.ok(api.asked.length > 2, 'asked again after the failures');
    // failing past giveUpMs ends the waits, and a wait begun afterwards gets its own time
    api.failing = true;
    statuses.set('b', 'BUILD');
    assert.equal(await settled(watch.until('b', 'ACTIVE')), 'rejected: 503 Service Unavailable');
    const later = settled(watch.until('c', 'ACTIVE'));
    await tick(50);
    api.failing = false;
    statuses.set('c', 'ACTIVE');
    assert.equal(await later, 'resolved');
  });
});
