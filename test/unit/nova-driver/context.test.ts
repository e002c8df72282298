import { strict as assert } from 'node:assert';
import { adminContext, contextTimestamp } from '../../../src/nova-driver/context.js';
import { loadTraces } from '../../helpers/traces.js';

const CONTEXT_PREFIX = '_context_';

describe('nova-driver/context: the admin contexts a compute host sends', () => {
  it("builds admin contexts like the compute's own (trace 07/15): same keys in the same order, same constant values", () => {
    const trace = loadTraces().find((t) => t.file.startsWith('15-'));
    assert.ok(trace);
    const decoded = trace.request['oslo.message_decoded'];
    const traceCtx = Object.fromEntries(Object.entries(decoded).filter(([k]) => k.startsWith(CONTEXT_PREFIX))
      .map(([k, v]) => [k.slice(CONTEXT_PREFIX.length), v]));
    const ours = adminContext();
    assert.deepEqual(Object.keys(ours), Object.keys(traceCtx));
    for (const [k, v] of Object.entries(traceCtx)) {
      if (k === 'request_id' || k === 'timestamp') continue;
      assert.deepEqual(ours[k], v, k);
    }
    assert.match(String(ours.request_id), /^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.match(String(ours.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    assert.notEqual(adminContext().request_id, ours.request_id);
    assert.equal(adminContext({ request_id: 'req-x' }).request_id, 'req-x');
  });

  it('writes naive UTC timestamps with microseconds', () => {
    const ts = contextTimestamp(new Date(Date.UTC(2026, 10, 23, 7, 0, 38, 440)));
    assert.match(ts, /^2026-11-23T07:00:38\.440\d{3}$/);
  });
});
