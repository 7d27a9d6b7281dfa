import { describe, expect, it } from 'vitest';
import { formatResetDuration } from '../../src/core/format-reset-duration.ts';

describe('formatResetDuration', () => {
  it.each([
    [0, '0s'],
    [-5, '0s'],
    [Number.NaN, '0s'],
    [Number.POSITIVE_INFINITY, '0s'],
    [0.2, '1ms'],
    [1, '1ms'],
    [120, '120ms'],
    [120.4, '121ms'],
    [999, '999ms'],
    [999.5, '1s'],
    [1000, '1s'],
    [1500, '1.5s'],
    [8640, '8.64s'],
    [8640.2, '8.641s'],
    [1001, '1.001s'],
    [10_000, '10s'],
    [20_000, '20s'],
    [59_999, '59.999s'],
    [59_999.5, '1m0s'],
    [60_000, '1m0s'],
    [60_001, '1m1s'],
    [90_000, '1m30s'],
    [360_000, '6m0s'],
    [3_599_000, '59m59s'],
    [3_600_000, '1h0m0s'],
    [3_723_000, '1h2m3s'],
    [86_400_000, '24h0m0s'],
  ])('%s ms -> %s', (ms, expected) => {
    expect(formatResetDuration(ms)).toBe(expected);
  });
});
