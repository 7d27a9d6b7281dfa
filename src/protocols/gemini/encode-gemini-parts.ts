import type { ChatResult, Usage } from '../../core/canonical.ts';
import type { GeminiPartOut, GeminiUsageMetadataOut } from '../../wire/gemini.ts';

/**
 * Canonical answer content -> Gemini response parts. Reasoning with text becomes
 * `thought: true` parts; a text-less reasoning part holding only a signature (how the
 * Gemini adapter and codec carry a signature Gemini put on a text or functionCall part)
 * is put back on the part that follows it, or on a closing empty text part, as Google
 * does. Tool calls become whole functionCall parts with their id (a documented field;
 * clients that echo it let the gateway pair results with calls by id).
 */
export function encodeGeminiParts(content: ChatResult['content']): GeminiPartOut[] {
  const parts: GeminiPartOut[] = [];
  let pending: string | undefined;
  const take = (part: GeminiPartOut): GeminiPartOut => {
    if (pending !== undefined) part.thoughtSignature = pending;
    pending = undefined;
    return part;
  };
  for (const p of content) {
    switch (p.type) {
      case 'reasoning':
        if (p.text !== '') parts.push(p.signature ? { text: p.text, thought: true, thoughtSignature: p.signature } : { text: p.text, thought: true });
        else if (p.signature) pending = p.signature;
        break;
      case 'text':
        parts.push(take({ text: p.text }));
        break;
      case 'tool_call':
        parts.push(take({ functionCall: { id: p.id, name: p.name, args: parseArgs(p.arguments) } }));
        break;
    }
  }
  if (pending !== undefined) parts.push(take({ text: '' }));
  return parts;
}

/**
 * Tool call arguments (JSON text) -> the object Gemini's `args` must be. Arguments that
 * are not a JSON object (a model's malformed output) become {}: a Gemini client cannot
 * receive anything else.
 */
export function parseArgs(args: string): Record<string, unknown> {
  if (args.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(args);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  return {};
}

/** Canonical usage -> usageMetadata. candidatesTokenCount excludes thinking tokens, as Gemini counts them. */
export function encodeGeminiUsage(u: Usage): GeminiUsageMetadataOut {
  const thoughts = u.reasoningTokens ?? 0;
  const out: GeminiUsageMetadataOut = {
    promptTokenCount: u.inputTokens,
    candidatesTokenCount: Math.max(0, u.outputTokens - thoughts),
    totalTokenCount: u.inputTokens + u.outputTokens,
  };
  if (thoughts > 0) out.thoughtsTokenCount = thoughts;
  if (u.cachedInputTokens) out.cachedContentTokenCount = u.cachedInputTokens;
  return out;
}
