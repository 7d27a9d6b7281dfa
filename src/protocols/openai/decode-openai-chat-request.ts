import { decodeOpenAIImageUrl } from './decode-openai-image-url.ts';
import { innermostIssue, valueAtPath } from '../../core/zod-issue-path.ts';
import type { z } from 'zod';
import type {
  ChatRequest,
  ContentPart,
  ImagePart,
  Message,
  ReasoningConfig,
  ResponseFormat,
  TextPart,
  ToolChoice,
  ToolDefinition,
} from '../../core/canonical.ts';
import { warnUncarried } from '../../core/warn-uncarried.ts';
import { GatewayError } from '../../core/errors.ts';
import { openAIChatRequestSchema, type OpenAIChatMessage, type OpenAIChatRequest } from '../../wire/openai-chat.ts';
import { validateOpenAIChatBody } from './openai-chat-request.ts';

/**
 * OpenAI chat request body -> canonical request, for cross-format routes (an
 * OpenAI client talking to an Anthropic or Gemini model). Same-protocol traffic
 * never comes here: it is relayed as the client's bytes.
 */
export function decodeOpenAIChatRequest(body: unknown, ctx?: { model?: string; stream?: boolean }): ChatRequest {
  validateOpenAIChatBody(body);
  const parsed = openAIChatRequestSchema.safeParse(body);
  if (!parsed.success) throw issueToError(parsed.error.issues[0], body);
  const b = parsed.data;

  const stream = ctx?.stream ?? b.stream === true;
  const req: ChatRequest = {
    model: ctx?.model ?? b.model,
    system: [],
    messages: [],
    stream,
  };
  convertMessages(b.messages, req);

  if (stream) req.streamUsage = b.stream_options?.include_usage === true;
  const maxTokens = b.max_completion_tokens ?? b.max_tokens;
  if (maxTokens != null) req.maxTokens = maxTokens;
  if (b.temperature != null) req.temperature = b.temperature;
  if (b.top_p != null) req.topP = b.top_p;
  if (b.stop != null) req.stop = typeof b.stop === 'string' ? [b.stop] : b.stop;
  if (b.presence_penalty != null) req.presencePenalty = b.presence_penalty;
  if (b.frequency_penalty != null) req.frequencyPenalty = b.frequency_penalty;
  if (b.seed != null) req.seed = b.seed;
  if (b.n != null) req.n = b.n;
  if (b.user != null) req.user = b.user;

  const tools = convertTools(b);
  if (tools) req.tools = tools;
  const toolChoice = convertToolChoice(b);
  if (toolChoice) req.toolChoice = toolChoice;
  if (b.parallel_tool_calls != null) req.parallelToolCalls = b.parallel_tool_calls;
  const responseFormat = convertResponseFormat(b.response_format);
  if (responseFormat) req.responseFormat = responseFormat;
  const reasoning = convertReasoningEffort(b.reasoning_effort);
  if (reasoning) req.reasoning = reasoning;
  const warnings = warnUncarried(body as Record<string, unknown>, UNCARRIED);
  if (b.reasoning_effort === 'xhigh') warnings.push({ param: 'reasoning_effort', message: "'xhigh' is sent as the upstream's highest effort" });
  if (warnings.length > 0) req.warnings = warnings;
  return req;
}

/** OpenAI-only parameters: honoured on OpenAI upstreams (pass-through), dropped with a warning elsewhere. */
const UNCARRIED: Readonly<Record<string, string>> = {
  logprobs: 'not supported by this upstream; ignored',
  top_logprobs: 'not supported by this upstream; ignored',
  logit_bias: 'not supported by this upstream; ignored',
  modalities: 'not supported by this upstream; ignored',
  audio: 'not supported by this upstream; ignored',
  prediction: 'not supported by this upstream; ignored',
  service_tier: 'not supported by this upstream; ignored',
  store: 'not supported by this upstream; ignored',
  web_search_options: 'not supported by this upstream; ignored',
};

function convertMessages(messages: OpenAIChatMessage[], req: ChatRequest): void {
  // Tool results need the tool's name for Gemini; OpenAI carries it only on the call.
  const toolNames = new Map<string, string>();
  // Legacy function calls carry no id: pair each `function` message with the last call of that name.
  const legacyCallIds = new Map<string, string>();

  messages.forEach((m, i) => {
    switch (m.role) {
      case 'system':
      case 'developer': {
        // OpenAI allows system messages anywhere; canonical keeps all instructions, in order, in `system`.
        for (const text of textsOf(m.content)) if (text !== '') req.system.push({ type: 'text', text });
        return;
      }
      case 'user': {
        const content: ContentPart[] =
          typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content.map((p, j) => convertUserPart(p, `messages[${i}].content[${j}]`));
        push(req, { role: 'user', content }, m.name);
        return;
      }
      case 'assistant': {
        if (m.audio) {
          throw new GatewayError('invalid_request_error', 'Audio responses in the conversation history are not supported for this model.', {
            param: `messages[${i}].audio`,
            publicCode: 'unsupported_value',
          });
        }
        const content: ContentPart[] = [];
        if (m.reasoning_content) content.push({ type: 'reasoning', text: m.reasoning_content });
        if (typeof m.content === 'string') {
          if (m.content !== '') content.push({ type: 'text', text: m.content });
        } else if (m.content) {
          for (const p of m.content) {
            const text = p.type === 'text' ? p.text : p.refusal;
            if (text !== '') content.push({ type: 'text', text });
          }
        }
        if (m.refusal && !content.some((p) => p.type === 'text')) content.push({ type: 'text', text: m.refusal });
        for (const call of m.tool_calls ?? []) {
          toolNames.set(call.id, call.function.name);
          content.push({ type: 'tool_call', id: call.id, name: call.function.name, arguments: call.function.arguments });
        }
        if (m.function_call) {
          const id = `call_legacy_${i}`;
          legacyCallIds.set(m.function_call.name, id);
          content.push({ type: 'tool_call', id, name: m.function_call.name, arguments: m.function_call.arguments });
        }
        push(req, { role: 'assistant', content }, m.name);
        return;
      }
      case 'tool': {
        const name = toolNames.get(m.tool_call_id);
        appendToolResult(req, {
          type: 'tool_result',
          toolCallId: m.tool_call_id,
          ...(name === undefined ? {} : { name }),
          content: textsOf(m.content).map((text): TextPart => ({ type: 'text', text })),
        });
        return;
      }
      case 'function': {
        appendToolResult(req, {
          type: 'tool_result',
          toolCallId: legacyCallIds.get(m.name) ?? `call_legacy_${i}`,
          name: m.name,
          content: [{ type: 'text', text: m.content ?? '' }],
        });
        return;
      }
    }
  });
}

