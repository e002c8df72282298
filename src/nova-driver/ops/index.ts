/** Operator endpoints of the compute host: /healthz and /metrics (see endpoints.ts). */
export { OperatorEndpoints, parseListen, type ListenAddress, type WatchedParts } from './endpoints.js';
export { ConductorWatch, CachedProbe, evaluateHealth, answeredByPeer, type HealthReport, type HealthInputs } from './health.js';
export { ComputeMetrics, type MetricSources } from './metrics.js';
export { MetricsRegistry, renderFamily, formatValue, escapeLabelValue } from './prometheus.js';
