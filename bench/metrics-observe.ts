/**
 * What the Prometheus metrics cost per request: GatewayMetrics.observe() (called once per
 * metered request, where its usage record is written) on one cached label set, CPU time per
 * call over a million calls after a warm-up. The relay bench (`npm run bench -- --no-metrics`
 * beside a default run) is too noisy on this host to show a cost this small.
 *
 * Usage: node --import tsx bench/metrics-observe.ts
 */
import { GatewayMetrics } from '../src/observability/metrics.ts';
import type { NewUsageRecord } from '../src/store/tables.ts';

const metrics = new GatewayMetrics({ upstreams: () => [], recorderBacklog: () => 0, activeBatches: async () => [] } as unknown as ConstructorParameters<typeof GatewayMetrics>[0]);
const rec: NewUsageRecord = {
  request_id: 'req_bench',
  key_id: 'key_bench',
  endpoint: 'chat.completions',
  model: 'gpt-4o-mini',
  upstream: 'main',
  upstream_model: 'gpt-4o-mini',
  stream: 1,
  status: 200,
  error_code: null,
  prompt_tokens: 10,
  cached_tokens: 0,
  completion_tokens: 5,
  reasoning_tokens: 0,
  total_tokens: 15,
  cost_usd: 0.0001,
  estimated: 0,
  charged: 1,
  latency_ms: 12,
  ttft_ms: 3,
  created_at: Date.now(),
};
for (let i = 0; i < 200_000; i++) metrics.observe(rec);
const n = 1_000_000;
const start = process.cpuUsage();
for (let i = 0; i < n; i++) metrics.observe(rec);
const used = process.cpuUsage(start);
process.stdout.write(`GatewayMetrics.observe: ${((used.user + used.system) / n).toFixed(2)} µs CPU per request (${n} calls)\n`);
