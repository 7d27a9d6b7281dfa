import type { Logger } from 'pino';
import type { Config } from './config/schema.ts';
import { KeyService, type KeyState } from './metering/keys.ts';
import { MemoryRateLimiter, type RateLimiter } from './metering/rate-limiter.ts';
import { type MeterDeps, RequestMeter } from './metering/request-meter.ts';
import { UsageRecorder } from './metering/usage-recorder.ts';
import { ModelRegistry } from './routing/model-registry.ts';
import { createUpstream, type Upstream } from './routing/upstreams.ts';
import type { Store } from './store/db.ts';

/** Everything the routes need, built once per app; tests build their own. */
export interface Services {
  config: Config;
  store: Store;
  log: Logger;
  now: () => number;
  upstreams: Upstream[];
  registry: ModelRegistry;
  keys: KeyService;
  recorder: UsageRecorder;
  rateLimiter: RateLimiter;
  /** Hash of the admin key, or undefined when admin routes are closed. */
  adminKeyHash: string | undefined;
  newMeter(requestId: string, key: KeyState | null, endpoint: string, model: string, stream: boolean): RequestMeter;
}

export function createServices(opts: { config: Config; store: Store; log: Logger; adminKeyHash: string | undefined; now?: () => number }): Services {
  const now = opts.now ?? Date.now;
  const recorder = new UsageRecorder(opts.store, opts.log, {
    intervalMs: opts.config.usage.flush_interval_ms,
    batchSize: opts.config.usage.flush_batch_size,
  });
  const keys = new KeyService(recorder.keysRepository, recorder, now);
  const upstreams = opts.config.upstreams.map(createUpstream);
  const meterDeps: MeterDeps = { recorder, keys, prices: opts.config.models, log: opts.log, now };
  return {
    config: opts.config,
    store: opts.store,
    log: opts.log,
    now,
    upstreams,
    registry: new ModelRegistry(upstreams),
    keys,
    recorder,
    rateLimiter: new MemoryRateLimiter(),
    adminKeyHash: opts.adminKeyHash,
    newMeter: (requestId, key, endpoint, model, stream) => new RequestMeter(meterDeps, requestId, key, endpoint, model, stream),
  };
}

export async function closeServices(s: Services): Promise<void> {
  await s.recorder.stop();
  await Promise.all(s.upstreams.map((u) => u.dispatcher.close().catch(() => undefined)));
}
