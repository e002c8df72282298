import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { amqpConnectArguments } from '../../../src/messaging/connection.js';
import { consumeArguments, fanoutExchange, topicExchange, topicQueue, transientQueue } from '../../../src/messaging/declarations.js';
import {
  DEFAULT_RABBIT_OPTIONS, inertSettings, lossDelaySeconds, MessagingOptionError, messagingOptions, RABBIT_OPTION_DEFS, type RabbitOptions,
} from '../../../src/messaging/options.js';
import { RpcDispatcher } from '../../../src/messaging/dispatcher.js';
import { withPing } from '../../../src/messaging/server.js';
import { tlsConnectOptions } from '../../../src/messaging/tls.js';
import type { Endpoint, RequestContext } from '../../../src/messaging/types.js';
import { captureLogs } from '../../helpers/log-capture.js';

const rabbit = (o: Partial<RabbitOptions>): RabbitOptions => messagingOptions({ transport_url: 'rabbit://h/', rabbit: o }).rabbit;

interface Row {
  set: Partial<RabbitOptions>;
  topic: ReturnType<typeof topicQueue>;
  transient: ReturnType<typeof transientQueue>;
  /** [durable, autoDelete] of the control exchange and of the fanout exchange. */
  exchanges: [[boolean, boolean], [boolean, boolean]];
}

const EXPIRES = { 'x-expires': 1_800_000 };
const plainTopic = { durable: false, autoDelete: false, arguments: {} };
const plainTransient = { durable: false, autoDelete: false, arguments: EXPIRES };
const plainExchanges: Row['exchanges'] = [[false, false], [false, true]];

// impl_rabbit declare_topic_consumer / declare_fanout_consumer / declare_direct_consumer, option by option.
const ROWS: Row[] = [
  { set: {}, topic: plainTopic, transient: plainTransient, exchanges: plainExchanges },
  { set: { amqp_durable_queues: true }, topic: { ...plainTopic, durable: true }, transient: plainTransient, exchanges: [[true, false], [false, true]] },
  { set: { amqp_auto_delete: true }, topic: { ...plainTopic, autoDelete: true }, transient: plainTransient, exchanges: [[false, true], [false, true]] },
  {
    set: { rabbit_ha_queues: true }, topic: { ...plainTopic, arguments: { 'x-ha-policy': 'all' } },
    transient: { ...plainTransient, arguments: { 'x-ha-policy': 'all', ...EXPIRES } }, exchanges: plainExchanges,
  },
  {
    set: { rabbit_quorum_queue: true }, topic: { durable: true, autoDelete: false, arguments: { 'x-queue-type': 'quorum' } },
    transient: plainTransient, exchanges: [[true, false], [false, true]],
  },
  {
    set: { rabbit_quorum_queue: true, amqp_durable_queues: false, rabbit_quorum_delivery_limit: 3, rabbit_quorum_max_memory_length: 100, rabbit_quorum_max_memory_bytes: 4096 },
    topic: { durable: true, autoDelete: false, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 3, 'x-max-in-memory-length': 100, 'x-max-in-memory-bytes': 4096 } },
    transient: plainTransient, exchanges: [[true, false], [false, true]],
  },
  {
    set: { rabbit_transient_quorum_queue: true }, topic: plainTopic,
    transient: { durable: true, autoDelete: false, arguments: { 'x-queue-type': 'quorum', ...EXPIRES } }, exchanges: [[false, false], [true, true]],
  },
  {
    set: { rabbit_quorum_queue: true, rabbit_transient_quorum_queue: true, rabbit_quorum_delivery_limit: 5, rabbit_transient_queues_ttl: 60 },
    topic: { durable: true, autoDelete: false, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 5 } },
    transient: { durable: true, autoDelete: false, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 5, 'x-expires': 60_000 } },
    exchanges: [[true, false], [true, true]],
  },
  { set: { rabbit_transient_queues_ttl: 0 }, topic: plainTopic, transient: { ...plainTransient, arguments: {} }, exchanges: plainExchanges },
  // Only quorum queues take the quorum limits.
  { set: { rabbit_quorum_delivery_limit: 3 }, topic: plainTopic, transient: plainTransient, exchanges: plainExchanges },
];

