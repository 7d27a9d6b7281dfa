import type { ChatResult } from '../../core/canonical.ts';
import type { GeminiCandidateOut, GeminiGenerateContentResponseOut } from '../../wire/gemini.ts';
import { encodeGeminiParts, encodeGeminiUsage } from './encode-gemini-parts.ts';
import { mapToGeminiFinishReason } from './map-to-gemini-finish-reason.ts';

/**
 * Canonical result -> GenerateContentResponse as generateContent answers:
 * `{candidates:[{content:{parts,role:"model"}, finishReason, index:0}], usageMetadata,
 * modelVersion, responseId}` (Google's key order). modelVersion is the model name the
 * client asked for.
 */
export function encodeGeminiResponse(result: ChatResult, ctx: { model: string; requestId: string }): GeminiGenerateContentResponseOut {
  const parts = encodeGeminiParts(result.content);
  const candidate: GeminiCandidateOut = {
    content: parts.length > 0 ? { parts, role: 'model' } : { role: 'model' },
    finishReason: mapToGeminiFinishReason(result.finishReason, result.rawFinishReason),
    index: 0,
  };
  const out: GeminiGenerateContentResponseOut = { candidates: [candidate], modelVersion: ctx.model, responseId: result.id || ctx.requestId };
  if (!result.usage) return out;
  return { candidates: out.candidates, usageMetadata: encodeGeminiUsage(result.usage), modelVersion: out.modelVersion, responseId: out.responseId };
}
