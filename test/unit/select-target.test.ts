/**
 * Upstream selection for one request: which upstream the next attempt goes to (fresh before
 * retries, lowest priority tier first, weighted within a tier, unhealthy and excluded ones
 * skipped), the backoff between calls, and the order a call tries an upstream's credentials.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import type { Target } from '../../src/routing/model-registry.ts';
import { backoffMs, newTriedState, selectTarget, type TriedState } from '../../src/routing/select-target.ts';
import { createUpstream, credentialOrder, type Upstream, upstreamAvailable } from '../../src/routing/upstreams.ts';

const NOW = 1_700_000_000_000;
const created: Upstream[] = [];

/** Upstreams built exactly as the gateway builds them from a config file (breaker: 2 failures, 1 s cooldown). */
function upstreams(list: Array<Record<string, unknown>>): Upstream[] {
  const cfg = parseConfig(
    {
      breaker: { failures: 2, cooldown_ms: 1000 },
      upstreams: list.map((u) => ({ type: 'openai', base_url: `http://127.0.0.1:9/${String(u.name)}`, api_key: `sk-${String(u.name)}`, models: ['m'], ...u })),
    },
    'test',
  );
  const out = cfg.upstreams.map((u) => createUpstream(u, cfg.breaker));
  created.push(...out);
  return out;
}

const targetsOf = (us: Upstream[]): Target[] => us.map((upstream) => ({ upstream, model: 'm', upstreamModel: 'm' }));
const unlimited = () => Number.POSITIVE_INFINITY;
const noRandom = (): number => {
  throw new Error('random() must not be called with a single candidate');
};
const pickName = (targets: Target[], tried: TriedState, random: () => number = noRandom, maxCalls: (u: Upstream) => number = unlimited, now = NOW) =>
  selectTarget(targets, tried, now, maxCalls, random)?.upstream.name;

function tried(calls: Record<string, number>, us: Upstream[], excluded: string[] = []): TriedState {
  const t = newTriedState();
  for (const u of us) {
    if (calls[u.name] !== undefined) t.calls.set(u, calls[u.name]);
    if (excluded.includes(u.name)) t.excluded.add(u);
  }
  return t;
}

/** Opens a breaker the way dispatch does: `failures` consecutive failures. */
function open(b: Upstream['breaker'], at = NOW): void {
  b.failure(at);
  b.failure(at);
}

afterAll(async () => {
  await Promise.all(created.map((u) => u.dispatcher.close()));
});

