import type { Usage } from '../../core/canonical.ts';
import type { AnthropicUsage } from '../../wire/anthropic.ts';

/**
 * Anthropic's `input_tokens` counts only the uncached part of the prompt; cache
 * reads and writes are reported beside it. Canonical inputTokens is the whole
 * prompt, with the cached and written parts inside it.
 */
export function convertAnthropicUsage(u: AnthropicUsage): Usage {
  const cacheRead = u.cache_read_input_tokens ?? undefined;
  const cacheWrite = u.cache_creation_input_tokens ?? undefined;
  const usage: Usage = {
    inputTokens: (u.input_tokens ?? 0) + (cacheRead ?? 0) + (cacheWrite ?? 0),
    outputTokens: u.output_tokens ?? 0,
  };
  if (cacheRead !== undefined) usage.cachedInputTokens = cacheRead;
  if (cacheWrite !== undefined) usage.cacheWriteTokens = cacheWrite;
  const thinking = u.output_tokens_details?.thinking_tokens;
  if (thinking != null) usage.reasoningTokens = thinking;
  return usage;
}

/**
 * Merges a later usage report into an earlier one. message_delta counts are
 * cumulative whole-message totals and omit what did not change, so present fields
 * overwrite and absent ones keep the message_start value.
 */
export function mergeAnthropicUsage(base: AnthropicUsage | undefined, update: AnthropicUsage | null | undefined): AnthropicUsage | undefined {
  if (!update) return base;
  const out: AnthropicUsage = { ...(base ?? {}) };
  if (update.input_tokens != null) out.input_tokens = update.input_tokens;
  if (update.output_tokens != null) out.output_tokens = update.output_tokens;
  if (update.cache_read_input_tokens != null) out.cache_read_input_tokens = update.cache_read_input_tokens;
  if (update.cache_creation_input_tokens != null) out.cache_creation_input_tokens = update.cache_creation_input_tokens;
  if (update.output_tokens_details != null) out.output_tokens_details = update.output_tokens_details;
  return out;
}
