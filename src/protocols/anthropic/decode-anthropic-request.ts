import type { z } from 'zod';
import type {
  ChatRequest,
  ContentPart,
  ImagePart,
  Message,
  ReasoningConfig,
  ReasoningPart,
  ResponseFormat,
  TextPart,
  ToolChoice,
  ToolDefinition,
  ToolResultPart,
} from '../../core/canonical.ts';
import { GatewayError } from '../../core/errors.ts';
import { WarningSink, warnUncarried } from '../../core/warn-uncarried.ts';
import {
  ANTHROPIC_EFFORTS,
  ANTHROPIC_THINKING_TYPES,
  ANTHROPIC_TOOL_CHOICE_TYPES,
  anthropicBlockSchemas,
  anthropicImageBlockSchema,
  anthropicJsonOutputFormatSchema,
  anthropicMessagesRequestSchema,
  anthropicTextBlockSchema,
  anthropicThinkingSchema,
  anthropicToolChoiceSchema,
  type AnthropicMessagesRequestIn,
} from '../../wire/anthropic.ts';

type BlockType = keyof typeof anthropicBlockSchemas;
type Block<T extends BlockType> = z.infer<(typeof anthropicBlockSchemas)[T]>;
type RawMessage = AnthropicMessagesRequestIn['messages'][number];
type RawBlock = { type: string; [field: string]: unknown };

/**
 * Anthropic Messages request body -> canonical request, for cross-format routes
 * (an Anthropic client talking to an OpenAI or Gemini model). Errors read like
 * Anthropic's own (`max_tokens: Field required`), with the dotted path as `param`.
 *
 * Anthropic adds block types, tool types and fields often, and clients such as Claude
 * Code send them as soon as they exist. What canonical cannot carry (server tools,
 * block types other than text, image, tool_use, tool_result, thinking and
 * redacted_thinking, Anthropic-only features) is left out with a warning, so the call
 * still works on another model; what is malformed or misplaced is refused, as
 * Anthropic would. Mid-conversation system messages (`role: 'system'` inside
 * `messages`) stay system messages at their place in the conversation.
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
  const warnings = new WarningSink();

  const stream = ctx?.stream ?? b.stream === true;
  const req: ChatRequest = {
    model: ctx?.model ?? b.model,
    system: convertSystem(b.system, warnings),
    messages: convertMessages(b.messages, warnings),
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

  const tools = b.tools == null ? undefined : convertTools(b.tools, warnings);
  if (tools) req.tools = tools.kept;
  if (b.tool_choice != null) convertToolChoice(b.tool_choice, tools?.dropped ?? new Set(), req, warnings);
  const reasoning = convertReasoning(b.thinking, b.output_config?.effort, warnings);
  if (reasoning) req.reasoning = reasoning;
  const format = convertFormat(b.output_config?.format, warnings);
  if (format) req.responseFormat = format;

  for (const w of warnUncarried(input, UNCARRIED)) warnings.add(w.param, w.message);
  if (warnings.list.length > 0) req.warnings = warnings.list;
  return req;
}

/** Anthropic-only request features: honoured on Anthropic upstreams (pass-through), ignored with a warning elsewhere. */
const UNCARRIED: Readonly<Record<string, string>> = {
  container: 'Anthropic code execution containers are not supported by this upstream; ignored',
  context_management: 'Anthropic context editing is not supported by this upstream; ignored',
  mcp_servers: 'the Anthropic MCP connector is not supported by this upstream; ignored',
};

/** Fields a message may carry that canonical keeps; others (such as a system message's `clear_at`) are warned about. */
const MESSAGE_FIELDS = new Set(['role', 'content']);

/**
 * `thinking` and (newer API versions) `output_config.effort` -> canonical reasoning.
 * Adaptive thinking has no budget: the upstream picks one for the effort, or its default.
 */
