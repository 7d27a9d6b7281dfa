import type { ModelInfo } from '../config/schema.ts';
import { GatewayError } from '../core/errors.ts';
import { formatResetDuration } from '../core/format-reset-duration.ts';
import type { KeyState } from './keys.ts';
import type { AcquireResult, Counter, CounterState, Lease } from './limit-backend.ts';
import type { Limiter } from './limiter.ts';
import { computeCostUsd } from './pricing.ts';

/** May this key use this model? An allow-list may name the plain model or the pinned `upstream:model` form. */
export function keyAllowsModel(key: KeyState, requested: string, resolved: string): boolean {
  const group = key.user?.groupModels;
  if (group && !group.has(requested) && !group.has(resolved)) return false;
  return key.models === null || key.models.has(requested) || key.models.has(resolved);
}

/** What a request is expected to cost before it runs: its prompt (counted once, when a limit needs it) plus its completion ceiling. */
export class Reservation {
  private prompt: Promise<number> | undefined;

  constructor(
    private readonly countPrompt: () => Promise<number>,
    /** max_tokens / max_completion_tokens / maxOutputTokens, or the configured default. */
    readonly maxTokens: number,
  ) {}

  async tokens(): Promise<number> {
    this.prompt ??= this.countPrompt().catch(() => 0);
    return (await this.prompt) + this.maxTokens;
  }

  async usd(price: ModelInfo | undefined): Promise<number> {
    if (!price) return 0;
    this.prompt ??= this.countPrompt().catch(() => 0);
    return computeCostUsd({ inputTokens: await this.prompt, outputTokens: this.maxTokens }, price);
  }
}

/** Counter names end in what settles them (see actualsFor). */
export const COUNTER_SUFFIX = { rpm: ':rpm', tpm: ':tpm', quotaTokens: ':qt', quotaUsd: ':qu', concurrency: ':conc' } as const;

/**
 * A key's counters for one request, in the order a caller can fix them: rate, tokens, concurrency,
 * quota, and last the balance of the key's user (`user:ID:qu`: credited as the limit, spent as used),
 * reserved at the group's prices like the key's dollar quota.
 */
export async function keyCounters(key: KeyState, reservation: Reservation, price: ModelInfo | undefined): Promise<Counter[]> {
  const names = counterNames(key);
  const user = key.user;
  // One wait for the prompt count at most, shared by the token window, the token quota and the dollar reservations.
  const tokens = key.tpm !== null || key.quotaTokens !== null ? await reservation.tokens() : 0;
  // Dollars reserved at the user's group prices; computed once for the key's quota and the user's balance.
  const usd = key.quotaUsd !== null || user ? (await reservation.usd(price)) * (user?.priceFactor ?? 1) : 0;
  const out: Counter[] = [];
  if (key.rpm !== null) out.push({ kind: 'window', key: names.rpm, limit: key.rpm, amount: 1 });
  if (key.tpm !== null) out.push({ kind: 'window', key: names.tpm, limit: key.tpm, amount: tokens });
  if (key.maxConcurrency !== null) out.push({ kind: 'concurrency', key: names.concurrency, limit: key.maxConcurrency });
  if (key.quotaTokens !== null) out.push({ kind: 'quota', key: names.quotaTokens, limit: key.quotaTokens, used: key.usedTokens, amount: tokens });
  if (key.quotaUsd !== null) out.push({ kind: 'quota', key: names.quotaUsd, limit: key.quotaUsd, used: key.usedUsd, amount: usd });
  if (user) {
    if (names.userId !== user.id) {
      names.userId = user.id;
      names.userBalance = `user:${user.id}${COUNTER_SUFFIX.quotaUsd}`;
    }
    out.push({ kind: 'quota', key: names.userBalance, limit: user.creditedUsd, used: user.spentUsd, amount: usd });
  }
  return out;
}

interface CounterNames {
  rpm: string;
  tpm: string;
  concurrency: string;
  quotaTokens: string;
  quotaUsd: string;
  userId: string | undefined;
  userBalance: string;
}

/** Counter names per key, built once: the limit backends use them as map keys (a fresh string is hashed again). */
const names = new WeakMap<KeyState, CounterNames>();

function counterNames(key: KeyState): CounterNames {
  let n = names.get(key);
  if (!n) {
    const base = `key:${key.id}`;
    n = {
      rpm: base + COUNTER_SUFFIX.rpm,
      tpm: base + COUNTER_SUFFIX.tpm,
      concurrency: base + COUNTER_SUFFIX.concurrency,
      quotaTokens: base + COUNTER_SUFFIX.quotaTokens,
      quotaUsd: base + COUNTER_SUFFIX.quotaUsd,
      userId: undefined,
      userBalance: '',
    };
    names.set(key, n);
  }
  return n;
}

