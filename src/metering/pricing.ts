import type { Usage } from '../core/canonical.ts';
import type { ModelInfo } from '../config/schema.ts';

/** USD for a usage under the model's prices (USD per million tokens); 0 when the model has no price. */
export function computeCostUsd(usage: Usage, info: ModelInfo | undefined): number {
  if (!info) return 0;
  const input = info.input_price ?? 0;
  const cachedPrice = info.cached_input_price ?? input;
  const cached = Math.min(usage.cachedInputTokens ?? 0, usage.inputTokens);
  const uncached = usage.inputTokens - cached;
  const cost = (uncached * input + cached * cachedPrice + usage.outputTokens * (info.output_price ?? 0)) / 1_000_000;
  return Math.round(cost * 1e12) / 1e12;
}
