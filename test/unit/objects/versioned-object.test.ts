import { strict as assert } from 'node:assert';
import { NovaObject, isObjectPrimitive, novaDatetime, sameValue, type ObjectPrimitive } from '../../../src/nova-driver/objects/versioned-object.js';
import { objectManifest } from '../../../src/nova-driver/objects/manifest.js';
import { loadTraces } from '../../helpers/traces.js';

/** Every nova_object primitive anywhere inside a decoded message. */
function primitivesIn(value: unknown, out: ObjectPrimitive[] = []): ObjectPrimitive[] {
  if (isObjectPrimitive(value)) out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => primitivesIn(v, out));
  else if (value && typeof value === 'object') Object.values(value).forEach((v) => primitivesIn(v, out));
  return out;
}

describe('versioned objects against the Zed traces', () => {
  const traces = loadTraces();

  it('has traces to test against', () => assert.ok(traces.length >= 40));

  it('decodes and re-encodes every object in every request and reply unchanged', () => {
    let count = 0;
    for (const t of traces) {
      const messages = [t.request['oslo.message_decoded'], ...(t.replies ?? []).map((r) => r['oslo.message_decoded'])];
      for (const p of primitivesIn(messages)) {
        assert.deepEqual(NovaObject.fromPrimitive(p).toPrimitive(), p, `${t.file}: ${p['nova_object.name']}`);
        count++;
      }
    }
    assert.ok(count > 50, `only ${count} objects found`);
  });

  it('builds the same object_versions manifest nova-compute sent, for every class action', () => {
    let count = 0;
    for (const t of traces) {
      const args = t.request['oslo.message_decoded'].args as Record<string, unknown> | undefined;
      if (!args?.object_versions) continue;
      assert.deepEqual(objectManifest(String(args.objname)), args.object_versions, t.file);
      count++;
    }
    assert.ok(count >= 10);
  });

  it('tracks changes: create marks all fields, set marks one, conductor updates clear them', () => {
    const svc = NovaObject.create('Service', '1.22', { host: 'h', report_count: 0 });
    assert.deepEqual(svc.changes().sort(), ['host', 'report_count']);
    svc.applyUpdates({ id: 4, disabled: false, obj_what_changed: [] });
    assert.deepEqual(svc.changes(), []);
    assert.equal(svc.get('id'), 4);
    svc.set('report_count', 1);
    assert.deepEqual(svc.toPrimitive()['nova_object.changes'], ['report_count']);
  });

  it('compares values ignoring key order and change marks', () => {
    const a = NovaObject.create('HVSpec', '1.2', { arch: 'x86_64', hv_type: 'docker', vm_mode: 'exe' });
    const b = new NovaObject('HVSpec', '1.2', { vm_mode: 'exe', hv_type: 'docker', arch: 'x86_64' });
    assert.ok(sameValue([a], [b]));
    assert.ok(!sameValue([a], [new NovaObject('HVSpec', '1.2', { arch: 'aarch64', hv_type: 'docker', vm_mode: 'exe' })]));
  });

  it('writes datetimes as Nova does: seconds, UTC, Z', () => {
    assert.equal(novaDatetime(new Date('2026-11-23T07:00:38.440Z')), '2026-11-23T07:00:38Z');
  });
});
