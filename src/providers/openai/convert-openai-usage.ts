import type { Usage } from '../../core/canonical.ts';
import type { OpenAIUsage } from '../../wire/openai-chat.ts';

export function convertOpenAIUsage(u: OpenAIUsage): Usage {
  const usage: Usage = { inputTokens: u.prompt_tokens ?? 0, outputTokens: u.completion_tokens ?? 0 };
  const cached = u.prompt_tokens_details?.cached_tokens;
  if (cached) usage.cachedInputTokens = cached;
  const reasoning = u.completion_tokens_details?.reasoning_tokens;
  if (reasoning) usage.reasoningTokens = reasoning;
  return usage;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * Reads `usage` from a JSON value if it is a well-formed OpenAI usage object.
 * Runs on every relayed answer, so it checks by hand rather than through zod.
 */
export function extractOpenAIUsage(value: unknown): Usage | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const raw = (value as { usage?: unknown }).usage;
  if (!raw || typeof raw !== 'object') return undefined;
  const u = raw as Record<string, unknown>;
  const prompt = num(u.prompt_tokens);
  const completion = num(u.completion_tokens);
  if (prompt === undefined && completion === undefined) return undefined;
  const details = (o: unknown, field: string): number | undefined => (o && typeof o === 'object' ? num((o as Record<string, unknown>)[field]) : undefined);
  return convertOpenAIUsage({
    prompt_tokens: prompt,
    completion_tokens: completion,
    prompt_tokens_details: { cached_tokens: details(u.prompt_tokens_details, 'cached_tokens') },
    completion_tokens_details: { reasoning_tokens: details(u.completion_tokens_details, 'reasoning_tokens') },
  });
}
