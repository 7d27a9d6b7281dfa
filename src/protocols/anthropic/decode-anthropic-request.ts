import type { z } from 'zod';
import type {
  ChatRequest,
  ContentPart,
  ImagePart,
  Message,
  ReasoningConfig,
  ReasoningPart,
  TextPart,
  ToolChoice,
  ToolDefinition,
  ToolResultPart,
} from '../../core/canonical.ts';
import { GatewayError } from '../../core/errors.ts';
import {
  anthropicBlockSchemas,
  anthropicImageBlockSchema,
  anthropicMessagesRequestSchema,
  anthropicTextBlockSchema,
  type AnthropicMessagesRequestIn,
} from '../../providers/anthropic/anthropic-api.ts';

type BlockType = keyof typeof anthropicBlockSchemas;
type Block<T extends BlockType> = z.infer<(typeof anthropicBlockSchemas)[T]>;

/**
 * Anthropic Messages request body -> canonical request, for cross-format routes
 * (an Anthropic client talking to an OpenAI or Gemini model). Errors read like
 * Anthropic's own (`max_tokens: Field required`), with the dotted path as `param`.
 *
 * What canonical cannot carry is refused rather than dropped: server tools
 * (web_search_..., bash_..., ...) and block types other than text, image, tool_use,
 * tool_result, thinking and redacted_thinking.
 */
export function decodeAnthropicRequest(body: unknown, ctx?: { model?: string; stream?: boolean }): ChatRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError('invalid_request_error', 'The request body must be a JSON object.', { publicCode: null });
  }
  const input: Record<string, unknown> = ctx?.model !== undefined && (body as Record<string, unknown>).model === undefined ? { ...body, model: ctx.model } : { ...body };
  for (const field of ['model', 'max_tokens', 'messages'] as const) {
    if (input[field] === undefined || input[field] === null) throw missing(field);
  }
  const parsed = anthropicMessagesRequestSchema.safeParse(input);
  if (!parsed.success) throw issueToError(parsed.error.issues[0], '', input);
  const b = parsed.data;

  const stream = ctx?.stream ?? b.stream === true;
  const req: ChatRequest = {
    model: ctx?.model ?? b.model,
    system: convertSystem(b.system),
    messages: convertMessages(b.messages),
    stream,
    maxTokens: b.max_tokens,
  };
  // Anthropic streams always report usage.
  if (stream) req.streamUsage = true;
  if (b.temperature != null) req.temperature = b.temperature;
  if (b.top_p != null) req.topP = b.top_p;
  if (b.top_k != null) req.topK = b.top_k;
  if (b.stop_sequences != null && b.stop_sequences.length > 0) req.stop = b.stop_sequences;
  if (b.metadata?.user_id) req.user = b.metadata.user_id;

  if (b.tools != null) req.tools = convertTools(b.tools);
  if (b.tool_choice != null) {
    const tc = b.tool_choice;
    req.toolChoice = convertToolChoice(tc);
    if (tc.type !== 'none' && tc.disable_parallel_tool_use === true) req.parallelToolCalls = false;
  }
  const reasoning = convertReasoning(b.thinking, b.output_config?.effort);
  if (reasoning) req.reasoning = reasoning;
  const format = b.output_config?.format;
  if (format) req.responseFormat = { type: 'json_schema', schema: format.schema };
  return req;
}

/**
 * `thinking` and (newer API versions) `output_config.effort` -> canonical reasoning.
 * Adaptive thinking has no budget: the upstream picks one for the effort, or its default.
 */
function convertReasoning(
  thinking: AnthropicMessagesRequestIn['thinking'],
  effort: NonNullable<AnthropicMessagesRequestIn['output_config']>['effort'],
): ReasoningConfig | undefined {
  if (thinking?.type === 'disabled') return { enabled: false };
  const out: ReasoningConfig = {};
  if (thinking) out.enabled = true;
  if (thinking?.type === 'enabled') out.budgetTokens = thinking.budget_tokens;
  // Canonical efforts stop at 'high'; 'xhigh' and 'max' ask for the most the upstream offers.
  if (effort) out.effort = effort === 'xhigh' || effort === 'max' ? 'high' : effort;
  return Object.keys(out).length > 0 ? out : undefined;
}

function convertSystem(system: AnthropicMessagesRequestIn['system']): TextPart[] {
  if (system == null) return [];
  if (typeof system === 'string') return system === '' ? [] : [{ type: 'text', text: system }];
  return system.map((block, i) => {
    const parsed = anthropicTextBlockSchema.safeParse(block);
    if (!parsed.success) throw issueToError(parsed.error.issues[0], `system.${i}`, block);
    return textPart(parsed.data);
  });
}

function convertMessages(messages: AnthropicMessagesRequestIn['messages']): Message[] {
  const out: Message[] = [];
  // Tool results need the tool's name for Gemini; Anthropic carries it only on the tool_use.
  const toolNames = new Map<string, string>();

  messages.forEach((m, i) => {
    if (typeof m.content === 'string') {
      out.push({ role: m.role, content: [{ type: 'text', text: m.content }] });
      return;
    }
    const parts: ContentPart[] = m.content.map((raw, j) => convertBlock(raw, m.role, `messages.${i}.content.${j}`, toolNames));
    if (m.role === 'assistant') {
      out.push({ role: 'assistant', content: parts });
      return;
    }
    // A user turn mixes tool results and the user's own content; canonical keeps them in
    // `tool` and `user` messages, in the order they came.
    const runs: Message[] = [];
    for (const part of parts) {
      const role = part.type === 'tool_result' ? 'tool' : 'user';
      const last = runs[runs.length - 1];
      if (last && last.role === role) last.content.push(part);
      else runs.push({ role, content: [part] });
    }
    if (runs.length === 0) runs.push({ role: 'user', content: [] });
    out.push(...runs);
  });
  return out;
}

