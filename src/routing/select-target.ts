import type { Target } from './model-registry.ts';
import { type Upstream, upstreamAvailable } from './upstreams.ts';

/** What one request has done with each upstream so far. */
export interface TriedState {
  calls: Map<Upstream, number>;
  /** Upstreams not to call again in this request (a 4xx of its own credentials, limits refused, retry-after too long). */
  excluded: Set<Upstream>;
}

export function newTriedState(): TriedState {
  return { calls: new Map(), excluded: new Set() };
}

/**
 * The next upstream for a request: among the healthy upstreams it has not given
 * up on, those not yet called before any retry, the lowest `priority` tier
 * first, weighted random within the tier.
 * `maxCalls(u)` caps the calls to one upstream.
 */
export function selectTarget(
  targets: readonly Target[],
  tried: TriedState,
  now: number,
  maxCalls: (u: Upstream) => number,
  random: () => number = Math.random,
): Target | undefined {
  let best: Target[] = [];
  let bestRank = Number.POSITIVE_INFINITY;
  for (const t of targets) {
    const u = t.upstream;
    if (tried.excluded.has(u) || !upstreamAvailable(u, now)) continue;
    const calls = tried.calls.get(u) ?? 0;
    if (calls >= maxCalls(u)) continue;
    // Every upstream not yet called (lowest tier first) comes before any retry: a tier that failed for this request hands over to the next.
    const rank = (calls === 0 ? 0 : 1e9) + u.config.priority;
    if (rank < bestRank) {
      best = [t];
      bestRank = rank;
    } else if (rank === bestRank) {
      best.push(t);
    }
  }
  return pickWeighted(best, random);
}

function pickWeighted(list: Target[], random: () => number): Target | undefined {
  if (list.length <= 1) return list[0];
  const total = list.reduce((s, t) => s + t.upstream.config.weight, 0);
  if (total <= 0) return list[Math.floor(random() * list.length)];
  let r = random() * total;
  for (const t of list) {
    r -= t.upstream.config.weight;
    if (r < 0) return t;
  }
  return list[list.length - 1];
}

/** Exponential backoff with jitter (between half and all of the doubled delay). */
export function backoffMs(base: number, cap: number, retryNumber: number, random: () => number = Math.random): number {
  const raw = Math.min(cap, base * 2 ** Math.max(0, retryNumber - 1));
  return Math.round(raw * (0.5 + random() * 0.5));
}
