import type { UpstreamErrorInfo } from '../../core/codec.ts';
import { anthropicErrorSchema } from '../../wire/anthropic.ts';

/** `{"type":"error","error":{"type","message"}}` -> message and type; falls back to the text itself. */
export function parseAnthropicError(text: string): UpstreamErrorInfo {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    const trimmed = text.trim();
    return { message: trimmed === '' ? 'Upstream error with an empty body.' : trimmed.slice(0, 1000) };
  }
  const parsed = anthropicErrorSchema.safeParse(json);
  if (!parsed.success) return { message: text.trim().slice(0, 1000) };
  const e = parsed.data.error;
  const out: { message: string; type?: string; code: null; param: null } = { message: e.message ?? 'Upstream error.', code: null, param: null };
  if (e.type) out.type = e.type;
  return out;
}
