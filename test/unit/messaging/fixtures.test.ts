/**
 * Every message of the real Nova Zed capture (test/fixtures/nova-zed-traces/rpc, copied from
 * shared/reference) decodes with our envelope/context code to exactly what the capture
 * records, and re-encodes byte for byte through the functions our client and server use to
 * build requests and replies.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildRequestMessage } from '../../../src/messaging/client.js';
import { MESSAGE_PROPERTIES } from '../../../src/messaging/connection.js';
import { unpackContext } from '../../../src/messaging/context.js';
import { decodeBody, serializeMsg } from '../../../src/messaging/envelope.js';
import { deserializeRemoteException } from '../../../src/messaging/failure.js';
import { pyJsonDumps } from '../../../src/messaging/pyjson.js';
import { buildReplyMessage } from '../../../src/messaging/server.js';
import { PyError } from '../../../src/messaging/errors.js';
import { TRACE_DIR } from '../../helpers/traces.js';

interface Props { [k: string]: unknown }
interface Captured {
  firehose_headers: { exchange_name: string; routing_keys: string[]; properties: Props };
  amqp_body: Record<string, unknown>;
  'oslo.message_decoded': Record<string, unknown>;
}
interface TraceFile {
  summary: { method: string; rpc_kind: string; version: string; namespace: string | null; exchange: string; routing_key: string };
  request: Captured;
  replies: Captured[];
}

/**
 * Python writes integral floats as `16.0`; a JavaScript number cannot remember that and
 * writes `16`. The only difference we accept: such number tokens outside strings.
 */
function withoutIntegralFloats(json: string): string {
  let out = '';
  for (let i = 0; i < json.length;) {
    const ch = json[i];
    if (ch === '"') {
      let j = i + 1;
      while (j < json.length && json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      out += json.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(json.slice(i, i + 40));
    if (m && (i === 0 || /[\s,:[]/.test(json[i - 1]))) {
      out += m[0].replace(/^(-?\d+)\.0+$/, '$1');
      i += m[0].length;
      continue;
    }
    out += ch;
    i++;
  }
  return out;
}

/** Python-side AMQP property names -> the amqplib options we publish with. */
function asAmqplib(p: Props): Props {
  return { contentType: p.content_type, contentEncoding: p.content_encoding, deliveryMode: p.delivery_mode, priority: p.priority, headers: p.headers };
}

const traces = readdirSync(TRACE_DIR).filter((f) => f.endsWith('.json')).sort()
  .map((f) => ({ file: f, t: JSON.parse(readFileSync(join(TRACE_DIR, f), 'utf8')) as TraceFile }));

describe('messaging fixtures: the real Nova Zed traces', () => {
  it('has all 40 traces', () => assert.equal(traces.length, 40));

  it('counts integral floats the way the normalizer sees them', () => {
    assert.equal(withoutIntegralFloats('{"a": 16.0, "b": "1.0", "c": [1.5, -2.0], "d": "x 3.0"}'), '{"a": 16, "b": "1.0", "c": [1.5, -2], "d": "x 3.0"}');
  });

  for (const { file, t } of traces) {
    describe(file, () => {
      const req = t.request;
      const innerText = String(req.amqp_body['oslo.message']);

      it('decodes the request body to the recorded decoded form', () => {
        const body = Buffer.from(pyJsonDumps(req.amqp_body), 'utf8');
        assert.deepEqual(decodeBody(body), req['oslo.message_decoded']);
      });

      it('re-encodes the request byte for byte (Python JSON layout)', () => {
        assert.equal(pyJsonDumps(req['oslo.message_decoded']), withoutIntegralFloats(innerText));
        assert.equal(serializeMsg(req['oslo.message_decoded'])['oslo.version'], '2.0');
      });

      it('unpacks the context and rebuilds the request as our client would send it', () => {
        const msg = structuredClone(req['oslo.message_decoded']);
        const uniqueId = String(msg._unique_id);
        const u = unpackContext(msg);
        delete msg._unique_id;
        const ctxKeys = Object.keys(u.context);
        assert.equal(ctxKeys.length, 25, `context keys: ${ctxKeys.join(',')}`);
        assert.match(String(u.context.request_id), /^req-/);
        assert.ok(!Object.keys(msg).some((k) => k.startsWith('_')), `left: ${Object.keys(msg).join(',')}`);
        const isCall = t.summary.rpc_kind === 'call';
        assert.equal(u.msgId !== null && u.replyQ !== null, isCall);
        if (isCall) assert.match(String(u.replyQ), /^reply_[0-9a-f]{32}$/);
        // namespace only when the target has one
        assert.equal('namespace' in msg, t.summary.namespace !== null && t.summary.namespace !== 'None');
        const target = { version: String(msg.version), namespace: (msg.namespace ?? null) as string | null };
        const rebuilt = buildRequestMessage(target, String(msg.method), msg.args as Record<string, unknown>, u.context,
          isCall ? { msgId: String(u.msgId), replyQ: String(u.replyQ), timeout: u.clientTimeout as number | null } : undefined, uniqueId);
        assert.equal(pyJsonDumps(rebuilt), withoutIntegralFloats(innerText));
      });

      it('was published with the AMQP properties we publish with', () => {
        const p = req.firehose_headers.properties;
        assert.deepEqual(asAmqplib(p), MESSAGE_PROPERTIES);
        if (t.summary.rpc_kind === 'call') assert.match(String(p.expiration), /^\d+$/);
        else assert.equal(p.expiration, undefined);
        if (t.summary.rpc_kind === 'fanout cast') {
          // fanout casts: exchange <topic>_fanout, empty routing key (what our fanout cast publishes)
          assert.match(req.firehose_headers.exchange_name, /^[a-z]+_fanout$/);
          assert.deepEqual(req.firehose_headers.routing_keys, ['']);
        } else {
          assert.equal(req.firehose_headers.exchange_name, 'nova');
          const m = req['oslo.message_decoded'];
          assert.ok(['conductor', 'scheduler', 'compute.fakehost'].includes(req.firehose_headers.routing_keys[0]), String(m.method));
        }
      });

      for (const [i, reply] of (t.replies ?? []).entries()) {
        it(`decodes and re-encodes reply ${i}`, () => {
          const body = Buffer.from(pyJsonDumps(reply.amqp_body), 'utf8');
          const decoded = decodeBody(body);
          assert.deepEqual(decoded, reply['oslo.message_decoded']);
          assert.equal(reply.firehose_headers.exchange_name, '');
          assert.equal(reply.firehose_headers.routing_keys[0], req['oslo.message_decoded']._reply_q);
          assert.deepEqual(asAmqplib(reply.firehose_headers.properties), MESSAGE_PROPERTIES);
          assert.equal(decoded._msg_id, req['oslo.message_decoded']._msg_id);
          const rebuilt = buildReplyMessage(decoded.result, (decoded.failure ?? null) as string | null, decoded.ending === true,
            String(decoded._msg_id), String(decoded._unique_id));
          assert.equal(pyJsonDumps(rebuilt), withoutIntegralFloats(String(reply.amqp_body['oslo.message'])));
          if (decoded.failure) {
            const err = deserializeRemoteException(decoded.failure, ['nova.exception']);
            assert.ok(err instanceof PyError);
            assert.equal(err.name, (JSON.parse(String(decoded.failure)) as { class: string }).class);
          }
        });
      }
    });
  }
});
