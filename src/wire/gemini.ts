/**
 * Gemini API (generativelanguage.googleapis.com, v1beta) wire schemas and types,
 * shared by the client codec (protocols/gemini) and the upstream adapter
 * (providers/gemini), so neither side imports the other.
 * Reference: https://ai.google.dev/api/generate-content (GenerateContentRequest,
 * GenerateContentResponse, Candidate, Part, UsageMetadata) and the @google/genai
 * types. Responses are read leniently (unknown fields pass, optional fields nullish):
 * Google adds fields often (e.g. `finishMessage`, `trafficType`, `modelStatus`).
 */
import { z } from 'zod';

/* ---------- Parts and contents (shared by requests and responses) ---------- */

export const geminiInlineDataSchema = z.looseObject({ mimeType: z.string().nullish(), data: z.string() });
export const geminiFileDataSchema = z.looseObject({ mimeType: z.string().nullish(), fileUri: z.string() });

export const geminiFunctionCallSchema = z.looseObject({
  /** Gemini 3 may set an id; older models leave it out. */
  id: z.string().nullish(),
  name: z.string(),
  args: z.record(z.string(), z.unknown()).nullish(),
});

export const geminiFunctionResponseSchema = z.looseObject({
  id: z.string().nullish(),
  name: z.string(),
  response: z.record(z.string(), z.unknown()).nullish(),
  /** Multimodal function responses (Gemini 3): media parts the tool produced. */
  parts: z.array(z.looseObject({ inlineData: geminiInlineDataSchema.nullish(), fileData: geminiFileDataSchema.nullish() })).nullish(),
});

export const geminiPartSchema = z.looseObject({
  text: z.string().nullish(),
  /** true on thought-summary parts (thinkingConfig.includeThoughts). */
  thought: z.boolean().nullish(),
  /** Opaque signature of the model's reasoning, to be sent back on the same part. */
  thoughtSignature: z.string().nullish(),
  inlineData: geminiInlineDataSchema.nullish(),
  fileData: geminiFileDataSchema.nullish(),
  functionCall: geminiFunctionCallSchema.nullish(),
  functionResponse: geminiFunctionResponseSchema.nullish(),
  executableCode: z.unknown().optional(),
  codeExecutionResult: z.unknown().optional(),
});
export type GeminiPart = z.infer<typeof geminiPartSchema>;

export const geminiContentSchema = z.looseObject({
  role: z.string().nullish(),
  parts: z.array(geminiPartSchema).nullish(),
});
export type GeminiContent = z.infer<typeof geminiContentSchema>;

/* ---------- GenerateContentRequest (what Gemini clients send) ---------- */

export const geminiFunctionDeclarationSchema = z.looseObject({
  name: z.string(),
  description: z.string().nullish(),
  /** OpenAPI-subset Schema (types may be upper case: "OBJECT"). */
  parameters: z.record(z.string(), z.unknown()).nullish(),
  /** Plain JSON Schema; mutually exclusive with `parameters`. */
  parametersJsonSchema: z.record(z.string(), z.unknown()).nullish(),
});

export const geminiToolSchema = z.looseObject({
  functionDeclarations: z.array(geminiFunctionDeclarationSchema).nullish(),
});

export const geminiToolConfigSchema = z.looseObject({
  functionCallingConfig: z
    .looseObject({
      mode: z.string().nullish(),
      allowedFunctionNames: z.array(z.string()).nullish(),
    })
    .nullish(),
});

export const geminiThinkingConfigSchema = z.looseObject({
  thinkingBudget: z.number().int().nullish(),
  includeThoughts: z.boolean().nullish(),
  /** Gemini 3: MINIMAL / LOW / MEDIUM / HIGH (any case). */
  thinkingLevel: z.string().nullish(),
});

export const geminiGenerationConfigSchema = z.looseObject({
  stopSequences: z.array(z.string()).nullish(),
  responseMimeType: z.string().nullish(),
  responseSchema: z.record(z.string(), z.unknown()).nullish(),
  responseJsonSchema: z.record(z.string(), z.unknown()).nullish(),
  responseModalities: z.array(z.string()).nullish(),
  candidateCount: z.number().int().nullish(),
  maxOutputTokens: z.number().int().nullish(),
  temperature: z.number().nullish(),
  topP: z.number().nullish(),
  topK: z.number().nullish(),
  seed: z.number().int().nullish(),
  presencePenalty: z.number().nullish(),
  frequencyPenalty: z.number().nullish(),
  responseLogprobs: z.boolean().nullish(),
  logprobs: z.number().int().nullish(),
  thinkingConfig: geminiThinkingConfigSchema.nullish(),
});

export const geminiGenerateContentRequestSchema = z.looseObject({
  contents: z.array(geminiContentSchema),
  tools: z.array(geminiToolSchema).nullish(),
  toolConfig: geminiToolConfigSchema.nullish(),
  safetySettings: z.array(z.unknown()).nullish(),
  systemInstruction: z.union([geminiContentSchema, z.string()]).nullish(),
  generationConfig: geminiGenerationConfigSchema.nullish(),
  cachedContent: z.string().nullish(),
});
export type GeminiGenerateContentRequest = z.infer<typeof geminiGenerateContentRequestSchema>;

