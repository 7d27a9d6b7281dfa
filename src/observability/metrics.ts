import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { NewUsageRecord } from '../store/tables.ts';

/** What the metrics read at scrape time (never on the request path). */
export interface MetricSources {
  /** Usage records waiting to be written (memory and journal). */
  usageBacklog(): number;
  upstreams(): ReadonlyArray<{
    name: string;
    /** 0 closed, 1 half-open, 2 open, 3 disabled (credentials rejected). */
    breaker: number;
    /** Routable now: enabled, breaker allows, a credential usable. */
    up: boolean;
    calls: number;
    errors: number;
  }>;
  /** Batches still running: their progress. */
  activeBatches(): Promise<ReadonlyArray<{ id: string; status: string; total: number; completed: number; failed: number }>>;
}

/** The labelled children of one (endpoint, model, upstream, status), made once and reused. */
interface RequestChildren {
  requests: Counter.Internal;
  duration: Histogram.Internal<string>;
  ttft: Histogram.Internal<string>;
  prompt: Counter.Internal;
  completion: Counter.Internal;
  cost: Counter.Internal;
}

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const TTFT_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];
/** Combinations kept as cached children; beyond it labels() is asked each time (still correct, a little slower). */
const MAX_CACHED = 10_000;

/**
 * The gateway's Prometheus metrics, one registry per app. Request figures are updated once per
 * request, where its usage record is written (RequestMeter), through cached label children: a
 * map lookup and a few increments. Gauges (backlog, breakers, batches, streams) are read when
 * scraped.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'endpoint' | 'model' | 'upstream' | 'status'>;
  private readonly duration: Histogram<'endpoint' | 'model' | 'upstream'>;
  private readonly ttft: Histogram<'endpoint' | 'model' | 'upstream'>;
  private readonly tokens: Counter<'model' | 'type'>;
  private readonly cost: Counter<'model'>;
  private readonly upstreamErrors: Counter<'upstream' | 'code' | 'status'>;
  private readonly rejections: Counter<'reason'>;
  private readonly children = new Map<string, RequestChildren>();
  /** Streamed requests between admission and their end. */
  private streams = 0;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'switchyard_' });
    this.requests = new Counter({
      name: 'switchyard_requests_total',
      help: 'Requests metered (one per usage record), by endpoint, model, upstream and HTTP status.',
      labelNames: ['endpoint', 'model', 'upstream', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'switchyard_request_duration_seconds',
      help: 'Time from admission to the end of the answer.',
      labelNames: ['endpoint', 'model', 'upstream'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.ttft = new Histogram({
      name: 'switchyard_time_to_first_token_seconds',
      help: 'Streamed requests: time from admission to the first generated token.',
      labelNames: ['endpoint', 'model', 'upstream'],
      buckets: TTFT_BUCKETS,
      registers,
    });
    this.tokens = new Counter({ name: 'switchyard_tokens_total', help: 'Tokens charged, by model and type (prompt, completion).', labelNames: ['model', 'type'], registers });
    this.cost = new Counter({ name: 'switchyard_cost_usd_total', help: 'Cost charged in USD, by model.', labelNames: ['model'], registers });
    this.upstreamErrors = new Counter({
      name: 'switchyard_upstream_errors_total',
      help: 'Failed upstream calls (each attempt of a retry or failover), by upstream, error code (upstream_error, upstream_unreachable, upstream_timeout) and status.',
      labelNames: ['upstream', 'code', 'status'],
      registers,
    });
    this.rejections = new Counter({
      name: 'switchyard_rate_limit_rejections_total',
      help: 'Requests refused by a rate limit or quota (429), by reason.',
      labelNames: ['reason'],
      registers,
    });
    const streams = (): number => this.streams;
    new Gauge({
      name: 'switchyard_streams_in_flight',
      help: 'Streamed requests in progress (from admission to their end).',
      registers,
      collect() {
        this.set(streams());
      },
    });
    new Gauge({
      name: 'switchyard_usage_write_backlog',
      help: 'Usage records buffered in memory or in the journal, not yet written to the database.',
      registers,
      collect() {
        this.set(sources.usageBacklog());
      },
    });
    new Gauge({
      name: 'switchyard_upstream_breaker_state',
      help: 'Upstream circuit breaker: 0 closed, 1 half-open, 2 open, 3 disabled (credentials rejected).',
      labelNames: ['upstream'],
      registers,
      collect() {
        this.reset();
        for (const u of sources.upstreams()) this.labels(u.name).set(u.breaker);
      },
    });
    new Gauge({
      name: 'switchyard_upstream_up',
      help: 'Whether the upstream can be routed to now (enabled, breaker allows, a credential usable).',
      labelNames: ['upstream'],
      registers,
      collect() {
        this.reset();
        for (const u of sources.upstreams()) this.labels(u.name).set(u.up ? 1 : 0);
      },
    });
    new Gauge({
      name: 'switchyard_upstream_calls',
      help: 'Upstream calls (attempts) since the upstream was loaded; with switchyard_upstream_call_errors, the error rate.',
      labelNames: ['upstream'],
      registers,
      collect() {
        this.reset();
        for (const u of sources.upstreams()) this.labels(u.name).set(u.calls);
      },
    });
    new Gauge({
      name: 'switchyard_upstream_call_errors',
      help: 'Failed upstream calls since the upstream was loaded.',
      labelNames: ['upstream'],
      registers,
      collect() {
        this.reset();
        for (const u of sources.upstreams()) this.labels(u.name).set(u.errors);
      },
    });
    new Gauge({
      name: 'switchyard_batch_requests',
      help: 'Lines of each unfinished batch, by state (total, completed, failed).',
      labelNames: ['batch_id', 'status', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const b of await sources.activeBatches()) {
          this.labels(b.id, b.status, 'total').set(b.total);
          this.labels(b.id, b.status, 'completed').set(b.completed);
          this.labels(b.id, b.status, 'failed').set(b.failed);
        }
      },
    });
  }

  /** One metered request: its usage record as written. */
  observe(rec: NewUsageRecord): void {
    const upstream = rec.upstream ?? '';
    const k = `${rec.endpoint}\u0000${rec.model}\u0000${upstream}\u0000${rec.status}`;
    let c = this.children.get(k);
    if (!c) {
      c = {
        requests: this.requests.labels(rec.endpoint, rec.model, upstream, String(rec.status)),
        duration: this.duration.labels(rec.endpoint, rec.model, upstream),
        ttft: this.ttft.labels(rec.endpoint, rec.model, upstream),
        prompt: this.tokens.labels(rec.model, 'prompt'),
        completion: this.tokens.labels(rec.model, 'completion'),
        cost: this.cost.labels(rec.model),
      };
      if (this.children.size < MAX_CACHED) this.children.set(k, c);
    }
    c.requests.inc();
    c.duration.observe(rec.latency_ms / 1000);
    if (rec.stream === 1 && rec.ttft_ms !== null && rec.ttft_ms !== undefined) c.ttft.observe(rec.ttft_ms / 1000);
    if (rec.charged === 1) {
      if (rec.prompt_tokens) c.prompt.inc(rec.prompt_tokens);
      if (rec.completion_tokens) c.completion.inc(rec.completion_tokens);
      if (rec.cost_usd) c.cost.inc(rec.cost_usd);
    }
  }

  streamStarted(): void {
    this.streams++;
  }

  streamEnded(): void {
    this.streams--;
  }

  upstreamError(upstream: string, code: string, status: number): void {
    this.upstreamErrors.labels(upstream, code, String(status)).inc();
  }

  rejected(reason: string): void {
    this.rejections.labels(reason).inc();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
