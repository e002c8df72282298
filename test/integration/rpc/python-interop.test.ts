/**
 * Our oslo.messaging layer against the REAL Python oslo.messaging 14.0.3 over a REAL RabbitMQ:
 * a Python RPCClient calls and casts into our RpcServer, and our AmqpRpcClient calls and casts
 * into a Python RPCServer. Everything runs in the test vhost with unique topics.
 */
import { strict as assert } from 'node:assert';
import { ComputeHostNotFound, InstanceInvalidState, InstanceNotFound } from '../../../src/nova-driver/errors.js';
import { MessagingTimeout, NotImplementedError, PyError, RemoteError, ValueError } from '../../../src/messaging/errors.js';
import { adminContext } from '../../../src/nova-driver/context.js';
import { uuidHex } from '../../../src/messaging/dedup.js';
import type { RpcRuntime } from '../../../src/messaging/runtime.js';
import { connectComputeRpc } from '../../../src/nova-driver/messaging-config.js';
import type { Endpoint, RequestContext } from '../../../src/messaging/types.js';
import { captureLogs } from '../../helpers/log-capture.js';
import { OsloServer, osloClient } from '../../helpers/oslo.js';
import { ensureRabbitMQ, listExchanges, listQueues, TEST_TRANSPORT_URL, testVhostConnections } from '../../helpers/rabbitmq.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('rpc interop with the real Python oslo.messaging', function () {
  this.timeout(120_000);
  const logs = captureLogs();
  let rpc: RpcRuntime;
  const topic = `nc_it_${uuidHex().slice(0, 8)}`;
  const host = 'nchost';
  const casts: { method: string; args: Record<string, unknown>; ctx: RequestContext }[] = [];
  let heartbeatHandlerDone = false;

  const compute: Endpoint = {
    namespace: null,
    version: '6.1',
    handlers: {
      async echo(ctx, args) {
        return { echo: args, request_id: ctx.request_id ?? null };
      },
      async fail_not_found(_ctx, args) {
        throw new InstanceNotFound({ instance_id: String(args.instance_id) });
      },
      async fail_invalid_state(_ctx, args) {
        throw new InstanceInvalidState({ attr: 'vm_state', instance_uuid: String(args.uuid), state: 'stopped', method: 'reboot' });
      },
      async get_host_uptime() {
        throw new NotImplementedError();
      },
      async bug() {
        const o: Record<string, unknown> = {};
        return (o.missing as { x: number }).x; // a TypeError, not a Nova error
      },
      async record(ctx, args) {
        casts.push({ method: 'record', args, ctx });
      },
      async slow(_ctx, args) {
        await sleep(Number(args.seconds) * 1000);
        heartbeatHandlerDone = true;
        return `slept ${String(args.seconds)}`;
      },
    },
  };
  const baseapi: Endpoint = { namespace: 'baseapi', version: '1.1', handlers: { async ping(_c, a) { return { service: 'compute', arg: a.arg }; } } };

  before(async () => {
    await ensureRabbitMQ();
    rpc = await connectComputeRpc({ transport_url: TEST_TRANSPORT_URL }, logs.log);
    await rpc.serve({ topic, server: host }, [compute, baseapi]);
  });

  after(async () => {
    await rpc?.close();
  });

  describe('Python RPCClient -> our RpcServer', () => {
    it('gets the result of a call, with its context delivered', async () => {
      const out = await osloClient(TEST_TRANSPORT_URL, topic, host, { kind: 'call', method: 'echo', args: { a: 1, s: 'caf\u00e9' } });
      assert.equal(out.ok, true, JSON.stringify(out));
      assert.deepEqual(out.result, { echo: { a: 1, s: 'caf\u00e9' }, request_id: 'req-00000000-1111-2222-3333-444444444444' });
    });

    it('reaches the topic queue without a server too, and the baseapi namespace', async () => {
      const out = await osloClient(TEST_TRANSPORT_URL, topic, host, { kind: 'call', method: 'ping', namespace: 'baseapi', version: '1.0', server: false, args: { arg: '1.21 GigaWatts' } });
      assert.deepEqual(out.result, { service: 'compute', arg: '1.21 GigaWatts' }, JSON.stringify(out));
    });

    it('raises nova.exception.InstanceNotFound in Python, with its kwargs', async () => {
      const out = await osloClient(TEST_TRANSPORT_URL, topic, host, { kind: 'call', method: 'fail_not_found', args: { instance_id: 'i-123' } });
      assert.equal(out.ok, false);
      assert.equal(out.class, 'InstanceNotFound_Remote', JSON.stringify(out));
      assert.ok(out.mro?.includes('nova.exception.InstanceNotFound'), String(out.mro));
      assert.ok(out.mro?.includes('nova.exception.NotFound'));
      assert.deepEqual(out.kwargs, { instance_id: 'i-123', code: 404 });
      assert.ok(out.str?.startsWith('Instance i-123 could not be found.'), out.str);
    });

    it('raises InstanceInvalidState with attr/instance_uuid/state/method', async () => {
      const out = await osloClient(TEST_TRANSPORT_URL, topic, host, { kind: 'call', method: 'fail_invalid_state', args: { uuid: 'u-1' } });
      assert.ok(out.mro?.includes('nova.exception.InstanceInvalidState'), JSON.stringify(out));
      assert.deepEqual(out.kwargs, { attr: 'vm_state', instance_uuid: 'u-1', state: 'stopped', method: 'reboot', code: 400 });
    });

    it('raises builtins NotImplementedError (what the API expects from get_host_uptime)', async () => {
      const out = await osloClient(TEST_TRANSPORT_URL, topic, host, { kind: 'call', method: 'get_host_uptime' });
      assert.equal(out.class, 'NotImplementedError', JSON.stringify(out));
      assert.equal(out.module, 'builtins');
    });

    it('turns a JavaScript bug into nova.exception.NovaException that Python can rebuild', async () => {
      const out = await osloClient(TEST_TRANSPORT_URL, topic, host, { kind: 'call', method: 'bug' });
      assert.ok(out.mro?.includes('nova.exception.NovaException'), JSON.stringify(out));
      assert.match(String(out.str), /TypeError/);
      assert.ok(logs.find('Exception during message handling').length >= 1);
    });

    it('answers an unknown method with NoSuchMethod (RemoteError for nova, the class when allowed)', async () => {
      const asNova = await osloClient(TEST_TRANSPORT_URL, topic, host, { kind: 'call', method: 'no_such_thing' });
      assert.equal(asNova.class, 'RemoteError', JSON.stringify(asNova));
      assert.equal(asNova.exc_type, 'NoSuchMethod');
      const allowed = await osloClient(TEST_TRANSPORT_URL, topic, host, { kind: 'call', method: 'no_such_thing', exmods: ['oslo_messaging.rpc.dispatcher'] });
      assert.ok(allowed.mro?.includes('oslo_messaging.rpc.dispatcher.NoSuchMethod'), JSON.stringify(allowed));
    });

    it('answers a version it does not serve with UnsupportedVersion', async () => {
      const out = await osloClient(TEST_TRANSPORT_URL, topic, host, { kind: 'call', method: 'echo', version: '6.2', exmods: ['oslo_messaging.rpc.dispatcher'] });
      assert.ok(out.mro?.includes('oslo_messaging.rpc.dispatcher.UnsupportedVersion'), JSON.stringify(out));
      assert.match(String(out.str), /Endpoint does not support RPC version 6.2. Attempted method: echo/);
      const ns = await osloClient(TEST_TRANSPORT_URL, topic, host, { kind: 'call', method: 'ping', namespace: 'nope', version: '1.0', exmods: ['oslo_messaging.rpc.dispatcher'] });
      assert.ok(ns.mro?.includes('oslo_messaging.rpc.dispatcher.UnsupportedVersion'), JSON.stringify(ns));
    });

    it('runs a cast (and never logs the auth token)', async () => {
      const before = casts.length;
      const out = await osloClient(TEST_TRANSPORT_URL, topic, host, { kind: 'cast', method: 'record', args: { n: 42 } });
      assert.equal(out.ok, true);
      for (let i = 0; i < 100 && casts.length === before; i++) await sleep(100);
      assert.equal(casts.length, before + 1);
      assert.deepEqual(casts[before].args, { n: 42 });
      assert.equal(casts[before].ctx.auth_token, 'secret-token-never-logged');
      assert.ok(!logs.raw.some((l) => l.includes('secret-token-never-logged')), 'the token reached a log line');
    });

    it('keeps a long call alive with call-monitor heartbeats beyond the monitor timeout', async () => {
      heartbeatHandlerDone = false;
      const out = await osloClient(TEST_TRANSPORT_URL, topic, host, { kind: 'call', method: 'slow', args: { seconds: 5 }, timeout: 30, call_monitor_timeout: 2 });
      assert.equal(out.ok, true, JSON.stringify(out));
      assert.equal(out.result, 'slept 5');
      assert.ok(out.elapsed > 4.5, `elapsed ${out.elapsed}`);
      assert.equal(heartbeatHandlerDone, true);
    });
  });

  describe('our AmqpRpcClient -> Python RPCServer', () => {
    let py: OsloServer;
    const pyTopic = `nc_py_${uuidHex().slice(0, 8)}`;
    const target = { topic: pyTopic, server: 'pyhost', version: '6.0' };

    before(async () => {
      py = await OsloServer.start(TEST_TRANSPORT_URL, pyTopic, 'pyhost');
    });
    after(async () => {
      await py?.stop();
    });

    it('gets the result of a call; Python sees our admin context', async () => {
      const ctx = adminContext();
      const res = await rpc.client.call<{ echo: unknown; request_id: string }>(target, ctx, 'echo', { x: [1, 2], y: null });
      assert.deepEqual(res, { echo: { x: [1, 2], y: null }, request_id: ctx.request_id });
      const ev = await py.waitFor((e) => e.method === 'echo' && e.context?.request_id === ctx.request_id, 5000);
      // oslo's unpack_context adds client_timeout (our _timeout) to what the endpoint sees.
      assert.deepEqual(Object.keys(ev.context ?? {}).filter((k) => k !== 'client_timeout'), Object.keys(ctx));
      assert.equal(ev.context?.client_timeout, null);
      assert.equal(ev.context?.is_admin, true);
      assert.equal(ev.context?.user_identity, '- - - - -');
    });

    it('rebuilds nova.exception failures as typed errors', async () => {
      await assert.rejects(rpc.client.call(target, adminContext(), 'raise_not_found', { instance_id: 'abc' }), (e: unknown) => {
        assert.ok(e instanceof InstanceNotFound, String(e));
        assert.equal(e.name, 'InstanceNotFound');
        assert.deepEqual(e.kwargs, { instance_id: 'abc', code: 404 });
        assert.equal(e.message, 'Instance abc could not be found.');
        assert.ok((e.remoteTraceback ?? []).some((l) => l.includes('raise exception.InstanceNotFound')));
        return true;
      });
      await assert.rejects(rpc.client.call(target, adminContext(), 'raise_invalid_state', { instance_uuid: 'u9' }),
        (e: unknown) => e instanceof InstanceInvalidState && e.kwargs.state === 'stopped');
      await assert.rejects(rpc.client.call(target, adminContext(), 'raise_value_error', { text: 'bad value' }),
        (e: unknown) => e instanceof ValueError && e.message === 'bad value');
      await assert.rejects(rpc.client.call(target, adminContext(), 'raise_private', {}),
        (e: unknown) => e instanceof RemoteError && e.excType === 'PrivateError' && !(e instanceof ComputeHostNotFound));
      await assert.rejects(rpc.client.call(target, adminContext(), 'no_such_method', {}),
        (e: unknown) => e instanceof RemoteError && e.excType === 'NoSuchMethod');
      await assert.rejects(rpc.client.call({ ...target, version: '7.0' }, adminContext(), 'echo', {}),
        (e: unknown) => e instanceof RemoteError && e.excType === 'UnsupportedVersion');
    });

    it('times out with MessagingTimeout when nobody listens', async () => {
      const t0 = Date.now();
      await assert.rejects(rpc.client.call({ topic: `nobody_${uuidHex()}`, version: '1.0' }, adminContext(), 'echo', {}, { timeout: 1 }),
        (e: unknown) => e instanceof MessagingTimeout && e.name === 'MessagingTimeout');
      const took = Date.now() - t0;
      assert.ok(took >= 950 && took < 5000, `took ${took} ms`);
    });

    it('outlives a short call-monitor timeout thanks to the server heartbeats, and fails without them', async () => {
      const ok = await rpc.client.call(target, adminContext(), 'sleep', { seconds: 4 }, { timeout: 20, callMonitorTimeout: 2 });
      assert.equal(ok, 'slept 4');
      // Without _timeout the Python server sends no heartbeats: a 2 s overall timeout fails.
      await assert.rejects(rpc.client.call(target, adminContext(), 'sleep', { seconds: 4 }, { timeout: 2 }), MessagingTimeout);
    });

    it('casts to topic.server and to the topic', async () => {
      const ctx = adminContext();
      await rpc.client.cast(target, ctx, 'record', { via: 'server' });
      await rpc.client.cast({ topic: pyTopic, version: '6.0' }, ctx, 'record', { via: 'topic' });
      await py.waitFor((e) => e.method === 'record' && e.args?.via === 'server' && e.context?.request_id === ctx.request_id, 10_000);
      await py.waitFor((e) => e.method === 'record' && e.args?.via === 'topic', 10_000);
    });

    it('fanout casts to <topic>_fanout', async () => {
      await rpc.client.cast({ topic: pyTopic, version: '6.0', fanout: true }, adminContext(), 'record', { via: 'fanout' });
      await py.waitFor((e) => e.method === 'record' && e.args?.via === 'fanout', 10_000);
      const ex = (await listExchanges()).find((x) => x.name === `${pyTopic}_fanout`);
      assert.deepEqual(ex, { name: `${pyTopic}_fanout`, type: 'fanout', durable: false, autoDelete: true });
    });

    it('rejects a call with a fanout target as oslo does', async () => {
      await assert.rejects(rpc.client.call({ topic: pyTopic, version: '6.0', fanout: true }, adminContext(), 'echo', {}),
        (e: unknown) => e instanceof PyError && e.name === 'InvalidTarget');
    });
  });

  describe('broker entities', () => {
    it('declares the same queues and exchanges, with the same flags, as a Python RPCServer', async () => {
      const pyTopic = `nc_decl_${uuidHex().slice(0, 8)}`;
      const py = await OsloServer.start(TEST_TRANSPORT_URL, pyTopic, 'pyhost');
      try {
        const queues = await listQueues();
        const exchanges = await listExchanges();
        const strip = (name: string, t: string): string => name.replace(t, 'T').replace(/_fanout_[0-9a-f]{32}$/, '_fanout_HEX');
        const ours = queues.filter((q) => q.name === topic || q.name.startsWith(`${topic}.`) || q.name.startsWith(`${topic}_fanout_`))
          .map((q) => ({ ...q, name: strip(q.name, topic).replace('.nchost', '.H') })).sort((a, b) => (a.name < b.name ? -1 : 1));
        const theirs = queues.filter((q) => q.name === pyTopic || q.name.startsWith(`${pyTopic}.`) || q.name.startsWith(`${pyTopic}_fanout_`))
          .map((q) => ({ ...q, name: strip(q.name, pyTopic).replace('.pyhost', '.H') })).sort((a, b) => (a.name < b.name ? -1 : 1));
        assert.equal(ours.length, 3, JSON.stringify(queues));
        assert.deepEqual(ours, theirs);
        assert.deepEqual(ours.map((q) => q.name), ['T', 'T.H', 'T_fanout_HEX']);
        assert.match(ours[2].arguments, /x-expires.*1800000/);
        const ourFanout = exchanges.find((x) => x.name === `${topic}_fanout`);
        const theirFanout = exchanges.find((x) => x.name === `${pyTopic}_fanout`);
        assert.deepEqual({ ...ourFanout, name: '' }, { ...theirFanout, name: '' });
        assert.deepEqual(exchanges.find((x) => x.name === 'nova'), { name: 'nova', type: 'topic', durable: false, autoDelete: false });
        const replyQueues = queues.filter((q) => /^reply_[0-9a-f]{32}$/.test(q.name));
        assert.ok(replyQueues.length >= 1);
        for (const q of replyQueues) assert.deepEqual([q.durable, q.autoDelete], [false, false]);
        const ourReply = replyQueues.find((q) => q.name === rpc.client.replyQueue);
        assert.ok(ourReply, 'our reply queue exists');
        assert.match(ourReply.arguments, /x-expires.*1800000/);
      } finally {
        await py.stop();
      }
    });

    it('names its connections nova-container:<pid>:<uuid>', async () => {
      const names = await testVhostConnections();
      const ours = names.filter((n) => n.startsWith(`nova-container:${process.pid}:`));
      assert.ok(ours.length >= 3, names.join(' '));
      for (const n of ours) assert.match(n, /^nova-container:\d+:[0-9a-f-]{36}$/);
    });
  });
});
