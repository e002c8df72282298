import { strict as assert } from 'node:assert';
import { pyJsonDumps, pyJsonNumber, pyJsonString } from '../../../src/messaging/pyjson.js';

describe('messaging/pyjson: Python json.dumps output', () => {
  it('uses Python separators and key order', () => {
    assert.equal(pyJsonDumps({ a: 1, b: [1, 2, { c: null }], d: {}, e: [] }), '{"a": 1, "b": [1, 2, {"c": null}], "d": {}, "e": []}');
  });

  it('escapes like ensure_ascii=True', () => {
    assert.equal(pyJsonString('caf\u00e9 \u2603 \ud83d\ude00'), '"caf\\u00e9 \\u2603 \\ud83d\\ude00"');
    assert.equal(pyJsonString('q"b\\n\n\t\r\b\f\u0001\u007f/'), '"q\\"b\\\\n\\n\\t\\r\\b\\f\\u0001\\u007f/"');
  });

  it('prints booleans, null and numbers as Python does', () => {
    assert.equal(pyJsonDumps([true, false, null, 0, -3, 1.5, 0.1, 1e-5, 1e16, 123456789012]),
      '[true, false, null, 0, -3, 1.5, 0.1, 1e-05, 1e+16, 123456789012]');
    assert.equal(pyJsonNumber(NaN), 'NaN');
    assert.equal(pyJsonNumber(-Infinity), '-Infinity');
  });

  it('skips undefined members and uses toJSON', () => {
    assert.equal(pyJsonDumps({ a: undefined, b: new Date(Date.UTC(2026, 0, 2)) }), '{"b": "2026-01-02T00:00:00.000Z"}');
    assert.equal(pyJsonDumps([undefined]), '[null]');
  });

  it('reads back with JSON.parse to the same value', () => {
    const v = { s: 'x\u00e9\n', n: [1, 2.25, -0.5], o: { deep: [{ k: 'v' }] } };
    assert.deepEqual(JSON.parse(pyJsonDumps(v)), v);
  });

  it('refuses circular structures', () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    assert.throws(() => pyJsonDumps(a), /Circular/);
  });
});
