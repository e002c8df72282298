import { strict as assert } from 'node:assert';
import { MsgIdCache, uuidHex } from '../../../src/messaging/dedup.js';
import { reconnectDelaySeconds, DEFAULT_RABBIT_OPTIONS } from '../../../src/messaging/options.js';
import { parseTransportUrl } from '../../../src/messaging/transport-url.js';
import { recoverReplyInfo } from '../../../src/messaging/server.js';
import { encodeBody } from '../../../src/messaging/envelope.js';

describe('messaging: duplicate ids, options, transport URLs', () => {
  it('drops duplicates among the last 16 unique ids only', () => {
    const c = new MsgIdCache();
    assert.equal(c.checkAndAdd('a'), false);
    assert.equal(c.checkAndAdd('a'), true);
    for (let i = 0; i < 16; i++) c.add(`x${i}`);
    assert.equal(c.checkAndAdd('a'), false, 'a fell out of the window');
    assert.equal(c.checkAndAdd(undefined), false);
    assert.match(uuidHex(), /^[0-9a-f]{32}$/);
  });

  it('backs off 1, 3, 5, ... up to 30 seconds', () => {
    const o = DEFAULT_RABBIT_OPTIONS;
    assert.deepEqual([0, 1, 2, 3, 14, 15, 100].map((n) => reconnectDelaySeconds(o, n)), [1, 3, 5, 7, 29, 30, 30]);
  });

  it('parses multi-host transport URLs', () => {
    const u = parseTransportUrl('rabbit://op%40x:p%3Aw@h1:5673,bob:pw@[::1]:5674,h3/my%2Fvhost?ssl=1');
    assert.deepEqual(u.hosts, [
      { hostname: 'h1', port: 5673, username: 'op@x', password: 'p:w' },
      { hostname: '::1', port: 5674, username: 'bob', password: 'pw' },
      { hostname: 'h3', port: 5672, username: 'guest', password: 'guest' },
    ]);
    assert.equal(u.virtualHost, 'my/vhost');
    assert.deepEqual(u.query, { ssl: '1' });
    assert.equal(parseTransportUrl('rabbit://u:p@h:5672/').virtualHost, '/');
    assert.equal(parseTransportUrl('rabbit://u:p@h:5672').virtualHost, '/');
    assert.throws(() => parseTransportUrl('kafka://h:1/'));
    assert.throws(() => parseTransportUrl('rabbit://h:99999/'));
  });

  it('recovers _msg_id/_reply_q from messages that cannot be dispatched', () => {
    const body = Buffer.from(JSON.stringify({ 'oslo.version': '9.0', 'oslo.message': JSON.stringify({ _msg_id: 'm', _reply_q: 'reply_q', _context_request_id: 'req-9' }) }));
    assert.deepEqual(recoverReplyInfo(body), { msgId: 'm', replyQ: 'reply_q', requestId: 'req-9' });
    assert.deepEqual(recoverReplyInfo(Buffer.from('{"_msg_id": "m", "_reply_q": "q"}')), { msgId: 'm', replyQ: 'q' });
    assert.equal(recoverReplyInfo(Buffer.from('garbage')), null);
    assert.equal(recoverReplyInfo(encodeBody({ method: 'cast_only' })), null);
  });
});
