/**
 * Anthropic Messages API wire shapes (anthropic-version 2023-06-01), after the
 * published API reference: https://docs.claude.com/en/api/messages,
 * /en/docs/build-with-claude/streaming and /en/api/errors. Shared by the client
 * codec (protocols/anthropic) and the upstream adapter (providers/anthropic), so
 * neither side imports the other.
 *
 * Response and stream schemas are lenient (unknown fields pass, optional fields
 * nullish, unknown block and event types survive parsing so callers can skip
 * them); the request block schemas validate what a client sends us.
 */
import { z } from 'zod';
import type { FinishReason } from '../core/canonical.ts';

export const ANTHROPIC_VERSION = '2023-06-01';

// ---------------------------------------------------------------------------
// Requests (what the gateway sends upstream, and what Anthropic clients send us)
// ---------------------------------------------------------------------------

export type AnthropicCacheControl = Record<string, unknown>;

export type AnthropicImageSource = { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string };

export interface AnthropicTextBlockParam {
  type: 'text';
  text: string;
  cache_control?: AnthropicCacheControl;
}

export interface AnthropicImageBlockParam {
  type: 'image';
  source: AnthropicImageSource;
  cache_control?: AnthropicCacheControl;
}

export interface AnthropicToolUseBlockParam {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
  cache_control?: AnthropicCacheControl;
}

export interface AnthropicToolResultBlockParam {
  type: 'tool_result';
  tool_use_id: string;
  content?: string | Array<AnthropicTextBlockParam | AnthropicImageBlockParam>;
  is_error?: boolean;
  cache_control?: AnthropicCacheControl;
}

export interface AnthropicThinkingBlockParam {
  type: 'thinking';
  thinking: string;
  signature: string;
}

export interface AnthropicRedactedThinkingBlockParam {
  type: 'redacted_thinking';
  data: string;
}

export type AnthropicContentBlockParam =
  | AnthropicTextBlockParam
  | AnthropicImageBlockParam
  | AnthropicToolUseBlockParam
  | AnthropicToolResultBlockParam
  | AnthropicThinkingBlockParam
  | AnthropicRedactedThinkingBlockParam;

export interface AnthropicMessageParam {
  role: 'user' | 'assistant';
  content: string | AnthropicContentBlockParam[];
}

/**
 * A mid-conversation system message: an instruction that applies from its place in the
 * conversation on, without changing the cached prefix before it. Claude Opus 4.8 and later
 * accept one right after a user turn (never first, followed by an assistant turn or last);
 * older models answer 400 "role 'system' is not supported on this model". Claude Code sends
 * them with the `mid-conversation-system-2026-04-07` beta.
 */
export interface AnthropicSystemMessageParam {
  role: 'system';
  content: string | AnthropicTextBlockParam[];
}

/** The beta flag that asks for mid-conversation system messages. */
export const MID_CONVERSATION_SYSTEM_BETA = 'mid-conversation-system-2026-04-07';

export interface AnthropicToolParam {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
  cache_control?: AnthropicCacheControl;
}

export type AnthropicToolChoice =
  | { type: 'auto'; disable_parallel_tool_use?: boolean }
  | { type: 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' };

export type AnthropicThinkingConfig = { type: 'enabled'; budget_tokens: number } | { type: 'disabled' };

export interface AnthropicMessagesRequest {
  model: string;
  max_tokens: number;
  messages: Array<AnthropicMessageParam | AnthropicSystemMessageParam>;
  system?: string | AnthropicTextBlockParam[];
  metadata?: { user_id?: string | null };
  stop_sequences?: string[];
  stream?: boolean;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  tools?: AnthropicToolParam[];
  tool_choice?: AnthropicToolChoice;
  thinking?: AnthropicThinkingConfig;
}

// Request schemas, for decoding what Anthropic clients send. Content blocks are
// checked one by one (see anthropicBlockSchemas): a known block type is validated,
// and a type the gateway does not know (Anthropic adds them often: server_tool_use,
// web_search_tool_result, document, search_result, container_upload, mcp_tool_use...)
// is left to the decoder, which warns instead of failing. Tool, tool choice and
// thinking types stay open for the same reason.

const cacheControlSchema = z.record(z.string(), z.unknown());

export const anthropicTextBlockSchema = z.looseObject({
  type: z.literal('text'),
  text: z.string(),
  cache_control: cacheControlSchema.nullish(),
});

export const anthropicImageBlockSchema = z.looseObject({
  type: z.literal('image'),
  source: z.discriminatedUnion('type', [
    z.looseObject({ type: z.literal('base64'), media_type: z.string(), data: z.string() }),
    z.looseObject({ type: z.literal('url'), url: z.string() }),
  ]),
  cache_control: cacheControlSchema.nullish(),
});

export const anthropicToolUseBlockSchema = z.looseObject({
  type: z.literal('tool_use'),
  id: z.string(),
  name: z.string(),
  input: z.record(z.string(), z.unknown()),
  cache_control: cacheControlSchema.nullish(),
});

/** tool_result content blocks are themselves checked with the block schemas. */
export const anthropicToolResultBlockSchema = z.looseObject({
  type: z.literal('tool_result'),
  tool_use_id: z.string(),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string() }))]).nullish(),
  is_error: z.boolean().nullish(),
  cache_control: cacheControlSchema.nullish(),
});

