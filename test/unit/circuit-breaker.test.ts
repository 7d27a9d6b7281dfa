/**
 * The circuit breaker of an upstream or a credential, driven with explicit clock values:
 * closed → open after N consecutive failures, a single half-open probe after the cooldown,
 * and the admin's disable / enable.
 */
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/routing/circuit-breaker.ts';

const T = 1_000_000;
const COOLDOWN = 5_000;

function openedAt(at: number, failures = 3): CircuitBreaker {
  const b = new CircuitBreaker(failures, COOLDOWN);
  for (let i = 0; i < failures; i++) b.failure(at);
  return b;
}

describe('CircuitBreaker', () => {
  it('starts closed and lets every call through', () => {
    const b = new CircuitBreaker(3, COOLDOWN);
    expect(b.state(T)).toBe('closed');
    for (let i = 0; i < 5; i++) expect(b.allow(T + i)).toBe(true);
    expect(b.available(T)).toBe(true);
    expect(b.consecutiveFailures).toBe(0);
    expect(b.reason).toBeUndefined();
  });

  it('opens on the Nth consecutive failure, not before', () => {
    const b = new CircuitBreaker(3, COOLDOWN);
    b.failure(T);
    b.failure(T + 1);
    expect(b.consecutiveFailures).toBe(2);
    expect(b.state(T + 2)).toBe('closed');
    expect(b.allow(T + 2)).toBe(true);
    b.failure(T + 2);
    expect(b.consecutiveFailures).toBe(3);
    expect(b.state(T + 2)).toBe('open');
    expect(b.allow(T + 2)).toBe(false);
    expect(b.available(T + 2)).toBe(false);
  });

  it('a success resets the count: failures must be consecutive', () => {
    const b = new CircuitBreaker(3, COOLDOWN);
    b.failure(T);
    b.failure(T);
    b.success();
    expect(b.consecutiveFailures).toBe(0);
    b.failure(T);
    b.failure(T);
    expect(b.state(T)).toBe('closed');
    b.failure(T);
    expect(b.state(T)).toBe('open');
  });

  it('with failures: 1 a single failure opens it', () => {
    const b = new CircuitBreaker(1, COOLDOWN);
    b.failure(T);
    expect(b.state(T)).toBe('open');
  });

  it('refuses every call until the cooldown has passed, counted from the failure that opened it', () => {
    const b = openedAt(T);
    for (const at of [T, T + 1, T + COOLDOWN / 2, T + COOLDOWN - 1]) {
      expect(b.state(at)).toBe('open');
      expect(b.allow(at)).toBe(false);
      expect(b.available(at)).toBe(false);
    }
    expect(b.state(T + COOLDOWN)).toBe('half_open');
    expect(b.available(T + COOLDOWN)).toBe(true);
  });

  it('half-open admits exactly one probe; available() reports it without taking it', () => {
    const b = openedAt(T);
    const at = T + COOLDOWN;
    // available() is a question, not a claim: asking twice leaves the probe untaken.
    expect(b.available(at)).toBe(true);
    expect(b.available(at)).toBe(true);
    expect(b.allow(at)).toBe(true);
    expect(b.allow(at)).toBe(false);
    expect(b.allow(at + 60_000)).toBe(false);
    expect(b.available(at + 60_000)).toBe(false);
    expect(b.state(at + 60_000)).toBe('half_open');
  });

  it("the probe's success closes it", () => {
    const b = openedAt(T);
    expect(b.allow(T + COOLDOWN)).toBe(true);
    b.success();
    expect(b.state(T + COOLDOWN)).toBe('closed');
    expect(b.consecutiveFailures).toBe(0);
    expect(b.allow(T + COOLDOWN)).toBe(true);
    expect(b.allow(T + COOLDOWN)).toBe(true);
    // Closed again means N fresh failures to open.
    b.failure(T + COOLDOWN + 1);
    b.failure(T + COOLDOWN + 1);
    expect(b.state(T + COOLDOWN + 1)).toBe('closed');
  });

  it("the probe's failure reopens it for a full cooldown from that failure", () => {
    const b = openedAt(T);
    const probeAt = T + COOLDOWN + 700;
    expect(b.allow(probeAt)).toBe(true);
    b.failure(probeAt);
    expect(b.state(probeAt)).toBe('open');
    expect(b.allow(probeAt + COOLDOWN - 1)).toBe(false);
    expect(b.state(probeAt + COOLDOWN - 1)).toBe('open');
    // A new probe after the new cooldown.
    expect(b.state(probeAt + COOLDOWN)).toBe('half_open');
    expect(b.allow(probeAt + COOLDOWN)).toBe(true);
    expect(b.allow(probeAt + COOLDOWN)).toBe(false);
  });

  it('neutral() frees the probe slot without changing the state', () => {
    const b = openedAt(T);
    const at = T + COOLDOWN;
    expect(b.allow(at)).toBe(true);
    expect(b.available(at)).toBe(false);
    b.neutral();
    expect(b.state(at)).toBe('half_open');
    expect(b.available(at)).toBe(true);
    expect(b.allow(at)).toBe(true);
    expect(b.allow(at)).toBe(false);
    // neutral() on a closed breaker does not touch the failure count.
    const c = new CircuitBreaker(3, COOLDOWN);
    c.failure(T);
    c.neutral();
    expect(c.consecutiveFailures).toBe(1);
    expect(c.state(T)).toBe('closed');
  });

  it('disable() keeps it out whatever the clock says, with its reason, until enable()', () => {
    const b = new CircuitBreaker(3, COOLDOWN);
    b.disable('upstream answered 401');
    expect(b.reason).toBe('upstream answered 401');
    for (const at of [T, T + COOLDOWN, T + 100 * COOLDOWN]) {
      expect(b.state(at)).toBe('disabled');
      expect(b.allow(at)).toBe(false);
      expect(b.available(at)).toBe(false);
    }
    // A success reported by a call that was already in flight does not re-enable it.
    b.success();
    expect(b.state(T)).toBe('disabled');
    b.enable();
    expect(b.reason).toBeUndefined();
    expect(b.state(T)).toBe('closed');
    expect(b.allow(T)).toBe(true);
  });

  it('enable() also closes an open breaker and clears its failures', () => {
    const b = openedAt(T);
    b.disable('upstream answered 403');
    expect(b.state(T + COOLDOWN)).toBe('disabled');
    b.enable();
    expect(b.state(T)).toBe('closed');
    expect(b.consecutiveFailures).toBe(0);
    expect(b.allow(T)).toBe(true);
    b.failure(T);
    expect(b.state(T)).toBe('closed');
  });
});
