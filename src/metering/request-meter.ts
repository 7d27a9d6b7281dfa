import type { Logger } from 'pino';
import type { Usage } from '../core/canonical.ts';
import type { ModelInfo } from '../config/schema.ts';
import { actualsFor } from './admission.ts';
import type { KeyService, KeyState } from './keys.ts';
import type { Lease } from './limit-backend.ts';
import type { Limiter } from './limiter.ts';
import { computeCostUsd, computeUnitCostUsd, type MeteredUnits } from './pricing.ts';
import type { UsageRecorder } from './usage-recorder.ts';
import type { NewUsageRecord } from '../store/tables.ts';

/**
 * How a request ended: `ok`, `abandoned` (the client went away) and `interrupted`
 * (the upstream failed mid-stream) are charged for what was delivered; `failed` is recorded only.
 */
export type Outcome = 'ok' | 'abandoned' | 'interrupted' | 'failed';

export interface MeterDeps {
  recorder: UsageRecorder;
  keys: KeyService;
  limiter: Limiter;
  prices: Record<string, ModelInfo>;
  log: Logger;
  now: () => number;
  /** Prometheus metrics, when enabled: told once per request, with its usage record. */
  metrics?: MeterMetrics;
}

/** What the meter tells the metrics (src/observability/metrics.ts implements it; with tracing on, tracing.ts adds the tracer). */
export interface MeterMetrics {
  observe(rec: NewUsageRecord, meter: RequestMeter): void;
  streamStarted(): void;
  streamEnded(): void;
}

/**
 * Follows one request from admission to its usage record. Usage metering, cost,
 * quota charging and logging happen here, the same for every format.
 */
export class RequestMeter {
  upstream: string | null = null;
  upstreamModel: string | null = null;
  usage: Usage | undefined;
  /** Cost multiplier: batch lines are discounted (batch.price_factor). */
  priceFactor = 1;
  /** Images, characters or seconds, for endpoints metered in more than tokens. */
  units: MeteredUnits | undefined;
  /** Upstream calls made (retries and failover included). */
  attempts = 0;
  /** Time spent waiting on upstreams (calls until they answered, backoff between them): what x-switchyard-overhead-ms leaves out. */
  upstreamWaitMs = 0;
  /** The model the client asked for, when a fallback answered. */
  requestedModel: string | null = null;
  private leases: Lease[] = [];
  private firstTokenAt: number | undefined;
  private readonly startedAt: number;
  private done = false;
  /** Counts tokens when the upstream reported no usage. */
  estimate: (() => Promise<Usage>) | undefined;

  constructor(
    private readonly deps: MeterDeps,
    readonly requestId: string,
    readonly key: KeyState | null,
    readonly endpoint: string,
    public model: string,
    readonly stream: boolean,
  ) {
    this.startedAt = deps.now();
    if (stream) deps.metrics?.streamStarted();
  }

  /** Limits taken for this request: settled to its real usage when it is recorded. */
  addLease(lease: Lease): void {
    if (lease.counters.length > 0) this.leases.push(lease);
  }

  markFirstToken(): void {
    this.firstTokenAt ??= this.deps.now();
  }

  get finished(): boolean {
    return this.done;
  }

  /** Records the request once; never throws and never blocks the response. */
  finish(outcome: Outcome, status: number, errorCode: string | null = null): void {
    if (this.done) return;
    this.done = true;
    if (this.stream) this.deps.metrics?.streamEnded();
    const endedAt = this.deps.now();
    if (this.usage || !this.estimate || (outcome === 'failed' && !this.firstTokenAt)) {
      this.write(outcome, status, errorCode, endedAt, this.usage);
      return;
    }
    this.deps.recorder.track(
      this.estimate().then(
        (u) => this.write(outcome, status, errorCode, endedAt, { ...u, estimated: true }),
        (err: unknown) => {
          this.deps.log.error({ err, requestId: this.requestId }, 'token estimate failed');
          this.write(outcome, status, errorCode, endedAt, undefined);
        },
      ),
    );
  }

  private write(outcome: Outcome, status: number, errorCode: string | null, endedAt: number, usage: Usage | undefined): void {
    const u = usage ?? { inputTokens: 0, outputTokens: 0 };
    const total = u.inputTokens + u.outputTokens;
    const price = this.deps.prices[this.model];
    const listed = this.units ? computeCostUsd(u, price) + computeUnitCostUsd(this.units, price) : computeCostUsd(u, price);
    // Batch discount times the user's group factor.
    const factor = this.priceFactor * (this.key?.user?.priceFactor ?? 1);
    const cost = this.units || factor !== 1 ? Math.round(listed * factor * 1e12) / 1e12 : listed;
    const charged = outcome !== 'failed' && this.key !== null;
    if (charged && this.key) this.deps.keys.charge(this.key, total, cost);
    for (const lease of this.leases) void this.deps.limiter.release(lease, actualsFor(lease, total, cost, charged), endedAt);
    this.leases = [];
    const rec: NewUsageRecord = {
      request_id: this.requestId,
      key_id: this.key?.id ?? null,
      endpoint: this.endpoint,
      model: this.model,
      upstream: this.upstream,
      upstream_model: this.upstreamModel,
      stream: this.stream ? 1 : 0,
      status,
      error_code: errorCode,
      prompt_tokens: u.inputTokens,
      cached_tokens: u.cachedInputTokens ?? 0,
      completion_tokens: u.outputTokens,
      reasoning_tokens: u.reasoningTokens ?? 0,
      total_tokens: total,
      cost_usd: cost,
      estimated: u.estimated ? 1 : 0,
      charged: charged ? 1 : 0,
      latency_ms: endedAt - this.startedAt,
      ttft_ms: this.firstTokenAt === undefined ? null : this.firstTokenAt - this.startedAt,
      created_at: endedAt,
      attempts: Math.max(1, this.attempts),
      requested_model: this.requestedModel,
      unit: this.units?.unit ?? 'tokens',
      quantity: this.units?.quantity ?? 0,
      user_id: this.key?.user?.id ?? null,
    };
    this.deps.recorder.record(rec, charged && this.key ? { keyId: this.key.id, userId: this.key.user?.id ?? null, tokens: total, usd: cost } : undefined);
    this.deps.metrics?.observe(rec, this);
    this.deps.log.debug(
      { requestId: this.requestId, model: this.model, upstream: this.upstream, status, outcome, tokens: total, estimated: !!u.estimated },
      'request metered',
    );
  }
}
