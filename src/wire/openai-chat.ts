/**
 * OpenAI Chat Completions wire format (`POST /v1/chat/completions`, and the usage and
 * error objects the other OpenAI endpoints share), used by the client codec
 * (protocols/openai) and the OpenAI-compatible upstream adapter (providers/openai),
 * so neither side imports the other.
 *
 * Schemas are lenient: unknown fields pass, optional fields are nullish. What the
 * gateway writes to OpenAI clients is typed separately (the `...Out` interfaces).
 */
import { z } from 'zod';

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

/* ---------- Chat Completions request (what clients send, what the adapter builds) ---------- */

const textPartSchema = z.looseObject({ type: z.literal('text'), text: z.string() });

const imageUrlPartSchema = z.looseObject({
  type: z.literal('image_url'),
  // The documented shape is an object; a bare URL string is tolerated as some clients send it.
  image_url: z.union([z.looseObject({ url: z.string(), detail: z.string().nullish() }), z.string()]),
});

const userContentPartSchema = z.discriminatedUnion('type', [
  textPartSchema,
  imageUrlPartSchema,
  z.looseObject({ type: z.literal('input_audio'), input_audio: z.unknown() }),
  z.looseObject({ type: z.literal('file'), file: z.unknown() }),
]);

const assistantContentPartSchema = z.discriminatedUnion('type', [
  textPartSchema,
  z.looseObject({ type: z.literal('refusal'), refusal: z.string() }),
]);

const functionCallSchema = z.looseObject({ name: z.string(), arguments: z.string() });

export const openAIToolCallSchema = z.looseObject({
  id: z.string(),
  type: z.literal('function').nullish(),
  function: functionCallSchema,
});

const textContentSchema = z.union([z.string(), z.array(textPartSchema)]);

export const openAIChatMessageSchema = z.discriminatedUnion('role', [
  z.looseObject({ role: z.literal('system'), content: textContentSchema, name: z.string().nullish() }),
  z.looseObject({ role: z.literal('developer'), content: textContentSchema, name: z.string().nullish() }),
  z.looseObject({
    role: z.literal('user'),
    content: z.union([z.string(), z.array(userContentPartSchema)]),
    name: z.string().nullish(),
  }),
  z.looseObject({
    role: z.literal('assistant'),
    content: z.union([z.string(), z.array(assistantContentPartSchema)]).nullish(),
    refusal: z.string().nullish(),
    name: z.string().nullish(),
    tool_calls: z.array(openAIToolCallSchema).nullish(),
    function_call: functionCallSchema.nullish(),
    /** DeepSeek-style reasoning text, sent back by some clients. */
    reasoning_content: z.string().nullish(),
    audio: z.looseObject({ id: z.string() }).nullish(),
  }),
  z.looseObject({ role: z.literal('tool'), content: textContentSchema, tool_call_id: z.string() }),
  z.looseObject({ role: z.literal('function'), content: z.string().nullish(), name: z.string() }),
]);
export type OpenAIChatMessage = z.infer<typeof openAIChatMessageSchema>;

const functionDefinitionSchema = z.looseObject({
  name: z.string(),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});

export const openAIChatRequestSchema = z.looseObject({
  model: z.string(),
  messages: z.array(openAIChatMessageSchema),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  max_tokens: z.number().int().nullish(),
  max_completion_tokens: z.number().int().nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  presence_penalty: z.number().nullish(),
  frequency_penalty: z.number().nullish(),
  seed: z.number().int().nullish(),
  n: z.number().int().nullish(),
  user: z.string().nullish(),
  stop: z.union([z.string(), z.array(z.string())]).nullish(),
  tools: z.array(z.looseObject({ type: z.literal('function'), function: functionDefinitionSchema })).nullish(),
  tool_choice: z
    .union([
      z.enum(['auto', 'none', 'required']),
      z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string() }) }),
    ])
    .nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  /** Deprecated predecessors of tools / tool_choice. */
  functions: z.array(functionDefinitionSchema).nullish(),
  function_call: z.union([z.enum(['auto', 'none']), z.looseObject({ name: z.string() })]).nullish(),
  response_format: z
    .discriminatedUnion('type', [
      z.looseObject({ type: z.literal('text') }),
      z.looseObject({ type: z.literal('json_object') }),
      z.looseObject({
        type: z.literal('json_schema'),
        json_schema: z.looseObject({
          name: z.string(),
          description: z.string().nullish(),
          schema: z.record(z.string(), z.unknown()).nullish(),
          strict: z.boolean().nullish(),
        }),
      }),
    ])
    .nullish(),
  reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).nullish(),
});
export type OpenAIChatRequest = z.infer<typeof openAIChatRequestSchema>;

/* ---------- Chat Completions response and stream chunks (lenient: what upstreams answer) ---------- */

const responseToolCallSchema = z.looseObject({
  index: z.number().nullish(),
  id: z.string().nullish(),
  type: z.string().nullish(),
  function: z.looseObject({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
});

export const openAIChatCompletionSchema = z.looseObject({
  id: z.string().nullish(),
  created: z.number().nullish(),
  model: z.string().nullish(),
  choices: z.array(
    z.looseObject({
      index: z.number().nullish(),
      message: z.looseObject({
        content: z.string().nullish(),
        refusal: z.string().nullish(),
        // DeepSeek, vLLM and others return reasoning text under one of these names.
        reasoning_content: z.string().nullish().catch(null),
        reasoning: z.string().nullish().catch(null),
        tool_calls: z.array(responseToolCallSchema).nullish(),
        function_call: z.looseObject({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
      }),
      finish_reason: z.string().nullish(),
    }),
  ),
  usage: openAIUsageSchema.nullish().catch(null),
});
export type OpenAIChatCompletionResponse = z.infer<typeof openAIChatCompletionSchema>;

export const openAIChatChunkSchema = z.looseObject({
  id: z.string().nullish(),
  created: z.number().nullish(),
  model: z.string().nullish(),
  choices: z
    .array(
      z.looseObject({
        index: z.number().nullish(),
        delta: z
          .looseObject({
            role: z.string().nullish(),
            content: z.string().nullish(),
            refusal: z.string().nullish(),
            reasoning_content: z.string().nullish().catch(null),
            reasoning: z.string().nullish().catch(null),
            tool_calls: z.array(responseToolCallSchema).nullish(),
          })
          .nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .nullish(),
  usage: openAIUsageSchema.nullish().catch(null),
});
export type OpenAIChatChunk = z.infer<typeof openAIChatChunkSchema>;

/* ---------- What the gateway writes to OpenAI clients (exactly as OpenAI documents it) ---------- */

export type OpenAIFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface OpenAIToolCallOut {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface OpenAIUsageOut {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  completion_tokens_details: { reasoning_tokens: number };
}

export interface OpenAIChatCompletionOut {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: {
      role: 'assistant';
      content: string | null;
      refusal: null;
      tool_calls?: OpenAIToolCallOut[];
      reasoning_content?: string;
    };
    logprobs: null;
    finish_reason: OpenAIFinishReason;
  }>;
  usage?: OpenAIUsageOut;
}

export interface OpenAIChunkDelta {
  role?: 'assistant';
  content?: string;
  reasoning_content?: string;
  tool_calls?: Array<{ index: number; id?: string; type?: 'function'; function: { name?: string; arguments: string } }>;
}

export interface OpenAIChatChunkOut {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{ index: number; delta: OpenAIChunkDelta; logprobs: null; finish_reason: OpenAIFinishReason | null }>;
  usage?: OpenAIUsageOut | null;
}
