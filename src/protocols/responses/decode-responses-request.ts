import type { ChatRequest, ReasoningConfig, ResponseFormat, ToolChoice, ToolDefinition, Warning } from '../../core/canonical.ts';
import { GatewayError } from '../../core/errors.ts';
import { warnUncarried } from '../../core/warn-uncarried.ts';
import {
  responsesFunctionToolSchema,
  responsesRequestSchema,
  responsesToolChoiceAllowedSchema,
  responsesToolChoiceFunctionSchema,
  type ResponsesRequest,
  type ResponsesTextFormat,
} from '../../wire/openai-responses.ts';
import { convertResponsesInput, type InputState } from './convert-responses-input.ts';
import { issueToResponsesError, jsonType } from './responses-request-error.ts';

export interface DecodeResponsesContext {
  /** Given when the model comes from elsewhere than the body. */
  model?: string;
  stream?: boolean;
  /**
   * For `previous_response_id`: the earlier turn's stored input items, then its
   * output items, in order. They come before the new input; the earlier turn's
   * `instructions` do not carry over (OpenAI documents the same).
   */
  priorItems?: readonly unknown[];
}

/**
 * Responses request body (`POST /v1/responses`) -> canonical request, for
 * Responses clients talking to a model behind any upstream. Only function tools
 * cross formats: hosted tools (web_search, file_search, mcp, ...) are dropped
 * with a warning, never refused, since the model can still answer without them.
 */
export function decodeResponsesRequest(body: unknown, ctx?: DecodeResponsesContext): ChatRequest {
  const b = parseResponsesBody(body, ctx);
  const stream = ctx?.stream ?? b.stream === true;
  const req: ChatRequest = { model: ctx?.model ?? b.model, system: [], messages: [], stream };
  const state: InputState = { toolNames: new Map(), warnings: [] };

  if (b.instructions) req.system.push({ type: 'text', text: b.instructions });
  if (ctx?.priorItems && ctx.priorItems.length > 0) convertResponsesInput(ctx.priorItems, 'previous_response_id', req, state);
  if (typeof b.input === 'string') req.messages.push({ role: 'user', content: [{ type: 'text', text: b.input }] });
  else if (b.input) convertResponsesInput(b.input, 'input', req, state);

  // The Responses stream always ends with usage (response.completed carries it).
  if (stream) req.streamUsage = true;
  if (b.max_output_tokens != null) req.maxTokens = b.max_output_tokens;
  if (b.temperature != null) req.temperature = b.temperature;
  if (b.top_p != null) req.topP = b.top_p;
  // `user` is deprecated in favour of safety_identifier; both name the end user.
  const user = b.safety_identifier ?? b.user;
  if (user != null) req.user = user;

  const tools = convertTools(b, state.warnings);
  if (tools.length > 0) {
    req.tools = tools;
    if (b.parallel_tool_calls != null) req.parallelToolCalls = b.parallel_tool_calls;
  }
  const toolChoice = convertToolChoice(b, req, state.warnings);
  if (toolChoice) req.toolChoice = toolChoice;
  const responseFormat = convertTextFormat(b.text?.format);
  if (responseFormat) req.responseFormat = responseFormat;
  const reasoning = convertReasoning(b, state.warnings);
  if (reasoning) req.reasoning = reasoning;

  const warnings = [...state.warnings, ...warnUncarried(b, UNCARRIED), ...warnSettings(b)];
  if (warnings.length > 0) req.warnings = warnings;
  return req;
}

/** Responses-only parameters no other format carries: honoured on OpenAI Responses upstreams (pass-through), warned about elsewhere. */
const UNCARRIED: Readonly<Record<string, string>> = {
  background: 'not supported on this route; the response is generated in the foreground',
  conversation: 'conversations are not supported by this gateway; ignored',
  prompt: 'prompt templates are not supported by this upstream; ignored',
  prompt_cache_key: 'not supported by this upstream; ignored',
  prompt_cache_retention: 'not supported by this upstream; ignored',
  context_management: 'not supported by this upstream; ignored',
  moderation: 'not supported by this upstream; ignored',
  max_tool_calls: 'not supported by this upstream; ignored',
  service_tier: 'not supported by this upstream; ignored',
};

/** Settings whose default value is harmless and only a non-default one is worth a warning. */
function warnSettings(b: ResponsesRequest): Warning[] {
  const out: Warning[] = [];
  if (b.truncation === 'auto') out.push({ param: 'truncation', message: "not supported by this upstream; an input over the context window fails instead of being truncated" });
  if (b.top_logprobs) out.push({ param: 'top_logprobs', message: 'not supported by this upstream; ignored' });
  if (b.text?.verbosity) out.push({ param: 'text.verbosity', message: 'not supported by this upstream; ignored' });
  // Encrypted reasoning is always returned when the upstream signs its reasoning; nothing else in `include` can be.
  const include = (b.include ?? []).filter((v) => v !== 'reasoning.encrypted_content');
  if (include.length > 0) out.push({ param: 'include', message: `${include.join(', ')}: not supported by this upstream; ignored` });
  return out;
}