function convertReasoning(thinking: RawBlock | null | undefined, effort: string | null | undefined, warnings: WarningSink): ReasoningConfig | undefined {
  const out: ReasoningConfig = {};
  if (thinking != null) {
    if (!isOneOf(thinking.type, ANTHROPIC_THINKING_TYPES)) {
      warnings.add('thinking', `thinking type '${thinking.type}' is not supported by this upstream; ignored`);
    } else {
      const t = parseWith(anthropicThinkingSchema, thinking, 'thinking');
      if (t.type === 'disabled') return { enabled: false };
      out.enabled = true;
      if (t.type === 'enabled') out.budgetTokens = t.budget_tokens;
    }
  }
  if (effort != null) {
    if (!isOneOf(effort, ANTHROPIC_EFFORTS)) warnings.add('output_config.effort', `effort '${effort}' is not supported by this upstream; ignored`);
    // Canonical efforts stop at 'high'; 'xhigh' and 'max' ask for the most the upstream offers.
    else out.effort = effort === 'xhigh' || effort === 'max' ? 'high' : effort;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function convertFormat(format: RawBlock | null | undefined, warnings: WarningSink): ResponseFormat | undefined {
  if (format == null) return undefined;
  if (format.type !== 'json_schema') {
    warnings.add('output_config.format', `output format type '${format.type}' is not supported by this upstream; ignored`);
    return undefined;
  }
  return { type: 'json_schema', schema: parseWith(anthropicJsonOutputFormatSchema, format, 'output_config.format').schema };
}

function convertSystem(system: AnthropicMessagesRequestIn['system'], warnings: WarningSink): TextPart[] {
  if (system == null) return [];
  if (typeof system === 'string') return system === '' ? [] : [{ type: 'text', text: system }];
  const out: TextPart[] = [];
  system.forEach((block, i) => {
    if (block.type === 'text') out.push(textPart(parseBlock('text', block, `system.${i}`)));
    else leaveOut('system[]', block.type, `system.${i}`, warnings);
  });
  return out;
}

function convertMessages(messages: AnthropicMessagesRequestIn['messages'], warnings: WarningSink): Message[] {
  const out: Message[] = [];
  // Tool results need the tool's name for Gemini; Anthropic carries it only on the tool_use.
  const toolNames = new Map<string, string>();

  messages.forEach((m, i) => {
    for (const field of Object.keys(m)) {
      if (!MESSAGE_FIELDS.has(field)) warnings.add(`messages[].${field}`, `message field '${field}' (first at messages.${i}) is not supported by this upstream; ignored`);
    }
    if (m.role === 'system') {
      const content = systemMessageContent(m, i, warnings);
      if (content.length > 0) out.push({ role: 'system', content });
      return;
    }
    const role = m.role;
    if (typeof m.content === 'string') {
      out.push({ role, content: [{ type: 'text', text: m.content }] });
      return;
    }
    const parts: ContentPart[] = [];
    m.content.forEach((raw, j) => {
      const part = convertBlock(raw, role, `messages.${i}.content.${j}`, toolNames, warnings);
      if (part) parts.push(part);
    });
    // Every block left out: so is the turn (an empty turn means nothing to any upstream).
    if (parts.length === 0 && m.content.length > 0) return;
    if (role === 'assistant') {
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

/** A mid-conversation system message holds text only; Anthropic's tool changes (tool_addition, ...) cannot cross. */
function systemMessageContent(m: RawMessage, i: number, warnings: WarningSink): TextPart[] {
  if (typeof m.content === 'string') return m.content === '' ? [] : [{ type: 'text', text: m.content }];
  const out: TextPart[] = [];
  m.content.forEach((raw, j) => {
    const param = `messages.${i}.content.${j}`;
    if (raw.type === 'text') out.push(textPart(parseBlock('text', raw, param)));
    else leaveOut('messages[].content[]', raw.type, param, warnings);
  });
  return out;
}

function convertBlock(raw: RawBlock, role: 'user' | 'assistant', param: string, toolNames: Map<string, string>, warnings: WarningSink): ContentPart | undefined {
  if (!isBlockType(raw.type)) {
    leaveOut('messages[].content[]', raw.type, param, warnings);
    return undefined;
  }
  switch (raw.type) {
    case 'text':
      return textPart(parseBlock('text', raw, param));
    case 'image':
      return convertImage(raw, param, warnings);
    case 'tool_use': {
      if (role !== 'assistant') throw misplaced('tool_use', 'assistant', param);
      const b = parseBlock('tool_use', raw, param);
      toolNames.set(b.id, b.name);
      return { type: 'tool_call', id: b.id, name: b.name, arguments: JSON.stringify(b.input) };
    }
    case 'tool_result': {
      if (role !== 'user') throw misplaced('tool_result', 'user', param);
      const b = parseBlock('tool_result', raw, param);
      const part: ToolResultPart = { type: 'tool_result', toolCallId: b.tool_use_id, content: toolResultContent(b.content, `${param}.content`, warnings) };
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

function toolResultContent(content: Block<'tool_result'>['content'], param: string, warnings: WarningSink): Array<TextPart | ImagePart> {
  if (content == null) return [];
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  const out: Array<TextPart | ImagePart> = [];
  content.forEach((raw, k) => {
    const p = `${param}.${k}`;
    if (raw.type === 'text') out.push(textPart(parseBlock('text', raw, p)));
    else if (raw.type === 'image') {
      const image = convertImage(raw, p, warnings);
      if (image) out.push(image);
    } else leaveOut('messages[].content[].content[]', raw.type, p, warnings);
  });
  return out;
}

/** Base64 and URL images cross; other sources (the Files API's `file`, ...) name data only Anthropic holds. */
function convertImage(raw: RawBlock, param: string, warnings: WarningSink): ImagePart | undefined {
  const source = raw.source;
  const sourceType = source !== null && typeof source === 'object' ? (source as { type?: unknown }).type : undefined;
  if (typeof sourceType === 'string' && sourceType !== 'base64' && sourceType !== 'url') {
    warnings.add('messages[].content[].image.source', `image source type '${sourceType}' (first at ${param}.source) is not supported by this upstream; left out`);
    return undefined;
  }
  return imagePart(parseBlock('image', raw, param));
}

/** One warning per kind of block, naming where the first one was; the rest of the request goes on. */
function leaveOut(where: string, type: string, param: string, warnings: WarningSink): void {
  warnings.add(`${where}.${type}`, `content block type '${type}' (first at ${param}) is not supported by this upstream; left out`);
}

function isBlockType(type: string): type is BlockType {
  return Object.hasOwn(anthropicBlockSchemas, type);
}

function isOneOf<T extends string>(value: string, list: readonly T[]): value is T {
  return (list as readonly string[]).includes(value);
}

function parseBlock<T extends BlockType>(type: T, raw: unknown, param: string): Block<T> {
  const parsed = anthropicBlockSchemas[type].safeParse(raw);
  if (!parsed.success) throw issueToError(parsed.error.issues[0], param, raw);
  return parsed.data as Block<T>;
}

function parseWith<S extends z.ZodType>(schema: S, raw: unknown, param: string): z.infer<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw issueToError(parsed.error.issues[0], param, raw);
  return parsed.data;
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

/**
 * Client tools -> canonical tools. Server tools (web_search_..., bash_..., mcp_toolset, and
 * whatever type comes next) run inside Anthropic's API: another upstream cannot run them,
 * so they are left out with a warning and the model answers without them.
 */
function convertTools(tools: NonNullable<AnthropicMessagesRequestIn['tools']>, warnings: WarningSink): { kept: ToolDefinition[]; dropped: Set<string> } {
  const kept: ToolDefinition[] = [];
  const dropped = new Set<string>();
  tools.forEach((t, i) => {
    if (t.type != null && t.type !== 'custom') {
      warnings.add(`tools.${i}`, `server tool '${t.type}' runs only on Anthropic models; it was not sent to this upstream`);
      if (t.name != null) dropped.add(t.name);
      return;
    }
    if (t.name == null) throw missing(`tools.${i}.name`);
    // Anthropic requires input_schema; a client that left it out means a tool without parameters.
    const tool: ToolDefinition = { name: t.name, parameters: t.input_schema ?? { type: 'object' } };
    if (t.description != null) tool.description = t.description;
    if (t.cache_control) tool.cacheControl = t.cache_control;
    kept.push(tool);
  });
  return { kept, dropped };
}

function convertToolChoice(raw: RawBlock, droppedTools: ReadonlySet<string>, req: ChatRequest, warnings: WarningSink): void {
  if (!isOneOf(raw.type, ANTHROPIC_TOOL_CHOICE_TYPES)) {
    warnings.add('tool_choice', `tool choice type '${raw.type}' is not supported by this upstream; ignored`);
    return;
  }
  const tc = parseWith(anthropicToolChoiceSchema, raw, 'tool_choice');
  if (tc.type === 'tool' && droppedTools.has(tc.name)) {
    warnings.add('tool_choice', `it names the server tool '${tc.name}', which was not sent to this upstream; ignored`);
    return;
  }
  req.toolChoice = toolChoiceOf(tc);
  if (tc.type !== 'none' && tc.disable_parallel_tool_use === true) req.parallelToolCalls = false;
}

function toolChoiceOf(tc: z.infer<typeof anthropicToolChoiceSchema>): ToolChoice {
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
