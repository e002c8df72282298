/**
 * A small Prometheus text exposition format (version 0.0.4) writer: counters, gauges and
 * histograms with labels, kept in memory, plus samples computed at scrape time. Enough for
 * one process's /metrics; no dependency.
 *
 *   const reg = new MetricsRegistry();
 *   const msgs = reg.counter('rpc_messages_total', 'RPC messages handled.', ['method', 'outcome']);
 *   msgs.inc({ method: 'ping', outcome: 'ok' });
 *   reg.render();  // "# HELP rpc_messages_total ...\n# TYPE ...\nrpc_messages_total{...} 1\n"
 */

export type Labels = Record<string, string>;
export type MetricType = 'counter' | 'gauge' | 'histogram';

/** One sample line: `name{labels} value`. */
export interface Sample {
  labels?: Labels;
  value: number;
  /** Suffix after the family name (`_bucket`, `_sum`, `_count`). */
  suffix?: string;
}

/** A family whose samples are read at scrape time (from stats() of other components). */
export interface CollectedFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Default latency buckets, seconds: 5 ms to 2 min. */
export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** A number as Prometheus writes it: integers plainly, +Inf/-Inf/NaN spelled out. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** Label values escape backslash, double quote and newline. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes backslash and newline. */
export function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatLabels(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

/** One family in exposition format, ending with a newline. */
export function renderFamily(f: CollectedFamily): string {
  const lines = [`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`];
  for (const s of f.samples) lines.push(`${f.name}${s.suffix ?? ''}${formatLabels(s.labels)} ${formatValue(s.value)}`);
  return `${lines.join('\n')}\n`;
}

function checkName(name: string): void {
  if (!NAME_RE.test(name)) throw new Error(`invalid metric name ${name}`);
}

function labelKey(labelNames: readonly string[], labels: Labels): string {
  for (const k of Object.keys(labels)) {
    if (!labelNames.includes(k)) throw new Error(`unknown label ${k}`);
  }
  return JSON.stringify(labelNames.map((n) => labels[n] ?? ''));
}

function labelsOf(labelNames: readonly string[], key: string): Labels {
  const values = JSON.parse(key) as string[];
  const out: Labels = {};
  labelNames.forEach((n, i) => { out[n] = values[i]; });
  return out;
}

abstract class Family {
  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[]) {
    checkName(name);
    for (const l of labelNames) {
      if (!LABEL_RE.test(l) || l === 'le') throw new Error(`invalid label name ${l}`);
    }
  }

  abstract collect(): CollectedFamily;
}

export class Counter extends Family {
  private readonly values = new Map<string, number>();

  inc(labels: Labels = {}, by = 1): void {
    if (by < 0 || !Number.isFinite(by)) throw new Error('a counter only goes up');
    const key = labelKey(this.labelNames, labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelKey(this.labelNames, labels)) ?? 0;
  }

  collect(): CollectedFamily {
    const samples = [...this.values].map(([k, value]) => ({ labels: labelsOf(this.labelNames, k), value }));
    // A family without labels shows 0 before its first increment.
    if (samples.length === 0 && this.labelNames.length === 0) samples.push({ labels: {}, value: 0 });
    return { name: this.name, help: this.help, type: 'counter', samples };
  }
}

interface HistogramCell { buckets: number[]; sum: number; count: number }

export class Histogram extends Family {
  private readonly cells = new Map<string, HistogramCell>();
  readonly buckets: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[] = DEFAULT_BUCKETS) {
    super(name, help, labelNames);
    const sorted = [...buckets].sort((a, b) => a - b);
    if (sorted.length === 0 || sorted.some((b, i) => !Number.isFinite(b) || (i > 0 && b === sorted[i - 1]))) {
      throw new Error('histogram buckets must be distinct finite numbers');
    }
    this.buckets = sorted;
  }

  observe(labels: Labels, value: number): void {
    const key = labelKey(this.labelNames, labels);
    let cell = this.cells.get(key);
    if (!cell) {
      cell = { buckets: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.cells.set(key, cell);
    }
    this.buckets.forEach((le, i) => { if (value <= le) (cell as HistogramCell).buckets[i] += 1; });
    cell.sum += value;
    cell.count += 1;
  }

  count(labels: Labels = {}): number {
    return this.cells.get(labelKey(this.labelNames, labels))?.count ?? 0;
  }

  collect(): CollectedFamily {
    const samples: Sample[] = [];
    const cells = [...this.cells];
    if (cells.length === 0 && this.labelNames.length === 0) cells.push([labelKey(this.labelNames, {}), { buckets: this.buckets.map(() => 0), sum: 0, count: 0 }]);
    for (const [key, cell] of cells) {
      const labels = labelsOf(this.labelNames, key);
      this.buckets.forEach((le, i) => samples.push({ suffix: '_bucket', labels: { ...labels, le: formatValue(le) }, value: cell.buckets[i] }));
      samples.push({ suffix: '_bucket', labels: { ...labels, le: '+Inf' }, value: cell.count });
      samples.push({ suffix: '_sum', labels, value: cell.sum });
      samples.push({ suffix: '_count', labels, value: cell.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', samples };
  }
}

/** Families kept here plus collectors that produce families at scrape time. */
export class MetricsRegistry {
  private readonly families: Family[] = [];
  private readonly collectors: (() => CollectedFamily[] | Promise<CollectedFamily[]>)[] = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets?: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }

  /** Families computed on every scrape (gauges from other components' state, their counters). */
  collect(fn: () => CollectedFamily[] | Promise<CollectedFamily[]>): void {
    this.collectors.push(fn);
  }

  async render(): Promise<string> {
    const out: CollectedFamily[] = this.families.map((f) => f.collect());
    for (const c of this.collectors) out.push(...await c());
    const seen = new Set<string>();
    for (const f of out) {
      checkName(f.name);
      if (seen.has(f.name)) throw new Error(`metric ${f.name} collected twice`);
      seen.add(f.name);
    }
    return out.map(renderFamily).join('');
  }

  private add<T extends Family>(f: T): T {
    if (this.families.some((x) => x.name === f.name)) throw new Error(`metric ${f.name} registered twice`);
    this.families.push(f);
    return f;
  }
}

/** A one-sample gauge or counter family. */
export function single(name: string, help: string, type: 'gauge' | 'counter', value: number, labels?: Labels): CollectedFamily {
  return { name, help, type, samples: [{ value, ...(labels ? { labels } : {}) }] };
}