/** Checks what must be there before the schema (OpenAI's wording and `param`), then the schema itself. */
function parseResponsesBody(body: unknown, ctx: DecodeResponsesContext | undefined): ResponsesRequest {
  if (body === undefined || body === null) {
    throw new GatewayError('missing_field', 'We could not parse the JSON body of your request. The request body is empty.', { publicCode: null });
  }
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError('invalid_request_error', 'The request body must be a JSON object.', { publicCode: null });
  }
  const input: Record<string, unknown> = ctx?.model !== undefined && (body as Record<string, unknown>).model == null ? { ...body, model: ctx.model } : (body as Record<string, unknown>);
  if (input.model === undefined || input.model === null || input.model === '') {
    throw new GatewayError('missing_field', "Missing required parameter: 'model'.", { param: 'model', publicCode: 'missing_required_parameter' });
  }
  if (typeof input.model !== 'string') {
    throw new GatewayError('invalid_request_error', `Invalid type for 'model': expected a string, but got ${jsonType(input.model)} instead.`, {
      param: 'model',
      publicCode: 'invalid_type',
    });
  }
  // With previous_response_id the earlier turn is the conversation; on its own a request needs input.
  if ((input.input === undefined || input.input === null) && !(ctx?.priorItems && ctx.priorItems.length > 0)) {
    throw new GatewayError('missing_field', "Missing required parameter: 'input'.", { param: 'input', publicCode: 'missing_required_parameter' });
  }
  const parsed = responsesRequestSchema.safeParse(input);
  if (!parsed.success) throw issueToResponsesError(parsed.error.issues[0], [], input);
  return parsed.data;
}

function convertTools(b: ResponsesRequest, warnings: Warning[]): ToolDefinition[] {
  const out: ToolDefinition[] = [];
  (b.tools ?? []).forEach((raw, i) => {
    if (raw.type !== 'function') {
      // Hosted tools run inside OpenAI; no other upstream can run them, but the model can still answer.
      warnings.push({ param: `tools[${i}]`, message: `'${raw.type}' tools are not supported by this gateway; the tool was dropped` });
      return;
    }
    const parsed = responsesFunctionToolSchema.safeParse(raw);
    if (!parsed.success) throw issueToResponsesError(parsed.error.issues[0], ['tools', i], raw);
    const f = parsed.data;
    // "Omitting parameters defines a function with an empty parameter list."
    const tool: ToolDefinition = { name: f.name, parameters: f.parameters ?? { type: 'object', properties: {} } };
    if (f.description != null) tool.description = f.description;
    if (f.strict != null) tool.strict = f.strict;
    out.push(tool);
  });
  return out;
}

/**
 * `allowed_tools` is honoured by offering only those functions, which is what it
 * means; hosted-tool choices go with their tools. Without any tool left a choice
 * means nothing, and upstreams reject a choice without tools.
 */
function convertToolChoice(b: ResponsesRequest, req: ChatRequest, warnings: Warning[]): ToolChoice | undefined {
  const tc = b.tool_choice;
  if (tc == null) return undefined;
  const choice = readToolChoice(tc, req);
  if (!choice) {
    if (typeof tc !== 'string') warnings.push({ param: 'tool_choice', message: `'${tc.type}' is not supported by this gateway; the model chooses its tools` });
    return undefined;
  }
  if (!req.tools) {
    delete req.parallelToolCalls;
    if (choice.type === 'required' || choice.type === 'tool') warnings.push({ param: 'tool_choice', message: 'no function tools are left to call; ignored' });
    return undefined;
  }
  return choice;
}

function readToolChoice(tc: NonNullable<ResponsesRequest['tool_choice']>, req: ChatRequest): ToolChoice | undefined {
  if (typeof tc === 'string') return { type: tc };
  if (tc.type === 'function') {
    const parsed = responsesToolChoiceFunctionSchema.safeParse(tc);
    if (!parsed.success) throw issueToResponsesError(parsed.error.issues[0], ['tool_choice'], tc);
    return { type: 'tool', name: parsed.data.name };
  }
  if (tc.type === 'allowed_tools') {
    const parsed = responsesToolChoiceAllowedSchema.safeParse(tc);
    if (!parsed.success) throw issueToResponsesError(parsed.error.issues[0], ['tool_choice'], tc);
    const allowed = new Set(parsed.data.tools.flatMap((t) => (t.type === 'function' && typeof t.name === 'string' ? [t.name] : [])));
    if (req.tools) {
      const kept = req.tools.filter((t) => allowed.has(t.name));
      if (kept.length > 0) req.tools = kept;
      else delete req.tools;
    }
    return { type: parsed.data.mode };
  }
  return undefined;
}

function convertTextFormat(format: ResponsesTextFormat | null | undefined): ResponseFormat | undefined {
  if (!format) return undefined;
  if (format.type !== 'json_schema') return { type: format.type };
  const out: ResponseFormat = { type: 'json_schema', name: format.name, schema: format.schema };
  if (format.description != null) out.description = format.description;
  if (format.strict != null) out.strict = format.strict;
  return out;
}

/** A reasoning summary asked for means the client wants to see reasoning (Gemini's includeThoughts, Anthropic's thinking). */
function convertReasoning(b: ResponsesRequest, warnings: Warning[]): ReasoningConfig | undefined {
  const r = b.reasoning;
  if (!r) return undefined;
  const out: ReasoningConfig = {};
  if (r.effort === 'none') out.enabled = false;
  else if (r.effort === 'xhigh' || r.effort === 'max') {
    // Canonical efforts stop at 'high'; the most an upstream offers is the closest.
    out.effort = 'high';
    warnings.push({ param: 'reasoning.effort', message: `'${r.effort}' is sent as the upstream's highest effort` });
  } else if (r.effort != null) out.effort = r.effort;
  if ((r.summary ?? r.generate_summary) != null && out.enabled !== false) out.includeThoughts = true;
  return Object.keys(out).length > 0 ? out : undefined;
}