export const anthropicThinkingBlockSchema = z.looseObject({
  type: z.literal('thinking'),
  thinking: z.string(),
  signature: z.string().nullish(),
});

export const anthropicRedactedThinkingBlockSchema = z.looseObject({
  type: z.literal('redacted_thinking'),
  data: z.string(),
});

export const anthropicBlockSchemas = {
  text: anthropicTextBlockSchema,
  image: anthropicImageBlockSchema,
  tool_use: anthropicToolUseBlockSchema,
  tool_result: anthropicToolResultBlockSchema,
  thinking: anthropicThinkingBlockSchema,
  redacted_thinking: anthropicRedactedThinkingBlockSchema,
} as const;

export const anthropicToolSchema = z.looseObject({
  /** Absent or 'custom' for client tools; server tools carry a versioned type (web_search_20250305, ...). */
  type: z.string().nullish(),
  /** Required for client tools (the decoder checks); some server tool types (mcp_toolset) have none. */
  name: z.string().nullish(),
  description: z.string().nullish(),
  input_schema: z.record(z.string(), z.unknown()).nullish(),
  cache_control: cacheControlSchema.nullish(),
});

export const anthropicToolChoiceSchema = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('auto'), disable_parallel_tool_use: z.boolean().nullish() }),
  z.looseObject({ type: z.literal('any'), disable_parallel_tool_use: z.boolean().nullish() }),
  z.looseObject({ type: z.literal('tool'), name: z.string(), disable_parallel_tool_use: z.boolean().nullish() }),
  z.looseObject({ type: z.literal('none') }),
]);

/** `adaptive` (Claude decides how much to think) and `between_tools` come with newer API versions. */
export const anthropicThinkingSchema = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('enabled'), budget_tokens: z.number().int() }),
  z.looseObject({ type: z.literal('disabled') }),
  z.looseObject({ type: z.literal('adaptive') }),
  z.looseObject({ type: z.literal('between_tools') }),
]);

/** Newer API versions' `output_config.format`: a JSON schema the answer must follow. */
export const anthropicJsonOutputFormatSchema = z.looseObject({ type: z.literal('json_schema'), schema: z.record(z.string(), z.unknown()) });

/** The types of tool choice, thinking and effort the decoder knows; others are tolerated with a warning. */
export const ANTHROPIC_TOOL_CHOICE_TYPES = ['auto', 'any', 'tool', 'none'] as const;
export const ANTHROPIC_THINKING_TYPES = ['enabled', 'disabled', 'adaptive', 'between_tools'] as const;
export const ANTHROPIC_EFFORTS = ['low', 'medium', 'high', 'xhigh', 'max'] as const;

const openTypeSchema = z.looseObject({ type: z.string() });

/**
 * The request as the decoder reads it. Open where Anthropic keeps adding things (block,
 * tool, tool choice, thinking and output format types, effort levels, message and top-level
 * fields), so a client that knows newer API features still decodes; exact where a value
 * must be right for any upstream (model, max_tokens, roles, sampling ranges).
 */
export const anthropicMessagesRequestSchema = z.looseObject({
  model: z.string().min(1),
  max_tokens: z.number().int().min(1),
  messages: z.array(
    z.looseObject({
      /** 'system': a mid-conversation system message (AnthropicSystemMessageParam). */
      role: z.enum(['user', 'assistant', 'system']),
      content: z.union([z.string(), z.array(openTypeSchema)]),
    }),
  ),
  system: z.union([z.string(), z.array(openTypeSchema)]).nullish(),
  metadata: z.looseObject({ user_id: z.string().nullish() }).nullish(),
  stop_sequences: z.array(z.string()).nullish(),
  stream: z.boolean().nullish(),
  temperature: z.number().min(0).max(1).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  top_k: z.number().int().min(0).nullish(),
  tools: z.array(anthropicToolSchema).nullish(),
  tool_choice: openTypeSchema.nullish(),
  thinking: openTypeSchema.nullish(),
  output_config: z
    .looseObject({
      effort: z.string().nullish(),
      format: openTypeSchema.nullish(),
    })
    .nullish(),
});
export type AnthropicMessagesRequestIn = z.infer<typeof anthropicMessagesRequestSchema>;

// ---------------------------------------------------------------------------
// Responses (lenient)
// ---------------------------------------------------------------------------