describe('selectTarget', () => {
  it('returns undefined when there are no targets, and the only target without drawing a random number', () => {
    const [a] = upstreams([{ name: 'a' }]);
    expect(selectTarget([], newTriedState(), NOW, unlimited, noRandom)).toBeUndefined();
    const t = targetsOf([a]);
    expect(selectTarget(t, newTriedState(), NOW, unlimited, noRandom)).toBe(t[0]);
  });

  it('takes the lowest priority tier first, whatever the configured order', () => {
    const us = upstreams([
      { name: 'p2', priority: 2 },
      { name: 'p0', priority: 0 },
      { name: 'p1', priority: 1 },
      { name: 'neg', priority: -1 },
    ]);
    expect(pickName(targetsOf(us), newTriedState())).toBe('neg');
    expect(pickName(targetsOf(us), tried({}, us, ['neg']))).toBe('p0');
  });

  it('calls every upstream not yet called before any retry, even a lower-tier one', () => {
    const us = upstreams([
      { name: 'first', priority: 0 },
      { name: 'backup', priority: 5 },
    ]);
    expect(pickName(targetsOf(us), tried({ first: 1 }, us))).toBe('backup');
    // Both called once: the retry goes back to the best tier.
    expect(pickName(targetsOf(us), tried({ first: 1, backup: 1 }, us))).toBe('first');
    // Retries rank by priority only, not by how often each was called.
    expect(pickName(targetsOf(us), tried({ first: 3, backup: 1 }, us))).toBe('first');
  });

  it('a tier that failed hands over to the next tier before any of its upstreams is retried', () => {
    const us = upstreams([
      { name: 'a', priority: 0 },
      { name: 'b', priority: 0 },
      { name: 'c', priority: 1 },
      { name: 'd', priority: 2 },
    ]);
    const t = targetsOf(us);
    // Within tier 0, a called: b (the only fresh one of the tier) comes next.
    expect(pickName(t, tried({ a: 1 }, us))).toBe('b');
    expect(pickName(t, tried({ a: 1, b: 1 }, us))).toBe('c');
    expect(pickName(t, tried({ a: 1, b: 2, c: 1 }, us))).toBe('d');
    // Everything called: retries within tier 0, weighted (equal weights: random 0 → a, 0.99 → b).
    expect(pickName(t, tried({ a: 1, b: 1, c: 1, d: 1 }, us), () => 0)).toBe('a');
    expect(pickName(t, tried({ a: 1, b: 1, c: 1, d: 1 }, us), () => 0.99)).toBe('b');
  });

  it('skips excluded upstreams, fresh or not', () => {
    const us = upstreams([
      { name: 'a', priority: 0 },
      { name: 'b', priority: 1 },
    ]);
    expect(pickName(targetsOf(us), tried({}, us, ['a']))).toBe('b');
    expect(pickName(targetsOf(us), tried({ b: 1 }, us, ['a']))).toBe('b');
    expect(pickName(targetsOf(us), tried({}, us, ['a', 'b']))).toBeUndefined();
  });

  it('skips a disabled upstream (by config or by an admin)', () => {
    const us = upstreams([
      { name: 'off', priority: 0, enabled: false },
      { name: 'on', priority: 1 },
    ]);
    expect(us[0].disabled).toBe(true);
    expect(pickName(targetsOf(us), newTriedState())).toBe('on');
    us[1].disabled = true;
    expect(pickName(targetsOf(us), newTriedState())).toBeUndefined();
    us[0].disabled = false;
    expect(pickName(targetsOf(us), newTriedState())).toBe('off');
  });

  it('skips an upstream whose breaker is open, and takes it again (its probe) once the cooldown passed', () => {
    const us = upstreams([
      { name: 'flaky', priority: 0 },
      { name: 'steady', priority: 1 },
    ]);
    open(us[0].breaker);
    expect(upstreamAvailable(us[0], NOW)).toBe(false);
    expect(pickName(targetsOf(us), newTriedState(), noRandom, unlimited, NOW + 999)).toBe('steady');
    expect(pickName(targetsOf(us), newTriedState(), noRandom, unlimited, NOW + 1000)).toBe('flaky');
    // The probe is out: until it reports, the upstream is not available again.
    expect(us[0].breaker.allow(NOW + 1000)).toBe(true);
    expect(pickName(targetsOf(us), newTriedState(), noRandom, unlimited, NOW + 1001)).toBe('steady');
  });

  it('skips an upstream whose credentials are all disabled or open, but not one with a usable credential left', () => {
    const us = upstreams([
      { name: 'revoked', priority: 0, api_key: undefined, api_keys: ['sk-r1', 'sk-r2'] },
      { name: 'fallback', priority: 1 },
    ]);
    const [c1, c2] = us[0].credentials;
    c1.breaker.disable('upstream answered 401');
    expect(pickName(targetsOf(us), newTriedState())).toBe('revoked');
    open(c2.breaker);
    expect(upstreamAvailable(us[0], NOW)).toBe(false);
    expect(pickName(targetsOf(us), newTriedState())).toBe('fallback');
    c2.breaker.success();
    expect(pickName(targetsOf(us), newTriedState())).toBe('revoked');
    c2.breaker.disable('upstream answered 403');
    expect(pickName(targetsOf(us), newTriedState())).toBe('fallback');
    c1.breaker.enable();
    expect(pickName(targetsOf(us), newTriedState())).toBe('revoked');
  });

  it('caps the calls to each upstream with maxCalls', () => {
    const us = upstreams([
      { name: 'a', priority: 0 },
      { name: 'b', priority: 1 },
    ]);
    const cap = (u: Upstream) => (u.name === 'a' ? 2 : 1);
    expect(pickName(targetsOf(us), tried({ a: 1, b: 1 }, us), noRandom, cap)).toBe('a');
    expect(pickName(targetsOf(us), tried({ a: 2, b: 0 }, us), noRandom, cap)).toBe('b');
    expect(pickName(targetsOf(us), tried({ a: 2, b: 1 }, us), noRandom, cap)).toBeUndefined();
    // A cap of 0 keeps an upstream out even before its first call.
    expect(pickName(targetsOf(us), newTriedState(), noRandom, (u) => (u.name === 'a' ? 0 : 1))).toBe('b');
  });

  it('picks within a tier by weight, from the injected random number', () => {
    const us = upstreams([
      { name: 'heavy', weight: 3 },
      { name: 'light', weight: 1 },
      { name: 'other-tier', priority: 1, weight: 100 },
    ]);
    const t = targetsOf(us);
    // Total weight 4: [0, 3) → heavy, [3, 4) → light.
    expect(pickName(t, newTriedState(), () => 0)).toBe('heavy');
    expect(pickName(t, newTriedState(), () => 0.74)).toBe('heavy');
    expect(pickName(t, newTriedState(), () => 0.75)).toBe('light');
    expect(pickName(t, newTriedState(), () => 0.9999)).toBe('light');
    // Over many draws the split follows the weights exactly.
    const counts = { heavy: 0, light: 0 };
    for (let i = 0; i < 400; i++) counts[pickName(t, newTriedState(), () => i / 400) as 'heavy' | 'light']++;
    expect(counts).toEqual({ heavy: 300, light: 100 });
  });

  it('never picks a weight-0 upstream beside a weighted one; spreads evenly when every weight is 0', () => {
    const [zero, one] = upstreams([
      { name: 'zero', weight: 0 },
      { name: 'one', weight: 1 },
    ]);
    for (const r of [0, 0.5, 0.9999]) expect(pickName(targetsOf([zero, one]), newTriedState(), () => r)).toBe('one');
    const [z1, z2] = upstreams([
      { name: 'z1', weight: 0 },
      { name: 'z2', weight: 0 },
    ]);
    expect(pickName(targetsOf([z1, z2]), newTriedState(), () => 0.49)).toBe('z1');
    expect(pickName(targetsOf([z1, z2]), newTriedState(), () => 0.5)).toBe('z2');
  });
});

