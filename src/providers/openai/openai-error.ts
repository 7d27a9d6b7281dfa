import type { UpstreamErrorInfo } from '../../core/codec.ts';
import { openAIErrorSchema } from '../../wire/openai-chat.ts';

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