function push(req: ChatRequest, message: Message, name: string | null | undefined): void {
  if (name) message.name = name;
  req.messages.push(message);
}

/** Consecutive OpenAI tool messages answer one assistant turn: they become one canonical `tool` message. */
function appendToolResult(req: ChatRequest, part: ContentPart): void {
  const last = req.messages[req.messages.length - 1];
  if (last && last.role === 'tool') last.content.push(part);
  else req.messages.push({ role: 'tool', content: [part] });
}

function textsOf(content: string | Array<{ text: string }>): string[] {
  return typeof content === 'string' ? [content] : content.map((p) => p.text);
}

type UserPart = Extract<OpenAIChatMessage, { role: 'user' }>['content'] extends string | Array<infer P> ? P : never;

function convertUserPart(p: UserPart, param: string): TextPart | ImagePart {
  switch (p.type) {
    case 'text':
      return { type: 'text', text: p.text };
    case 'image_url': {
      const url = typeof p.image_url === 'string' ? p.image_url : p.image_url.url;
      const detail = typeof p.image_url === 'string' ? undefined : p.image_url.detail;
      const image: ImagePart = { type: 'image', source: decodeOpenAIImageUrl(url, `${param}.image_url.url`) };
      if (detail) image.detail = detail;
      return image;
    }
    case 'input_audio':
    case 'file':
      // Canonical has no audio or document part yet; refusing beats silently dropping the input.
      throw new GatewayError('invalid_request_error', `Content part type '${p.type}' is not supported for this model.`, {
        param: `${param}.type`,
        publicCode: 'unsupported_value',
      });
  }
}

function convertTools(b: OpenAIChatRequest): ToolDefinition[] | undefined {
  const fns = b.tools ? b.tools.map((t) => t.function) : b.functions;
  if (!fns) return undefined;
  return fns.map((f) => {
    // "Omitting parameters defines a function with an empty parameter list."
    const tool: ToolDefinition = { name: f.name, parameters: f.parameters ?? { type: 'object', properties: {} } };
    if (f.description != null) tool.description = f.description;
    if (f.strict != null) tool.strict = f.strict;
    return tool;
  });
}

function convertToolChoice(b: OpenAIChatRequest): ToolChoice | undefined {
  if (b.tool_choice != null) {
    return typeof b.tool_choice === 'string' ? { type: b.tool_choice } : { type: 'tool', name: b.tool_choice.function.name };
  }
  if (b.function_call != null) {
    return typeof b.function_call === 'string' ? { type: b.function_call } : { type: 'tool', name: b.function_call.name };
  }
  return undefined;
}

function convertResponseFormat(rf: OpenAIChatRequest['response_format']): ResponseFormat | undefined {
  if (!rf) return undefined;
  if (rf.type !== 'json_schema') return { type: rf.type };
  const js = rf.json_schema;
  const out: ResponseFormat = { type: 'json_schema', name: js.name, schema: js.schema ?? {} };
  if (js.description != null) out.description = js.description;
  if (js.strict != null) out.strict = js.strict;
  return out;
}

function convertReasoningEffort(effort: OpenAIChatRequest['reasoning_effort']): ReasoningConfig | undefined {
  if (effort == null) return undefined;
  if (effort === 'none') return { enabled: false };
  // Canonical efforts stop at 'high'; 'xhigh' asks for the most the upstream offers.
  return { effort: effort === 'xhigh' ? 'high' : effort };
}

/** A zod issue -> OpenAI's own error wording, with `param` in OpenAI's path notation. */
function issueToError(first: z.core.$ZodIssue | undefined, body: unknown): GatewayError {
  const { issue, path } = first ? innermostIssue(first, []) : { issue: undefined, path: [] };
  const param = path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '');
  if (valueAtPath(body, path) === undefined) {
    return new GatewayError('missing_field', `Missing required parameter: '${param}'.`, { param, publicCode: 'missing_required_parameter' });
  }
  const code = issue?.code === 'invalid_value' || issue?.code === 'invalid_union' ? 'invalid_value' : 'invalid_type';
  return new GatewayError('invalid_request_error', `Invalid value for '${param}': ${issue?.message ?? 'invalid input'}.`, { param, publicCode: code });
}

