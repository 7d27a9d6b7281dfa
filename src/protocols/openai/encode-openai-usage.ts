import type { Usage } from '../../core/canonical.ts';
import type { OpenAIUsageOut } from '../../wire/openai-chat.ts';

/** Canonical usage -> OpenAI's usage object (prompt_tokens already include cached ones, as in canonical). */
export function encodeOpenAIUsage(u: Usage): OpenAIUsageOut {
  return {
    prompt_tokens: u.inputTokens,
    completion_tokens: u.outputTokens,
    total_tokens: u.inputTokens + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cachedInputTokens ?? 0 },
    completion_tokens_details: { reasoning_tokens: u.reasoningTokens ?? 0 },
  };
}
