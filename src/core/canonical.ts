/**
 * The canonical model every ingress codec decodes into and every upstream adapter
 * encodes from (N + M converters, never N x M). Pure types, no I/O.
 * Shaped after the Vercel AI SDK's LanguageModel spec: typed prompt parts, stream
 * parts with start/delta/end per content block, usage and finish reason.
 */

export type ImageSource =
  | { kind: 'base64'; mediaType: string; data: string }
  | { kind: 'url'; url: string };

export interface TextPart {
  type: 'text';
  text: string;
  /** Anthropic prompt-caching marker, kept so Anthropic upstreams receive it. */
  cacheControl?: Record<string, unknown>;
}

export interface ImagePart {
  type: 'image';
  source: ImageSource;
  /** OpenAI's `detail` hint. */
  detail?: string;
}

export interface ReasoningPart {
  type: 'reasoning';
  text: string;
  /** Anthropic thinking signature (or Gemini thought signature), needed to send it back. */
  signature?: string;
  /** Anthropic redacted_thinking data. */
  redactedData?: string;
}

export interface ToolCallPart {
  type: 'tool_call';
  id: string;
  name: string;
  /** JSON text of the arguments, as OpenAI carries it. */
  arguments: string;
}

export interface ToolResultPart {
  type: 'tool_result';
  toolCallId: string;
  /** The tool's name when known (Gemini needs it; OpenAI and Anthropic do not carry it). */
  name?: string;
  content: Array<TextPart | ImagePart>;
  isError?: boolean;
}

export type ContentPart = TextPart | ImagePart | ReasoningPart | ToolCallPart | ToolResultPart;

export type Role = 'system' | 'user' | 'assistant' | 'tool';

export interface Message {
  role: Role;
  content: ContentPart[];
  /** OpenAI `name` on a message. */
  name?: string;
}

export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON Schema of the arguments. */
  parameters: Record<string, unknown>;
  strict?: boolean;
  cacheControl?: Record<string, unknown>;
}

export type ToolChoice =
  | { type: 'auto' }
  | { type: 'none' }
  | { type: 'required' }
  | { type: 'tool'; name: string };

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; name?: string; description?: string; schema: Record<string, unknown>; strict?: boolean };

export interface ReasoningConfig {
  /** OpenAI-style effort. */
  effort?: 'minimal' | 'low' | 'medium' | 'high';
  /** Anthropic/Gemini-style token budget. */
  budgetTokens?: number;
  /** Whether thinking text should be returned (Gemini includeThoughts). */
  includeThoughts?: boolean;
  enabled?: boolean;
}

export interface ChatRequest {
  /** The model name the client asked for. */
  model: string;
  /** System instructions, in order (OpenAI system/developer messages, Anthropic `system`, Gemini systemInstruction). */
  system: TextPart[];
  messages: Message[];
  stream: boolean;
  /** Client asked for usage in the stream (OpenAI stream_options.include_usage). */
  streamUsage?: boolean;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  stop?: string[];
  presencePenalty?: number;
  frequencyPenalty?: number;
  seed?: number;
  n?: number;
  user?: string;
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  responseFormat?: ResponseFormat;
  reasoning?: ReasoningConfig;
  /** Provider-specific headers to pass on when the upstream speaks that protocol (e.g. anthropic-beta). */
  passHeaders?: Record<string, string>;
  /** Client parameters the canonical model cannot carry to another format (set by the ingress codec). */
  warnings?: Warning[];
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'error' | 'other';

export interface Usage {
  inputTokens: number;
  /** Of inputTokens, read from the provider's prompt cache. */
  cachedInputTokens?: number;
  /** Of inputTokens, written to the provider's prompt cache. */
  cacheWriteTokens?: number;
  outputTokens: number;
  /** Of outputTokens, spent on reasoning. */
  reasoningTokens?: number;
  /** True when the gateway counted the tokens itself. */
  estimated?: boolean;
}

export interface ChatResult {
  id: string;
  model: string;
  created: number;
  content: Array<TextPart | ReasoningPart | ToolCallPart>;
  finishReason: FinishReason;
  /** The provider's own stop/finish reason. */
  rawFinishReason?: string;
  usage?: Usage;
}

/** Stream events: start/delta/end per content block, a finish event and errors as events. */
export type StreamEvent =
  | { type: 'start'; id: string; model: string; created: number; usage?: Partial<Usage> }
  | { type: 'text-start'; index: number }
  | { type: 'text-delta'; index: number; delta: string }
  | { type: 'text-end'; index: number }
  | { type: 'reasoning-start'; index: number; redactedData?: string }
  | { type: 'reasoning-delta'; index: number; delta: string }
  | { type: 'reasoning-signature'; index: number; signature: string }
  | { type: 'reasoning-end'; index: number }
  | { type: 'tool-call-start'; index: number; id: string; name: string }
  | { type: 'tool-call-delta'; index: number; argumentsDelta: string }
  | { type: 'tool-call-end'; index: number }
  | { type: 'finish'; finishReason: FinishReason; rawFinishReason?: string; usage?: Usage }
  | { type: 'error'; message: string; status?: number; errorType?: string };

/** A parameter the upstream could not honour (logged and returned in x-switchyard-warnings). */
export interface Warning {
  param: string;
  message: string;
}
