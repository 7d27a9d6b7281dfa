/**
 * OpenAI Responses API wire format (`POST /v1/responses`), shared by the client
 * codec (protocols/responses) and the same-format upstream tap (providers/openai),
 * so neither side imports the other. Shapes follow the official SDK's
 * resources/responses/responses.d.ts.
 *
 * Schemas are lenient as the guide asks: unknown fields pass, optional fields are
 * nullish. What the gateway writes is typed separately (the `...Out` interfaces)
 * and is exactly what OpenAI documents.
 */
import { z } from 'zod';
import type { Usage } from '../core/canonical.ts';

/* ---------- Request: content parts ---------- */

export const responsesInputTextSchema = z.looseObject({ type: z.literal('input_text'), text: z.string() });

export const responsesInputImageSchema = z.looseObject({
  type: z.literal('input_image'),
  image_url: z.string().nullish(),
  file_id: z.string().nullish(),
  detail: z.string().nullish(),
});

export const responsesInputFileSchema = z.looseObject({
  type: z.literal('input_file'),
  file_id: z.string().nullish(),
  file_data: z.string().nullish(),
  file_url: z.string().nullish(),
  filename: z.string().nullish(),
});

/** Earlier assistant output sent back as input (a stored response's message item). */
export const responsesOutputTextSchema = z.looseObject({
  type: z.literal('output_text'),
  text: z.string(),
  annotations: z.array(z.unknown()).nullish(),
  logprobs: z.array(z.unknown()).nullish(),
});

export const responsesRefusalSchema = z.looseObject({ type: z.literal('refusal'), refusal: z.string() });

export const responsesMessageContentPartSchema = z.discriminatedUnion('type', [
  responsesInputTextSchema,
  responsesInputImageSchema,
  responsesInputFileSchema,
  responsesOutputTextSchema,
  responsesRefusalSchema,
]);
export type ResponsesMessageContentPart = z.infer<typeof responsesMessageContentPartSchema>;

/** What a function_call_output may carry besides a plain string. */
export const responsesToolOutputPartSchema = z.discriminatedUnion('type', [responsesInputTextSchema, responsesInputImageSchema, responsesInputFileSchema]);
export type ResponsesToolOutputPart = z.infer<typeof responsesToolOutputPartSchema>;

/* ---------- Request: input items ---------- */

/** EasyInputMessage, ResponseInputItem.Message and ResponseOutputMessage: `type` may be left out. */
export const responsesMessageItemSchema = z.looseObject({
  type: z.literal('message').nullish(),
  id: z.string().nullish(),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content: z.union([z.string(), z.array(responsesMessageContentPartSchema)]),
  status: z.string().nullish(),
  phase: z.string().nullish(),
});
export type ResponsesMessageItem = z.infer<typeof responsesMessageItemSchema>;

export const responsesFunctionCallItemSchema = z.looseObject({
  type: z.literal('function_call'),
  id: z.string().nullish(),
  call_id: z.string(),
  name: z.string(),
  arguments: z.string(),
  status: z.string().nullish(),
});
export type ResponsesFunctionCallItem = z.infer<typeof responsesFunctionCallItemSchema>;

export const responsesFunctionCallOutputItemSchema = z.looseObject({
  type: z.literal('function_call_output'),
  id: z.string().nullish(),
  call_id: z.string(),
  output: z.union([z.string(), z.array(responsesToolOutputPartSchema)]),
  status: z.string().nullish(),
});
export type ResponsesFunctionCallOutputItem = z.infer<typeof responsesFunctionCallOutputItemSchema>;

export const responsesReasoningItemSchema = z.looseObject({
  type: z.literal('reasoning'),
  id: z.string().nullish(),
  summary: z.array(z.looseObject({ type: z.string().nullish(), text: z.string() })).nullish(),
  content: z.array(z.looseObject({ type: z.string().nullish(), text: z.string() })).nullish(),
  encrypted_content: z.string().nullish(),
  status: z.string().nullish(),
});
export type ResponsesReasoningItem = z.infer<typeof responsesReasoningItemSchema>;

export const responsesItemReferenceSchema = z.looseObject({ type: z.literal('item_reference').nullish(), id: z.string() });

/** Item types the gateway reads; every other type is passed over with a warning. */
export const responsesInputItemSchemas = {
  message: responsesMessageItemSchema,
  function_call: responsesFunctionCallItemSchema,
  function_call_output: responsesFunctionCallOutputItemSchema,
  reasoning: responsesReasoningItemSchema,
  item_reference: responsesItemReferenceSchema,
} as const;

/* ---------- Request: tools and options ---------- */

export const responsesFunctionToolSchema = z.looseObject({
  type: z.literal('function'),
  name: z.string(),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});
export type ResponsesFunctionTool = z.infer<typeof responsesFunctionToolSchema>;

/** Any tool: function tools are read with responsesFunctionToolSchema, hosted ones only by type. */
export const responsesToolSchema = z.looseObject({ type: z.string() });

