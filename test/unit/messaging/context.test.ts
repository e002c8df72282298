import { strict as assert } from 'node:assert';
import { packContext, unpackContext } from '../../../src/messaging/context.js';

describe('messaging/context: _context_ packing', () => {
  it('packs a context as _context_<key> members and unpacks it back, stripping _msg_id/_reply_q/_timeout', () => {
    const ctx = { request_id: 'req-1', roles: ['admin'], auth_token: 'tok', is_admin: true };
    const msg = packContext({ method: 'm', args: {}, _msg_id: 'mid', _reply_q: 'reply_x', _timeout: 30 } as Record<string, unknown>, ctx);
    assert.equal(msg._context_request_id, 'req-1');
    assert.deepEqual(msg._context_roles, ['admin']);
    const u = unpackContext(msg);
    assert.deepEqual(u.context, ctx);
    assert.equal(u.msgId, 'mid');
    assert.equal(u.replyQ, 'reply_x');
    assert.equal(u.clientTimeout, 30);
    assert.deepEqual(msg, { method: 'm', args: {} });
  });

  it('unpacks a cast (no _msg_id) with null reply fields', () => {
    const u = unpackContext({ method: 'm', _context_request_id: 'r' });
    assert.equal(u.msgId, null);
    assert.equal(u.replyQ, null);
    assert.equal(u.clientTimeout, null);
  });
});