describe('backoffMs', () => {
  it('doubles from the base with each retry, up to the cap (random 1: the whole delay)', () => {
    const full = (n: number) => backoffMs(100, 1000, n, () => 1);
    expect([0, 1, 2, 3, 4, 5, 10].map(full)).toEqual([100, 100, 200, 400, 800, 1000, 1000]);
  });

  it('jitters between half and all of the delay', () => {
    expect(backoffMs(200, 5000, 2, () => 0)).toBe(200);
    expect(backoffMs(200, 5000, 2, () => 0.5)).toBe(300);
    expect(backoffMs(200, 5000, 2, () => 0.999999)).toBe(400);
    expect(backoffMs(200, 300, 5, () => 0)).toBe(150);
    for (let i = 0; i < 200; i++) {
      const ms = backoffMs(100, 10_000, 3);
      expect(ms).toBeGreaterThanOrEqual(200);
      expect(ms).toBeLessThanOrEqual(400);
    }
  });

  it('is 0 for a base of 0 and rounds to whole milliseconds', () => {
    expect(backoffMs(0, 5000, 4, () => 0.3)).toBe(0);
    expect(backoffMs(3, 5000, 1, () => 0)).toBe(2);
    expect(Number.isInteger(backoffMs(7, 5000, 3, () => 0.123))).toBe(true);
  });
});

describe('credentialOrder', () => {
  it('starts one credential further on each call (round-robin) and lists all of them', () => {
    const [u] = upstreams([{ name: 'multi', api_key: undefined, api_keys: ['sk-1', { key: 'sk-2', rpm: 5 }, 'sk-3'] }]);
    expect(u.credentials.map((c) => [c.id, c.apiKey, c.rpm])).toEqual([
      ['multi#1', 'sk-1', undefined],
      ['multi#2', 'sk-2', 5],
      ['multi#3', 'sk-3', undefined],
    ]);
    const ids = () => credentialOrder(u, NOW).map((c) => c.id);
    expect(ids()).toEqual(['multi#1', 'multi#2', 'multi#3']);
    expect(ids()).toEqual(['multi#2', 'multi#3', 'multi#1']);
    expect(ids()).toEqual(['multi#3', 'multi#1', 'multi#2']);
    expect(ids()).toEqual(['multi#1', 'multi#2', 'multi#3']);
  });

  it('leaves out credentials whose breaker is disabled, open or has its probe out', () => {
    const [u] = upstreams([{ name: 'mixed', api_key: undefined, api_keys: ['sk-1', 'sk-2', 'sk-3'] }]);
    const [c1, c2, c3] = u.credentials;
    c2.breaker.disable('upstream answered 401');
    expect(credentialOrder(u, NOW).map((c) => c.id)).toEqual(['mixed#1', 'mixed#3']);
    expect(credentialOrder(u, NOW).map((c) => c.id)).toEqual(['mixed#3', 'mixed#1']);
    open(c3.breaker);
    expect(credentialOrder(u, NOW).map((c) => c.id)).toEqual(['mixed#1']);
    // After the cooldown the open one is half-open: offered again, until its probe is taken.
    expect(credentialOrder(u, NOW + 1000).map((c) => c.id)).toEqual(['mixed#1', 'mixed#3']);
    expect(c3.breaker.allow(NOW + 1000)).toBe(true);
    expect(credentialOrder(u, NOW + 1000).map((c) => c.id)).toEqual(['mixed#1']);
    c1.breaker.disable('upstream answered 403');
    expect(credentialOrder(u, NOW + 1000)).toEqual([]);
  });

  it('gives the single keyless credential of an upstream without api_key', () => {
    const [u] = upstreams([{ name: 'local', api_key: undefined }]);
    expect(credentialOrder(u, NOW).map((c) => [c.id, c.apiKey])).toEqual([['local#1', undefined]]);
    expect(credentialOrder(u, NOW).map((c) => c.id)).toEqual(['local#1']);
    expect(u.secrets).toEqual([]);
  });
});
