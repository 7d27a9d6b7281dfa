import type { Usage } from '../../core/canonical.ts';
import type { GeminiUsageMetadata } from '../../wire/gemini.ts';

/**
 * Gemini usageMetadata -> canonical usage. promptTokenCount already includes the
 * cached tokens (cachedContentTokenCount is a subset). Thinking tokens are billed as
 * output but counted apart (thoughtsTokenCount), so they are added to the output.
 */
export function convertGeminiUsage(u: GeminiUsageMetadata): Usage {
  const reasoning = u.thoughtsTokenCount ?? 0;
  const usage: Usage = {
    inputTokens: (u.promptTokenCount ?? 0) + (u.toolUsePromptTokenCount ?? 0),
    outputTokens: (u.candidatesTokenCount ?? 0) + reasoning,
  };
  if (u.cachedContentTokenCount) usage.cachedInputTokens = u.cachedContentTokenCount;
  if (reasoning) usage.reasoningTokens = reasoning;
  return usage;
}