/** An upstream's or credential's rpm and tpm (`up:NAME`, `cred:NAME#N`). */
export async function rateCounters(base: string, limits: { rpm?: number; tpm?: number }, reservation: Reservation): Promise<Counter[]> {
  const out: Counter[] = [];
  if (limits.rpm !== undefined) out.push({ kind: 'window', key: base + COUNTER_SUFFIX.rpm, limit: limits.rpm, amount: 1 });
  if (limits.tpm !== undefined) out.push({ kind: 'window', key: base + COUNTER_SUFFIX.tpm, limit: limits.tpm, amount: await reservation.tokens() });
  return out;
}

/** The figures each counter of a lease settles to once the request ended. */
export function actualsFor(lease: Lease, totalTokens: number, costUsd: number, charged: boolean): Map<string, number> {
  const m = new Map<string, number>();
  for (const c of lease.counters) {
    if (c.key.endsWith(COUNTER_SUFFIX.rpm)) m.set(c.key, 1);
    else if (c.key.endsWith(COUNTER_SUFFIX.tpm)) m.set(c.key, totalTokens);
    else if (c.key.endsWith(COUNTER_SUFFIX.quotaTokens)) m.set(c.key, charged ? totalTokens : 0);
    else if (c.key.endsWith(COUNTER_SUFFIX.quotaUsd)) m.set(c.key, charged ? costUsd : 0);
  }
  return m;
}

/** OpenAI's rate-limit headers for the key's request and token windows. */
export function rateLimitHeaders(counters: Counter[], states: CounterState[]): Record<string, string> {
  const h: Record<string, string> = {};
  counters.forEach((c, i) => {
    const s = states[i];
    if (!s) return;
    const kind = c.key.endsWith(COUNTER_SUFFIX.rpm) ? 'requests' : c.key.endsWith(COUNTER_SUFFIX.tpm) ? 'tokens' : undefined;
    if (!kind) return;
    h[`x-ratelimit-limit-${kind}`] = String(c.limit);
    h[`x-ratelimit-remaining-${kind}`] = String(s.remaining);
    h[`x-ratelimit-reset-${kind}`] = formatResetDuration(s.resetMs);
  });
  return h;
}

/** The 429 for the counter that refused, in the words OpenAI uses. */
export function limitError(counter: Counter, result: AcquireResult, subject: string): GatewayError {
  const retryAfterSeconds = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
  const wait = `Please try again in ${formatResetDuration(result.retryAfterMs)}.`;
  if (counter.kind === 'quota' && counter.key.startsWith('user:')) {
    return new GatewayError('insufficient_quota', 'Your account balance is used up (what is spent and reserved by requests in flight has reached it). Top it up with a redemption code.');
  }
  if (counter.kind === 'quota') {
    const what = counter.key.endsWith(COUNTER_SUFFIX.quotaUsd) ? `$${counter.limit}` : `${counter.limit} tokens`;
    return new GatewayError('insufficient_quota', `You exceeded your current quota of ${what} for ${subject}; what is spent and reserved by requests in flight has reached it.`);
  }
  if (counter.kind === 'concurrency') {
    return new GatewayError('rate_limit_exceeded', `Rate limit reached for ${subject}: at most ${counter.limit} requests at once. ${wait}`, {
      retryAfterSeconds,
      type: 'requests',
    });
  }
  const tokens = counter.key.endsWith(COUNTER_SUFFIX.tpm);
  const used = tokens ? `Limit ${counter.limit} tokens per minute, requested ${counter.amount}.` : `Limit ${counter.limit} requests per minute.`;
  return new GatewayError('rate_limit_exceeded', `Rate limit reached for ${subject} on ${tokens ? 'tokens' : 'requests'} per min (TPM/RPM). ${used} ${wait}`, {
    retryAfterSeconds,
    type: tokens ? 'tokens' : 'requests',
  });
}

export interface KeyAdmission {
  lease: Lease;
  headers: Record<string, string>;
}

/**
 * The key's limits for one request, all taken at once or none: rpm, tpm and
 * quotas reserve up front and settle to the real usage when the request ends.
 * Refused: 429 with the rate-limit headers and retry-after set on `headers`.
 */
export async function admitKey(
  limiter: Limiter,
  key: KeyState,
  reservation: Reservation,
  price: ModelInfo | undefined,
  leaseId: string,
  now: number,
  headers: Record<string, string>,
): Promise<KeyAdmission> {
  const counters = await keyCounters(key, reservation, price);
  const result = await limiter.acquire(counters, leaseId, now);
  Object.assign(headers, rateLimitHeaders(counters, result.states));
  if (!result.ok || !result.lease) throw limitError(counters[result.refused ?? 0], result, `key ${key.name}`);
  return { lease: result.lease, headers };
}
