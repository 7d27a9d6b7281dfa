import type { ChatResult, FinishReason, ReasoningPart, TextPart, ToolCallPart } from '../../core/canonical.ts';
import { geminiGenerateContentResponseSchema, type GeminiGenerateContentResponse, type GeminiPart } from '../../wire/gemini.ts';
import { convertGeminiUsage } from './convert-gemini-usage.ts';
import { geminiResponseKey, geminiToolCallId } from './gemini-tool-call-id.ts';
import { mapGeminiFinishReason } from './map-gemini-finish-reason.ts';

export interface GeminiParseOptions {
  /** Clock for `created` (Gemini sends no creation time); default Date.now. */
  now?: () => number;
}

/**
 * GenerateContentResponse -> canonical result, from candidates[0]:
 * - text parts -> text; `thought: true` parts -> reasoning (thoughtSignature as its signature);
 * - a thoughtSignature on a text or functionCall part -> a text-less reasoning part holding
 *   the signature just before that part, so it can be put back on the same part next turn;
 * - functionCall -> tool_call, arguments as JSON text, id from the response (see gemini-tool-call-id).
 * Image output (inlineData) and server-side code execution parts have no canonical form and are skipped.
 */
export function parseGeminiResponse(body: unknown, opts: GeminiParseOptions = {}): ChatResult {
  const parsed = geminiGenerateContentResponseSchema.safeParse(body);
  if (!parsed.success) throw new Error(`malformed GenerateContentResponse: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  const r = parsed.data;
  const key = geminiResponseKey(r.responseId);
  const candidate = r.candidates?.[0];
  const content: ChatResult['content'] = [];
  let calls = 0;
  for (const part of candidate?.content?.parts ?? []) {
    for (const p of convertResponsePart(part, () => geminiToolCallId(key, calls++))) content.push(p);
  }
  const { finishReason, rawFinishReason } = finishOf(r, calls > 0);
  const result: ChatResult = {
    id: r.responseId ?? `gemini-${key}`,
    model: r.modelVersion ?? '',
    created: createdOf(r, opts),
    content,
    finishReason,
  };
  if (rawFinishReason !== undefined) result.rawFinishReason = rawFinishReason;
  if (r.usageMetadata) result.usage = convertGeminiUsage(r.usageMetadata);
  return result;
}

/** One response part -> canonical parts; `nextId` is called once per function call. */
export function convertResponsePart(part: GeminiPart, nextId: () => string): Array<TextPart | ReasoningPart | ToolCallPart> {
  const out: Array<TextPart | ReasoningPart | ToolCallPart> = [];
  const signature = part.thoughtSignature ?? undefined;
  if (part.functionCall) {
    if (signature) out.push({ type: 'reasoning', text: '', signature });
    const fc = part.functionCall;
    out.push({ type: 'tool_call', id: fc.id ?? nextId(), name: fc.name, arguments: JSON.stringify(fc.args ?? {}) });
    return out;
  }
  if (typeof part.text === 'string') {
    if (part.thought === true) {
      const reasoning: ReasoningPart = { type: 'reasoning', text: part.text };
      if (signature) reasoning.signature = signature;
      out.push(reasoning);
      return out;
    }
    if (signature) out.push({ type: 'reasoning', text: '', signature });
    if (part.text !== '') out.push({ type: 'text', text: part.text });
    return out;
  }
  if (signature) out.push({ type: 'reasoning', text: '', signature });
  return out;
}

export function finishOf(r: GeminiGenerateContentResponse, hasToolCalls: boolean): { finishReason: FinishReason; rawFinishReason?: string } {
  const candidate = r.candidates?.[0];
  const blocked = r.promptFeedback?.blockReason;
  if (!candidate && blocked) return { finishReason: 'content_filter', rawFinishReason: blocked };
  const raw = candidate?.finishReason ?? undefined;
  const out: { finishReason: FinishReason; rawFinishReason?: string } = { finishReason: mapGeminiFinishReason(raw, hasToolCalls) };
  if (raw !== undefined) out.rawFinishReason = raw;
  return out;
}

export function createdOf(r: GeminiGenerateContentResponse, opts: GeminiParseOptions): number {
  if (r.createTime) {
    const t = Date.parse(r.createTime);
    if (!Number.isNaN(t)) return Math.floor(t / 1000);
  }
  return Math.floor((opts.now ?? Date.now)() / 1000);
}