export const anthropicUsageSchema = z.looseObject({
  input_tokens: z.number().nullish(),
  output_tokens: z.number().nullish(),
  cache_creation_input_tokens: z.number().nullish(),
  cache_read_input_tokens: z.number().nullish(),
  /** Reported by newer API versions: the part of output_tokens spent thinking. */
  output_tokens_details: z.looseObject({ thinking_tokens: z.number().nullish() }).nullish(),
});
export type AnthropicUsage = z.infer<typeof anthropicUsageSchema>;

/** One response content block; `type` is open so server-tool blocks parse and can be skipped. */
export const anthropicContentBlockSchema = z.looseObject({
  type: z.string(),
  text: z.string().nullish(),
  thinking: z.string().nullish(),
  signature: z.string().nullish(),
  data: z.string().nullish(),
  id: z.string().nullish(),
  name: z.string().nullish(),
  input: z.unknown().optional(),
});
export type AnthropicContentBlock = z.infer<typeof anthropicContentBlockSchema>;

export const anthropicMessageSchema = z.looseObject({
  id: z.string().nullish(),
  type: z.string().nullish(),
  role: z.string().nullish(),
  model: z.string().nullish(),
  content: z.array(anthropicContentBlockSchema).nullish(),
  stop_reason: z.string().nullish(),
  stop_sequence: z.string().nullish(),
  usage: anthropicUsageSchema.nullish(),
});
export type AnthropicMessage = z.infer<typeof anthropicMessageSchema>;

/** The message object the gateway returns to Anthropic clients (exact, not lenient). */
export interface AnthropicUsageOut {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

export type AnthropicContentBlockOut =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'redacted_thinking'; data: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

export interface AnthropicMessageOut {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: AnthropicContentBlockOut[];
  stop_reason: string | null;
  stop_sequence: string | null;
  usage: AnthropicUsageOut;
}

// ---------------------------------------------------------------------------
// Helpers both sides use: the decoder maps stop_reason, the encoder checks a raw
// one against it; both turn canonical tool arguments into Anthropic's input object
// ---------------------------------------------------------------------------

/** Anthropic `stop_reason` -> canonical finish reason (the raw value is kept beside it). */
export function mapAnthropicStopReason(stopReason: string | null | undefined): FinishReason {
  switch (stopReason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    case 'pause_turn':
    default:
      // pause_turn: a server tool loop paused; the client is meant to send the turn back.
      return 'other';
  }
}

/** Tool arguments travel as JSON text in canonical; Anthropic wants the object. */
export function parseToolInput(args: string): { ok: boolean; value: Record<string, unknown> } {
  if (args.trim() === '') return { ok: true, value: {} };
  try {
    const value: unknown = JSON.parse(args);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return { ok: true, value: value as Record<string, unknown> };
  } catch {
    // Falls through: not JSON.
  }
  return { ok: false, value: {} };
}

// ---------------------------------------------------------------------------
// Stream events (lenient; unknown event types are skipped by the decoder)
// ---------------------------------------------------------------------------

export const anthropicMessageStartSchema = z.looseObject({
  type: z.literal('message_start'),
  message: anthropicMessageSchema,
});

export const anthropicContentBlockStartSchema = z.looseObject({
  type: z.literal('content_block_start'),
  index: z.number().int(),
  content_block: anthropicContentBlockSchema,
});

export const anthropicContentBlockDeltaSchema = z.looseObject({
  type: z.literal('content_block_delta'),
  index: z.number().int(),
  delta: z.looseObject({
    type: z.string(),
    text: z.string().nullish(),
    partial_json: z.string().nullish(),
    thinking: z.string().nullish(),
    signature: z.string().nullish(),
  }),
});

export const anthropicContentBlockStopSchema = z.looseObject({
  type: z.literal('content_block_stop'),
  index: z.number().int(),
});

export const anthropicMessageDeltaSchema = z.looseObject({
  type: z.literal('message_delta'),
  delta: z
    .looseObject({
      stop_reason: z.string().nullish(),
      stop_sequence: z.string().nullish(),
    })
    .nullish(),
  usage: anthropicUsageSchema.nullish(),
});

export const anthropicErrorSchema = z.looseObject({
  type: z.string().nullish(),
  error: z.looseObject({
    type: z.string().nullish(),
    message: z.string().nullish(),
  }),
  request_id: z.string().nullish(),
});
export type AnthropicError = z.infer<typeof anthropicErrorSchema>;

/** POST /v1/messages/count_tokens answer. */
export const anthropicCountTokensSchema = z.looseObject({ input_tokens: z.number() });

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** The error types Anthropic documents, with the HTTP status each one comes with. */
export const ANTHROPIC_ERROR_STATUS = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  conflict_error: 409,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
} as const;
export type AnthropicErrorType = keyof typeof ANTHROPIC_ERROR_STATUS;

export function isAnthropicErrorType(type: string | null | undefined): type is AnthropicErrorType {
  return typeof type === 'string' && Object.hasOwn(ANTHROPIC_ERROR_STATUS, type);
}

export interface AnthropicErrorBody {
  type: 'error';
  error: { type: string; message: string };
}