function convertBlock(raw: { type: string }, role: 'user' | 'assistant', param: string, toolNames: Map<string, string>): ContentPart {
  if (!isBlockType(raw.type)) throw unsupportedBlock(raw.type, param);
  switch (raw.type) {
    case 'text':
      return textPart(parseBlock('text', raw, param));
    case 'image':
      return imagePart(parseBlock('image', raw, param));
    case 'tool_use': {
      if (role !== 'assistant') throw misplaced('tool_use', 'assistant', param);
      const b = parseBlock('tool_use', raw, param);
      toolNames.set(b.id, b.name);
      return { type: 'tool_call', id: b.id, name: b.name, arguments: JSON.stringify(b.input) };
    }
    case 'tool_result': {
      if (role !== 'user') throw misplaced('tool_result', 'user', param);
      const b = parseBlock('tool_result', raw, param);
      const part: ToolResultPart = { type: 'tool_result', toolCallId: b.tool_use_id, content: toolResultContent(b.content, `${param}.content`) };
      const name = toolNames.get(b.tool_use_id);
      if (name !== undefined) part.name = name;
      if (b.is_error === true) part.isError = true;
      return part;
    }
    case 'thinking': {
      if (role !== 'assistant') throw misplaced('thinking', 'assistant', param);
      const b = parseBlock('thinking', raw, param);
      const part: ReasoningPart = { type: 'reasoning', text: b.thinking };
      if (b.signature) part.signature = b.signature;
      return part;
    }
    case 'redacted_thinking': {
      if (role !== 'assistant') throw misplaced('redacted_thinking', 'assistant', param);
      const b = parseBlock('redacted_thinking', raw, param);
      return { type: 'reasoning', text: '', redactedData: b.data };
    }
  }
}

function toolResultContent(content: Block<'tool_result'>['content'], param: string): Array<TextPart | ImagePart> {
  if (content == null) return [];
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return content.map((raw, k) => {
    const p = `${param}.${k}`;
    if (raw.type === 'text') return textPart(parseBlock('text', raw, p));
    if (raw.type === 'image') return imagePart(parseBlock('image', raw, p));
    throw unsupportedBlock(raw.type, p);
  });
}

function isBlockType(type: string): type is BlockType {
  return Object.hasOwn(anthropicBlockSchemas, type);
}

function parseBlock<T extends BlockType>(type: T, raw: unknown, param: string): Block<T> {
  const parsed = anthropicBlockSchemas[type].safeParse(raw);
  if (!parsed.success) throw issueToError(parsed.error.issues[0], param, raw);
  return parsed.data as Block<T>;
}

function textPart(b: z.infer<typeof anthropicTextBlockSchema>): TextPart {
  const part: TextPart = { type: 'text', text: b.text };
  if (b.cache_control) part.cacheControl = b.cache_control;
  return part;
}

function imagePart(b: z.infer<typeof anthropicImageBlockSchema>): ImagePart {
  const s = b.source;
  return { type: 'image', source: s.type === 'base64' ? { kind: 'base64', mediaType: s.media_type, data: s.data } : { kind: 'url', url: s.url } };
}

function convertTools(tools: NonNullable<AnthropicMessagesRequestIn['tools']>): ToolDefinition[] {
  return tools.map((t, i) => {
    if (t.type != null && t.type !== 'custom') {
      throw new GatewayError(
        'invalid_request_error',
        `tools.${i}: server tool '${t.type}' runs only on Anthropic models and cannot be used with this model.`,
        { param: `tools.${i}.type`, publicCode: null },
      );
    }
    // Anthropic requires input_schema; a client that left it out means a tool without parameters.
    const tool: ToolDefinition = { name: t.name, parameters: t.input_schema ?? { type: 'object' } };
    if (t.description != null) tool.description = t.description;
    if (t.cache_control) tool.cacheControl = t.cache_control;
    return tool;
  });
}

function convertToolChoice(tc: NonNullable<AnthropicMessagesRequestIn['tool_choice']>): ToolChoice {
  switch (tc.type) {
    case 'auto':
      return { type: 'auto' };
    case 'any':
      return { type: 'required' };
    case 'tool':
      return { type: 'tool', name: tc.name };
    case 'none':
      return { type: 'none' };
  }
}

function missing(param: string): GatewayError {
  return new GatewayError('missing_field', `${param}: Field required`, { param, publicCode: null });
}

function unsupportedBlock(type: string, param: string): GatewayError {
  return new GatewayError('invalid_request_error', `${param}.type: content block type '${type}' is not supported for this model.`, {
    param: `${param}.type`,
    publicCode: null,
  });
}

function misplaced(type: string, role: string, param: string): GatewayError {
  return new GatewayError('invalid_request_error', `${param}: '${type}' blocks are only allowed in ${role} messages.`, { param, publicCode: null });
}

/** A zod issue -> Anthropic's wording (`messages.0.content: Field required`), with the dotted path as `param`. */
function issueToError(issue: z.core.$ZodIssue | undefined, prefix: string, input: unknown): GatewayError {
  const rel = issue?.path ?? [];
  const param = [prefix, ...rel.map(String)].filter((s) => s !== '').join('.') || 'body';
  if (rel.length > 0 && valueAt(input, rel) === undefined) return missing(param);
  return new GatewayError('invalid_request_error', `${param}: ${issue?.message ?? 'invalid input'}`, { param, publicCode: null });
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}