export const responsesToolChoiceFunctionSchema = z.looseObject({ type: z.literal('function'), name: z.string() });
export const responsesToolChoiceAllowedSchema = z.looseObject({
  type: z.literal('allowed_tools'),
  mode: z.enum(['auto', 'required']),
  tools: z.array(z.looseObject({ type: z.string() })),
});

export const responsesToolChoiceSchema = z.union([z.enum(['auto', 'none', 'required']), z.looseObject({ type: z.string() })]);

export const responsesTextFormatSchema = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text') }),
  z.looseObject({ type: z.literal('json_object') }),
  z.looseObject({
    type: z.literal('json_schema'),
    name: z.string(),
    schema: z.record(z.string(), z.unknown()),
    description: z.string().nullish(),
    strict: z.boolean().nullish(),
  }),
]);
export type ResponsesTextFormat = z.infer<typeof responsesTextFormatSchema>;

export const responsesReasoningEffortSchema = z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max']);

export const responsesRequestSchema = z.looseObject({
  model: z.string(),
  input: z.union([z.string(), z.array(z.unknown())]).nullish(),
  instructions: z.string().nullish(),
  tools: z.array(responsesToolSchema).nullish(),
  tool_choice: responsesToolChoiceSchema.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  text: z
    .looseObject({
      format: responsesTextFormatSchema.nullish(),
      verbosity: z.enum(['low', 'medium', 'high']).nullish(),
    })
    .nullish(),
  max_output_tokens: z.number().int().nullish(),
  max_tool_calls: z.number().int().nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  top_logprobs: z.number().int().nullish(),
  reasoning: z
    .looseObject({
      effort: responsesReasoningEffortSchema.nullish(),
      summary: z.enum(['auto', 'concise', 'detailed']).nullish(),
      generate_summary: z.enum(['auto', 'concise', 'detailed']).nullish(),
    })
    .nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_obfuscation: z.boolean().nullish() }).nullish(),
  user: z.string().nullish(),
  safety_identifier: z.string().nullish(),
  prompt_cache_key: z.string().nullish(),
  store: z.boolean().nullish(),
  background: z.boolean().nullish(),
  previous_response_id: z.string().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  truncation: z.enum(['auto', 'disabled']).nullish(),
  service_tier: z.string().nullish(),
  include: z.array(z.string()).nullish(),
});
export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;

/* ---------- Responses and stream events (lenient: what upstreams answer) ---------- */

export const responsesUsageSchema = z.looseObject({
  input_tokens: z.number().nullish(),
  output_tokens: z.number().nullish(),
  total_tokens: z.number().nullish(),
  input_tokens_details: z.looseObject({ cached_tokens: z.number().nullish(), cache_write_tokens: z.number().nullish() }).nullish(),
  output_tokens_details: z.looseObject({ reasoning_tokens: z.number().nullish() }).nullish(),
});
export type ResponsesUsage = z.infer<typeof responsesUsageSchema>;

export const responsesOutputItemSchema = z.looseObject({
  type: z.string(),
  id: z.string().nullish(),
  status: z.string().nullish(),
  role: z.string().nullish(),
  content: z.array(z.looseObject({ type: z.string(), text: z.string().nullish(), refusal: z.string().nullish() })).nullish(),
  summary: z.array(z.looseObject({ type: z.string().nullish(), text: z.string().nullish() })).nullish(),
  encrypted_content: z.string().nullish(),
  call_id: z.string().nullish(),
  name: z.string().nullish(),
  arguments: z.string().nullish(),
});
export type ResponsesOutputItem = z.infer<typeof responsesOutputItemSchema>;

export const responsesResponseSchema = z.looseObject({
  id: z.string().nullish(),
  object: z.string().nullish(),
  created_at: z.number().nullish(),
  status: z.string().nullish(),
  model: z.string().nullish(),
  output: z.array(responsesOutputItemSchema).nullish().catch(null),
  usage: responsesUsageSchema.nullish().catch(null),
  error: z.looseObject({ code: z.string().nullish(), message: z.string().nullish() }).nullish().catch(null),
  incomplete_details: z.looseObject({ reason: z.string().nullish() }).nullish().catch(null),
});
export type ResponsesResponse = z.infer<typeof responsesResponseSchema>;

/** Any stream event: `type` says which; each carries a `sequence_number`. */
export const responsesStreamEventSchema = z.looseObject({
  type: z.string(),
  sequence_number: z.number().nullish(),
  response: responsesResponseSchema.nullish(),
  item: responsesOutputItemSchema.nullish(),
  item_id: z.string().nullish(),
  output_index: z.number().nullish(),
  content_index: z.number().nullish(),
  summary_index: z.number().nullish(),
  delta: z.string().nullish(),
  code: z.string().nullish(),
  message: z.string().nullish(),
  param: z.string().nullish(),
});
export type ResponsesStreamEvent = z.infer<typeof responsesStreamEventSchema>;

