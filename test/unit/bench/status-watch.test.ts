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
      get: async (path: string, config: { params: Asked }) => {
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
    const wait = new StatusWatch(api.nova, 10).until('a', 'ACTIVE').then(() => { done = true; });
    await tick(50);
    assert.equal(done, false, 'still building');
    statuses.set('a', 'ACTIVE');
    await wait;
    const since = Date.parse(api.asked[0]['changes-since']);
    assert.ok(since <= started - 2000 && since > started - 3000, `changes-since ${api.asked[0]['changes-since']} is the wait's start less 2 s`);
    assert.deepEqual([...new Set(api.asked.map((a) => a.status))].sort(), ['ACTIVE', 'ERROR']);
  });

  it('a server in ERROR fails its build wait; a deleted one ends a delete wait', async () => {
    const statuses = new Map([['a', 'ERROR'], ['b', 'DELETED'], ['c', 'ERROR']]);
    const watch = new StatusWatch(fakeNova(statuses).nova, 10);
    assert.equal(await settled(watch.until('a', 'ACTIVE')), 'rejected: server a went to ERROR');
    assert.equal(await settled(watch.until('b', 'DELETED')), 'resolved');
    // one in ERROR while it is deleted is still on its way to DELETED
    let cDone = false;
    const c = watch.until('c', 'DELETED').then(() => { cDone = true; });
    await tick(50);
    assert.equal(cDone, false);
    statuses.set('c', 'DELETED');
    await c;
  });

  it('a passing API failure ends no wait', async () => {
    const statuses = new Map([['a', 'BUILD']]);
    const api = fakeNova(statuses);
    api.failing = true;
    const wait = settled(new StatusWatch(api.nova, 10).until('a', 'ACTIVE'));
    await tick(50);
    api.failing = false;
    statuses.set('a', 'ACTIVE');
    assert.equal(await wait, 'resolved');
    assert.ok(api.asked.length > 2, 'asked again after the failures');
  });
});
