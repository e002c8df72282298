import { strict as assert } from 'node:assert';
import { MetricsRegistry, escapeLabelValue, formatValue, renderFamily, single } from '../../../src/nova-driver/ops/prometheus.js';

describe('ops/prometheus: text exposition format', () => {
  it('formats values and escapes label values and help as the format requires', () => {
    assert.equal(formatValue(3), '3');
    assert.equal(formatValue(0.25), '0.25');
    assert.equal(formatValue(Infinity), '+Inf');
    assert.equal(formatValue(-Infinity), '-Inf');
    assert.equal(formatValue(NaN), 'NaN');
    assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
    assert.equal(renderFamily({ name: 'x', help: 'line\none \\', type: 'gauge', samples: [{ value: 1 }] }),
      '# HELP x line\\none \\\\\n# TYPE x gauge\nx 1\n');
  });

  it('renders counters with labels, and an unlabelled counter as 0 before its first increment', async () => {
    const r = new MetricsRegistry();
    const c = r.counter('rpc_messages_total', 'RPC messages.', ['method', 'outcome']);
    r.counter('builds_total', 'Builds.');
    c.inc({ method: 'ping', outcome: 'ok' });
    c.inc({ method: 'ping', outcome: 'ok' }, 2);
    c.inc({ method: 'stop_instance', outcome: 'failure' });
    assert.equal(c.get({ method: 'ping', outcome: 'ok' }), 3);
    assert.equal(await r.render(), [
      '# HELP rpc_messages_total RPC messages.',
      '# TYPE rpc_messages_total counter',
      'rpc_messages_total{method="ping",outcome="ok"} 3',
      'rpc_messages_total{method="stop_instance",outcome="failure"} 1',
      '# HELP builds_total Builds.',
      '# TYPE builds_total counter',
      'builds_total 0',
      '',
    ].join('\n'));
  });

  it('renders histograms with cumulative buckets, +Inf, _sum and _count', async () => {
    const r = new MetricsRegistry();
    const h = r.histogram('latency_seconds', 'Latency.', ['method'], [0.1, 1]);
    h.observe({ method: 'a' }, 0.05);
    h.observe({ method: 'a' }, 0.5);
    h.observe({ method: 'a' }, 7);
    assert.equal(h.count({ method: 'a' }), 3);
    assert.equal(await r.render(), [
      '# HELP latency_seconds Latency.',
      '# TYPE latency_seconds histogram',
      'latency_seconds_bucket{method="a",le="0.1"} 1',
      'latency_seconds_bucket{method="a",le="1"} 2',
      'latency_seconds_bucket{method="a",le="+Inf"} 3',
      'latency_seconds_sum{method="a"} 7.55',
      'latency_seconds_count{method="a"} 3',
      '',
    ].join('\n'));
  });

  it('appends families from collectors at scrape time and refuses duplicates and bad names', async () => {
    const r = new MetricsRegistry();
    let n = 1;
    r.collect(() => [single('up', 'Up.', 'gauge', n)]);
    assert.match(await r.render(), /^up 1$/m);
    n = 0;
    assert.match(await r.render(), /^up 0$/m);
    r.collect(async () => [single('up', 'Again.', 'gauge', 1)]);
    await assert.rejects(r.render(), /collected twice/);
    assert.throws(() => r.counter('bad-name', 'x'), /invalid metric name/);
    assert.throws(() => r.histogram('h', 'x', ['le']), /invalid label name/);
    const c = r.counter('c_total', 'x', ['a']);
    assert.throws(() => c.inc({ b: '1' }), /unknown label/);
    assert.throws(() => c.inc({ a: '1' }, -1), /only goes up/);
  });
});