describe('messaging/options: every oslo.messaging option and what it does', () => {
  describe('queue and exchange declarations', () => {
    for (const row of ROWS) {
      it(`${JSON.stringify(row.set)}`, () => {
        const o = rabbit(row.set);
        assert.deepEqual(topicQueue(o), row.topic, 'topic and topic.server queues');
        assert.deepEqual(transientQueue(o), row.transient, 'fanout and reply queues');
        const ex = topicExchange(o, 'nova');
        const fan = fanoutExchange(o, 'compute');
        assert.deepEqual([[ex.durable, ex.autoDelete], [fan.durable, fan.autoDelete]], row.exchanges);
        assert.deepEqual([ex.name, ex.type, fan.name, fan.type], ['nova', 'topic', 'compute_fanout', 'fanout']);
      });
    }

    it('consumes with x-cancel-on-ha-failover only with enable_cancel_on_failover', () => {
      assert.deepEqual(consumeArguments(rabbit({})), {});
      assert.deepEqual(consumeArguments(rabbit({ enable_cancel_on_failover: true })), { 'x-cancel-on-ha-failover': true });
    });
  });

  it('an amqps:// transport URL is TLS for the TLS checks too: EXTERNAL with a certificate passes, a bad ssl_version does not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nc-amqps-'));
    try {
      const cert = join(dir, 'client.pem');
      writeFileSync(cert, 'CERT');
      const o = messagingOptions({ transport_url: 'amqps://h/', rabbit: { ssl_cert_file: cert, rabbit_login_method: 'EXTERNAL' } });
      assert.equal(o.rabbit.rabbit_login_method, 'EXTERNAL');
      assert.ok(o.tls, 'TLS options for the connection');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.throws(() => messagingOptions({ transport_url: 'amqps://h/', rabbit: { ssl_version: 'SSLv3' } }), /invalid SSL version/);
    assert.doesNotThrow(() => messagingOptions({ transport_url: 'rabbit://h/', rabbit: { ssl_version: 'SSLv3' } }), 'ignored without TLS, as oslo does');
  });

  describe('refusals: one error naming the option', () => {
    const REFUSED: [Partial<RabbitOptions>, string, RegExp][] = [
      [{ use_queue_manager: true }, 'use_queue_manager', /not supported/],
      [{ rabbit_stream_fanout: true }, 'rabbit_stream_fanout', /not supported/],
      [{ kombu_compression: 'gzip' }, 'kombu_compression', /not supported/],
      [{ ssl_enforce_fips_mode: true }, 'ssl_enforce_fips_mode', /not supported/],
      [{ rabbit_login_method: 'RABBIT-CR-DEMO' }, 'rabbit_login_method', /not supported/],
      [{ rabbit_login_method: 'EXTERNAL' }, 'rabbit_login_method', /needs TLS \(ssl = true or amqps:\/\/\) and an ssl_cert_file/],
      [{ rabbit_quorum_queue: true, rabbit_ha_queues: true }, 'rabbit_quorum_queue', /quorum or HA/],
      [{ rabbit_transient_quorum_queue: true, rabbit_ha_queues: true }, 'rabbit_transient_quorum_queue', /quorum or HA/],
      [{ ssl: true, ssl_version: 'SSLv3' }, 'ssl_version', /invalid SSL version "SSLv3"/],
      [{ ssl: true, ssl_key_file: '/k.pem' }, 'ssl_key_file', /without ssl_cert_file/],
      [{ kombu_reconnect_delay: 5 }, 'kombu_reconnect_delay', /<= 4.5/],
      [{ rabbit_transient_queues_ttl: -1 }, 'rabbit_transient_queues_ttl', />= 0/],
      [{ kombu_failover_strategy: 'random' as 'shuffle' }, 'kombu_failover_strategy', /one of round-robin, shuffle/],
      [{ rpc_conn_pool_size: 1 }, 'rpc_conn_pool_size', /greater than or equal to conn_pool_min_size 2/],
    ];
    for (const [set, option, why] of REFUSED) {
      it(`${JSON.stringify(set)} -> ${option}`, () => {
        assert.throws(() => rabbit(set), (err: unknown) => err instanceof MessagingOptionError && err.option === option && why.test(err.message));
      });
    }

    it('marks exactly the options it cannot honour as unsupported', () => {
      assert.deepEqual(RABBIT_OPTION_DEFS.filter((d) => 'unsupported' in d).map((d) => d.name).sort(),
        ['kombu_compression', 'rabbit_stream_fanout', 'ssl_enforce_fips_mode', 'use_queue_manager']);
    });
  });

  describe('the transport URL query overrides the files (oslo ConfigOptsProxy)', () => {
    it('converts by the option\'s type, deprecated names too', () => {
      const o = messagingOptions({ transport_url: 'rabbit://h/?rabbit_quorum_queue=true&heartbeat_timeout_threshold=15&rabbit_quroum_max_memory_length=9',
        rabbit: { rabbit_quorum_queue: false, heartbeat_timeout_threshold: 60 } }).rabbit;
      assert.deepEqual([o.rabbit_quorum_queue, o.heartbeat_timeout_threshold, o.rabbit_quorum_max_memory_length], [true, 15, 9]);
    });

    it('refuses a name that is no rabbit option and a value of the wrong type, unsupported values alike', () => {
      const refused = (url: string, option: string, why: RegExp): void => {
        assert.throws(() => messagingOptions({ transport_url: url }), (err: unknown) => err instanceof MessagingOptionError && err.option === option && why.test(err.message));
      };
      refused('rabbit://h/?colour=blue', 'transport_url', /"colour", which is no \[oslo_messaging_rabbit\] option/);
      refused('rabbit://h/?ssl=maybe', 'transport_url', /^query ssl: must be a boolean/);
      refused('rabbit://h/?rabbit_qos_prefetch_count=1.5', 'transport_url', /^query rabbit_qos_prefetch_count: must be an integer/);
      refused('rabbit://h/?use_queue_manager=1', 'transport_url', /^query use_queue_manager: not supported/);
    });

    it('?ssl=true and amqps:// both connect over TLS', () => {
      assert.equal(messagingOptions({ transport_url: 'rabbit://h/' }).tls, null);
      assert.notEqual(messagingOptions({ transport_url: 'rabbit://h/?ssl=true' }).tls, null);
      assert.notEqual(messagingOptions({ transport_url: 'amqps://h/' }).tls, null);
    });
  });

  describe('TLS, SASL, heartbeat: what amqplib is given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nc-tls-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const file = (name: string, text: string): string => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const host = { hostname: 'rabbit.example', port: 5671, username: 'u', password: 'p' };

    it('reads the CA, certificate and key files; the key comes from the certificate file without ssl_key_file', () => {
      const ca = file('ca.pem', 'CA');
      const cert = file('cert.pem', 'CERT');
      const key = file('key.pem', 'KEY');
      const t = tlsConnectOptions(rabbit({ ssl: true, ssl_ca_file: ca, ssl_cert_file: cert, ssl_key_file: key }));
      assert.deepEqual([String(t.ca), String(t.cert), String(t.key), t.rejectUnauthorized], ['CA', 'CERT', 'KEY', true]);
      assert.equal(String(tlsConnectOptions(rabbit({ ssl: true, ssl_cert_file: cert })).key), 'CERT');
      assert.equal(tlsConnectOptions(rabbit({ ssl: true })).ca, undefined, 'the system CAs');
    });

    it('verifies the chain but not the host name, as py-amqp without server_hostname', () => {
      const t = tlsConnectOptions(rabbit({ ssl: true }));
      assert.equal(t.rejectUnauthorized, true);
      assert.equal(t.checkServerIdentity?.('other.name', {} as never), undefined);
    });

    it('pins ssl_version, case-insensitively; SSLv23 and empty negotiate', () => {
      const pin = (v: string): [unknown, unknown] => {
        const t = tlsConnectOptions(rabbit({ ssl: true, ssl_version: v }));
        return [t.minVersion, t.maxVersion];
      };
      assert.deepEqual(pin('TLSv1_2'), ['TLSv1.2', 'TLSv1.2']);
      assert.deepEqual(pin('tlsv1_1'), ['TLSv1.1', 'TLSv1.1']);
      assert.deepEqual(pin('TLSv1'), ['TLSv1', 'TLSv1']);
      assert.deepEqual(pin('SSLv23'), [undefined, undefined]);
      assert.deepEqual(pin(''), [undefined, undefined]);
    });

    it('names the option whose file cannot be read', () => {
      assert.throws(() => messagingOptions({ transport_url: 'rabbit://h/', rabbit: { ssl: true, ssl_cert_file: join(dir, 'missing.pem') } }),
        (err: unknown) => err instanceof MessagingOptionError && err.option === 'ssl_cert_file' && /ENOENT/.test(err.message));
    });

    it('connects amqps with the TLS options, the SASL mechanism, the heartbeat and TCP_NODELAY', () => {
      const cert = file('client.pem', 'CERT');
      const tlsOpts = messagingOptions({ transport_url: 'rabbit://h/', rabbit: { ssl: true, ssl_cert_file: cert, rabbit_login_method: 'EXTERNAL', heartbeat_timeout_threshold: 15 } });
      const [url, sock] = amqpConnectArguments(tlsOpts, 'v/1', host, 'n:1:x');
      assert.deepEqual([url.protocol, url.hostname, url.port, url.vhost, url.heartbeat], ['amqps', 'rabbit.example', 5671, 'v%2F1', 15]);
      assert.deepEqual([sock.credentials?.mechanism, String(sock.cert), sock.clientProperties, sock.noDelay], ['EXTERNAL', 'CERT', { connection_name: 'n:1:x' }, true]);
      for (const [method, mechanism] of [['AMQPLAIN', 'AMQPLAIN'], ['PLAIN', 'PLAIN']] as const) {
        const [plainUrl, plainSock] = amqpConnectArguments(messagingOptions({ transport_url: 'rabbit://h/', rabbit: { rabbit_login_method: method, heartbeat_timeout_threshold: 0 } }), '/', host, 'n');
        assert.deepEqual([plainUrl.protocol, plainUrl.heartbeat, plainSock.credentials?.mechanism, plainSock.cert, plainSock.noDelay], ['amqp', 0, mechanism, undefined, true]);
      }
    });
  });

  it('names the inert options an operator set, and why they change nothing', () => {
    assert.deepEqual(inertSettings(rabbit({})), []);
    assert.deepEqual(inertSettings(rabbit({ heartbeat_rate: 3, rpc_conn_pool_size: 30 })), [], 'defaults are not reported');
    assert.deepEqual(inertSettings(rabbit({ heartbeat_rate: 2, conn_pool_ttl: 60 })), [
      'conn_pool_ttl has no effect: there is no connection pool',
      'heartbeat_rate has no effect: the AMQP client checks heartbeats on its own timer',
    ]);
  });

  it('rpc_ping_enabled: oslo_rpc_server_ping answers "pong" at version 1.0, unless an endpoint has its own', async () => {
    const logs = captureLogs();
    const app: Endpoint = { namespace: null, version: '6.1', handlers: { async echo(_c, a) { return a; } } };
    const ping = new RpcDispatcher(withPing([app], logs.log));
    const call = { method: 'oslo_rpc_server_ping', namespace: null, version: '1.0', args: {}, context: {} as RequestContext, expectsReply: true };
    assert.equal(await ping.dispatch(call), 'pong');
    const own: Endpoint = { namespace: null, version: '1.0', handlers: { async oslo_rpc_server_ping() { return 'mine'; } } };
    assert.equal(await new RpcDispatcher(withPing([own], logs.log)).dispatch(call), 'mine');
    assert.equal(logs.find(/already has oslo_rpc_server_ping/).length, 1);
  });

  it('waits kombu_reconnect_delay plus up to kombu_reconnect_splay before reconnecting', () => {
    assert.equal(lossDelaySeconds(DEFAULT_RABBIT_OPTIONS, () => 0.5), 1);
    assert.equal(lossDelaySeconds(rabbit({ kombu_reconnect_delay: 0.5, kombu_reconnect_splay: 2 }), () => 0.25), 1);
    assert.equal(lossDelaySeconds(rabbit({ kombu_reconnect_delay: 0 }), () => 0.9), 0);
  });
});
