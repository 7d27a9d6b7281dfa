import { z } from 'zod';
import type { Usage } from '../../core/canonical.ts';

/** OpenAI wire schemas, lenient: unknown fields pass, optional fields nullish. */
export const openAIUsageSchema = z.looseObject({
  prompt_tokens: z.number().nullish(),
  completion_tokens: z.number().nullish(),
  total_tokens: z.number().nullish(),
  prompt_tokens_details: z.looseObject({ cached_tokens: z.number().nullish() }).nullish(),
  completion_tokens_details: z.looseObject({ reasoning_tokens: z.number().nullish() }).nullish(),
});
export type OpenAIUsage = z.infer<typeof openAIUsageSchema>;

export const openAIErrorSchema = z.looseObject({
  error: z.union([
    z.looseObject({
      message: z.string().nullish(),
      type: z.string().nullish(),
      param: z.string().nullish(),
      code: z.union([z.string(), z.number()]).nullish(),
    }),
    z.string(),
  ]),
});

export function convertOpenAIUsage(u: OpenAIUsage): Usage {
  const usage: Usage = { inputTokens: u.prompt_tokens ?? 0, outputTokens: u.completion_tokens ?? 0 };
  const cached = u.prompt_tokens_details?.cached_tokens;
  if (cached) usage.cachedInputTokens = cached;
  const reasoning = u.completion_tokens_details?.reasoning_tokens;
  if (reasoning) usage.reasoningTokens = reasoning;
  return usage;
}

/** Reads `usage` from a JSON value if it is a well-formed OpenAI usage object. */
export function extractOpenAIUsage(value: unknown): Usage | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const raw = (value as { usage?: unknown }).usage;
  if (!raw || typeof raw !== 'object') return undefined;
  const parsed = openAIUsageSchema.safeParse(raw);
  return parsed.success ? convertOpenAIUsage(parsed.data) : undefined;
}

export interface UpstreamErrorInfo {
  message: string;
  type?: string;
  code?: string | null;
  param?: string | null;
}

/** The message, type and code of an OpenAI-compatible error body; falls back to the text itself. */
export function parseOpenAIError(text: string): UpstreamErrorInfo {
  try {
    const parsed = openAIErrorSchema.safeParse(JSON.parse(text));
    if (parsed.success) {
      const e = parsed.data.error;
      if (typeof e === 'string') return { message: e };
      return {
        message: e.message ?? 'upstream error',
        type: e.type ?? undefined,
        code: e.code === undefined || e.code === null ? null : String(e.code),
        param: e.param ?? null,
      };
    }
    const obj = JSON.parse(text) as { message?: unknown; detail?: unknown };
    if (typeof obj.message === 'string') return { message: obj.message };
    if (typeof obj.detail === 'string') return { message: obj.detail };
  } catch {
    // not JSON: fall through to the raw text
  }
  return { message: text.trim().slice(0, 2000) || 'upstream error' };
}
