import { strict as assert } from 'node:assert';
import {
  decodeBody, deserializeMsg, encodeBody, MalformedMessageError, scrubTokens, serializeMsg, versionIsCompatible,
} from '../../../src/messaging/envelope.js';
import { UnsupportedRpcEnvelopeVersion } from '../../../src/messaging/errors.js';

describe('messaging/envelope: the oslo 2.0 envelope', () => {
  it('wraps the message as a JSON string under oslo.message', () => {
    const env = serializeMsg({ method: 'ping', args: { arg: 'x' } });
    assert.deepEqual(env, { 'oslo.version': '2.0', 'oslo.message': '{"method": "ping", "args": {"arg": "x"}}' });
    assert.equal(encodeBody({ a: 1 }).toString('utf8'), '{"oslo.version": "2.0", "oslo.message": "{\\"a\\": 1}"}');
  });

  it('round-trips a message through the AMQP body', () => {
    const msg = { method: 'm', args: { s: 'caf\u00e9', n: [1, 2] }, version: '6.0' };
    assert.deepEqual(decodeBody(encodeBody(msg)), msg);
  });

  it('takes a message without both envelope keys as 1.0, as is', () => {
    const legacy = { method: 'x', args: {}, 'oslo.version': '2.0' };
    assert.equal(deserializeMsg(legacy), legacy);
    assert.deepEqual(decodeBody(Buffer.from('{"method": "m", "args": {}}')), { method: 'm', args: {} });
    assert.equal(deserializeMsg('text'), 'text');
  });

  it('rejects another envelope major (and a higher minor) with UnsupportedRpcEnvelopeVersion', () => {
    for (const v of ['3.0', '1.0', '2.1', 'x']) {
      assert.throws(() => deserializeMsg({ 'oslo.version': v, 'oslo.message': '{}' }), (e: unknown) =>
        e instanceof UnsupportedRpcEnvelopeVersion && e.kwargs.version === v && e.pyModule === 'oslo_messaging._drivers.common');
    }
    assert.deepEqual(deserializeMsg({ 'oslo.version': '2.0.0', 'oslo.message': '{"a": 1}' }), { a: 1 });
  });

  it('reports bodies that are not JSON or not objects as MalformedMessageError', () => {
    assert.throws(() => decodeBody(Buffer.from('not json')), MalformedMessageError);
    assert.throws(() => decodeBody(Buffer.from('[1,2]')), MalformedMessageError);
    assert.throws(() => decodeBody(Buffer.from('{"oslo.version": "2.0", "oslo.message": "{bad"}')), MalformedMessageError);
    assert.throws(() => decodeBody(Buffer.from('{"oslo.version": "2.0", "oslo.message": 5}')), MalformedMessageError);
  });

  it('implements oslo version_is_compatible', () => {
    const table: [string | null, string | null, boolean][] = [
      ['6.1', '6.0', true], ['6.1', '6.1', true], ['6.1', '6.2', false], ['6.1', '5.13', false], ['5.13', '5.2', true],
      ['1.1', '1.0', true], [null, '9.9', true], ['6.1', null, false], ['6.1.2', '6.1.1', true], ['6.1.1', '6.1.2', false],
      ['6.1', '6.1.1', false], ['6.1', 'bad', false],
    ];
    for (const [imp, req, want] of table) assert.equal(versionIsCompatible(imp, req), want, `${imp} vs ${req}`);
  });

  it('blanks auth tokens in previews, also inside the escaped inner message', () => {
    const body = encodeBody({ _context_auth_token: 'gAAAA-secret', other: 1 }).toString('utf8');
    const scrubbed = scrubTokens(body);
    assert.ok(!scrubbed.includes('secret'), scrubbed);
    assert.ok(scrubbed.includes('***'));
    assert.equal(scrubTokens('{"auth_token": "abc", "x": 1}'), '{"auth_token": "***", "x": 1}');
  });
});