/** Responses usage -> canonical (input_tokens already include the cached ones, as in canonical). */
export function convertResponsesUsage(u: ResponsesUsage): Usage {
  const usage: Usage = { inputTokens: u.input_tokens ?? 0, outputTokens: u.output_tokens ?? 0 };
  const cached = u.input_tokens_details?.cached_tokens;
  if (cached) usage.cachedInputTokens = cached;
  const written = u.input_tokens_details?.cache_write_tokens;
  if (written) usage.cacheWriteTokens = written;
  const reasoning = u.output_tokens_details?.reasoning_tokens;
  if (reasoning) usage.reasoningTokens = reasoning;
  return usage;
}

/* ---------- What the gateway writes to Responses clients (exactly as OpenAI documents it) ---------- */

export type ResponsesStatusOut = 'completed' | 'failed' | 'in_progress' | 'incomplete';
export type ResponsesItemStatusOut = 'in_progress' | 'completed' | 'incomplete';

export interface ResponsesOutputTextOut {
  type: 'output_text';
  text: string;
  annotations: unknown[];
  logprobs: unknown[];
}

export interface ResponsesMessageOut {
  id: string;
  type: 'message';
  status: ResponsesItemStatusOut;
  role: 'assistant';
  content: ResponsesOutputTextOut[];
}

export interface ResponsesFunctionCallOut {
  id: string;
  type: 'function_call';
  status: ResponsesItemStatusOut;
  arguments: string;
  call_id: string;
  name: string;
}

export interface ResponsesSummaryTextOut {
  type: 'summary_text';
  text: string;
}

export interface ResponsesReasoningOut {
  id: string;
  type: 'reasoning';
  summary: ResponsesSummaryTextOut[];
  /** The upstream's reasoning signature, so a client sending the item back gives it back. */
  encrypted_content?: string;
}

export type ResponsesOutputItemOut = ResponsesMessageOut | ResponsesFunctionCallOut | ResponsesReasoningOut;

export interface ResponsesUsageOut {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number; cache_write_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** The function tools offered, as OpenAI echoes them. */
export interface ResponsesFunctionToolOut {
  type: 'function';
  name: string;
  description: string | null;
  parameters: Record<string, unknown> | null;
  strict: boolean | null;
}

export interface ResponsesObjectOut {
  id: string;
  object: 'response';
  created_at: number;
  status: ResponsesStatusOut;
  background: boolean;
  completed_at?: number;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' | 'content_filter' } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  max_tool_calls: number | null;
  model: string;
  output: ResponsesOutputItemOut[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  prompt_cache_key: string | null;
  reasoning: { effort: string | null; summary: string | null };
  safety_identifier: string | null;
  service_tier: string;
  store: boolean;
  temperature: number | null;
  text: { format: Record<string, unknown>; verbosity: string };
  tool_choice: unknown;
  tools: ResponsesFunctionToolOut[];
  top_logprobs: number;
  top_p: number | null;
  truncation: 'auto' | 'disabled';
  usage: ResponsesUsageOut | null;
  user: string | null;
  metadata: Record<string, string>;
}

/** An input item as the gateway stores and lists it (`GET /v1/responses/{id}/input_items`): always with an id. */
export type ResponsesItemOut = { id: string; type: string } & Record<string, unknown>;

/** The stream events the gateway writes; the writer adds each one's `sequence_number`. */
export type ResponsesStreamEventOut =
  | { type: 'response.created' | 'response.in_progress' | 'response.completed' | 'response.incomplete' | 'response.failed'; response: ResponsesObjectOut }
  | { type: 'response.output_item.added' | 'response.output_item.done'; output_index: number; item: ResponsesOutputItemOut }
  | { type: 'response.content_part.added' | 'response.content_part.done'; item_id: string; output_index: number; content_index: number; part: ResponsesOutputTextOut }
  | { type: 'response.output_text.delta'; item_id: string; output_index: number; content_index: number; delta: string; logprobs: unknown[] }
  | { type: 'response.output_text.done'; item_id: string; output_index: number; content_index: number; text: string; logprobs: unknown[] }
  | {
      type: 'response.reasoning_summary_part.added' | 'response.reasoning_summary_part.done';
      item_id: string;
      output_index: number;
      summary_index: number;
      part: ResponsesSummaryTextOut;
    }
  | { type: 'response.reasoning_summary_text.delta'; item_id: string; output_index: number; summary_index: number; delta: string }
  | { type: 'response.reasoning_summary_text.done'; item_id: string; output_index: number; summary_index: number; text: string }
  | { type: 'response.function_call_arguments.delta'; item_id: string; output_index: number; delta: string }
  | { type: 'response.function_call_arguments.done'; item_id: string; output_index: number; name: string; arguments: string }
  | { type: 'error'; code: string | null; message: string; param: string | null };
