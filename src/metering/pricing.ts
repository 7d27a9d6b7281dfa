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

/** What a non-token call is metered in (images made, characters spoken, seconds of audio, Midjourney tasks). */
export interface MeteredUnits {
  unit: 'images' | 'characters' | 'seconds' | 'tasks';
  quantity: number;
  /** For images: the size ("1024x1024") and quality the price may depend on. */
  size?: string;
  quality?: string;
}

/** USD for metered units under the model's prices; 0 when the model has no price for that unit. */
export function computeUnitCostUsd(units: MeteredUnits, info: ModelInfo | undefined): number {
  if (!info) return 0;
  let cost = 0;
  if (units.unit === 'images') cost = units.quantity * imagePrice(info.image_price, units.size, units.quality);
  else if (units.unit === 'characters') cost = (units.quantity * (info.character_price ?? 0)) / 1_000_000;
  else if (units.unit === 'tasks') cost = units.quantity * (info.price ?? 0);
  else cost = (units.quantity / 60) * (info.minute_price ?? 0);
  return Math.round(cost * 1e12) / 1e12;
}

function imagePrice(price: ModelInfo['image_price'], size: string | undefined, quality: string | undefined): number {
  if (price === undefined) return 0;
  if (typeof price === 'number') return price;
  return (quality && size ? price[`${quality}:${size}`] : undefined) ?? (size ? price[size] : undefined) ?? price.default ?? 0;
}