/* ---------- GenerateContentResponse (what Gemini answers, per call or per stream chunk) ---------- */

export const geminiUsageMetadataSchema = z.looseObject({
  promptTokenCount: z.number().nullish(),
  candidatesTokenCount: z.number().nullish(),
  totalTokenCount: z.number().nullish(),
  thoughtsTokenCount: z.number().nullish(),
  cachedContentTokenCount: z.number().nullish(),
  /** Results of server-side tools (search, code execution) fed back to the model: billed as input. */
  toolUsePromptTokenCount: z.number().nullish(),
});
export type GeminiUsageMetadata = z.infer<typeof geminiUsageMetadataSchema>;

export const geminiCandidateSchema = z.looseObject({
  content: geminiContentSchema.nullish(),
  finishReason: z.string().nullish(),
  finishMessage: z.string().nullish(),
  index: z.number().nullish(),
});

export const geminiGenerateContentResponseSchema = z.looseObject({
  candidates: z.array(geminiCandidateSchema).nullish(),
  promptFeedback: z.looseObject({ blockReason: z.string().nullish(), blockReasonMessage: z.string().nullish() }).nullish(),
  usageMetadata: geminiUsageMetadataSchema.nullish(),
  modelVersion: z.string().nullish(),
  responseId: z.string().nullish(),
  /** Vertex AI only. */
  createTime: z.string().nullish(),
});
export type GeminiGenerateContentResponse = z.infer<typeof geminiGenerateContentResponseSchema>;

/* ---------- Errors: {"error":{"code","message","status","details"}} (google.rpc.Status) ---------- */

export const geminiErrorBodySchema = z.looseObject({
  error: z.looseObject({
    code: z.number().nullish(),
    message: z.string().nullish(),
    status: z.string().nullish(),
    details: z.array(z.unknown()).nullish(),
  }),
});

/* ---------- Output types: what the adapter sends and the codec answers ---------- */

export interface GeminiPartOut {
  text?: string;
  thought?: boolean;
  thoughtSignature?: string;
  inlineData?: { mimeType: string; data: string };
  fileData?: { mimeType?: string; fileUri: string };
  functionCall?: { id?: string; name: string; args: Record<string, unknown> };
  functionResponse?: { name: string; response: Record<string, unknown> };
}

export interface GeminiContentOut {
  role: 'user' | 'model';
  parts: GeminiPartOut[];
}

export interface GeminiFunctionDeclarationOut {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

export type GeminiFunctionCallingMode = 'AUTO' | 'ANY' | 'NONE';

export interface GeminiThinkingConfigOut {
  thinkingBudget?: number;
  thinkingLevel?: 'MINIMAL' | 'LOW' | 'MEDIUM' | 'HIGH';
  includeThoughts?: boolean;
}

export interface GeminiGenerationConfigOut {
  stopSequences?: string[];
  responseMimeType?: string;
  responseSchema?: Record<string, unknown>;
  candidateCount?: number;
  maxOutputTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  thinkingConfig?: GeminiThinkingConfigOut;
}

export interface GeminiGenerateContentRequestOut {
  contents: GeminiContentOut[];
  systemInstruction?: { parts: Array<{ text: string }> };
  tools?: Array<{ functionDeclarations: GeminiFunctionDeclarationOut[] }>;
  toolConfig?: { functionCallingConfig: { mode: GeminiFunctionCallingMode; allowedFunctionNames?: string[] } };
  generationConfig?: GeminiGenerationConfigOut;
}

export interface GeminiUsageMetadataOut {
  promptTokenCount: number;
  candidatesTokenCount: number;
  totalTokenCount: number;
  thoughtsTokenCount?: number;
  cachedContentTokenCount?: number;
}

export interface GeminiCandidateOut {
  content: { role: 'model'; parts?: GeminiPartOut[] };
  finishReason?: string;
  index: number;
}

export interface GeminiGenerateContentResponseOut {
  candidates: GeminiCandidateOut[];
  usageMetadata?: GeminiUsageMetadataOut;
  modelVersion: string;
  responseId: string;
}

export interface GeminiErrorBody {
  error: { code: number; message: string; status: string; details?: unknown[] };
}

/** The finish reasons Gemini documents (FinishReason enum). */
export const GEMINI_FINISH_REASONS = new Set([
  'FINISH_REASON_UNSPECIFIED',
  'STOP',
  'MAX_TOKENS',
  'SAFETY',
  'RECITATION',
  'LANGUAGE',
  'OTHER',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'MALFORMED_FUNCTION_CALL',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
  'IMAGE_RECITATION',
  'IMAGE_OTHER',
  'NO_IMAGE',
  'UNEXPECTED_TOOL_CALL',
  'TOO_MANY_TOOL_CALLS',
]);
