import type { ChatRequest, ContentPart, Message, ReasoningConfig, ToolResultPart, Warning } from '../../core/canonical.ts';
import type { OpenAIChatMessage, OpenAIChatRequest } from '../../wire/openai-chat.ts';

type UserContentPart = Exclude<Extract<OpenAIChatMessage, { role: 'user' }>['content'], string>[number];
type ToolCall = NonNullable<Extract<OpenAIChatMessage, { role: 'assistant' }>['tool_calls']>[number];

export interface ConvertToOpenAIOptions {
  /**
   * Send `max_completion_tokens` instead of `max_tokens`. OpenAI's reasoning
   * models reject `max_tokens`; many OpenAI-compatible servers know only `max_tokens`.
   */
  maxCompletionTokens: boolean;
}

/** Canonical request -> OpenAI chat completions body, with a warning for each parameter OpenAI cannot honour. */
export function convertToOpenAIChatRequest(
  req: ChatRequest,
  upstreamModel: string,
  opts: ConvertToOpenAIOptions,
): { body: OpenAIChatRequest; warnings: Warning[] } {
  const warnings: Warning[] = [];
  const body: OpenAIChatRequest = { model: upstreamModel, messages: convertMessages(req, warnings) };

  if (req.stream) {
    body.stream = true;
    // Always: usage is metered whether or not the client asked for it.
    body.stream_options = { include_usage: true };
  }
  if (req.maxTokens !== undefined) {
    if (opts.maxCompletionTokens) body.max_completion_tokens = req.maxTokens;
    else body.max_tokens = req.maxTokens;
  }
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.topP !== undefined) body.top_p = req.topP;
  if (req.topK !== undefined) warnings.push({ param: 'top_k', message: 'OpenAI has no top_k sampling parameter; it was not sent.' });
  if (req.stop !== undefined && req.stop.length > 0) body.stop = req.stop;
  if (req.presencePenalty !== undefined) body.presence_penalty = req.presencePenalty;
  if (req.frequencyPenalty !== undefined) body.frequency_penalty = req.frequencyPenalty;
  if (req.seed !== undefined) body.seed = req.seed;
  if (req.n !== undefined && req.n !== 1) {
    // Converted responses carry one choice; asking for more would bill for answers nobody receives.
    warnings.push({ param: 'n', message: `n=${req.n} is not supported when converting between API formats; one choice was requested.` });
  }
  if (req.user !== undefined) body.user = req.user;

  // OpenAI rejects tool_choice and parallel_tool_calls without tools.
  if (req.tools && req.tools.length > 0) {
    body.tools = req.tools.map((t) => {
      const fn: NonNullable<OpenAIChatRequest['tools']>[number]['function'] = { name: t.name, parameters: t.parameters };
      if (t.description !== undefined) fn.description = t.description;
      if (t.strict !== undefined) fn.strict = t.strict;
      return { type: 'function' as const, function: fn };
    });
    if (req.toolChoice) {
      body.tool_choice = req.toolChoice.type === 'tool' ? { type: 'function', function: { name: req.toolChoice.name } } : req.toolChoice.type;
    }
    if (req.parallelToolCalls !== undefined) body.parallel_tool_calls = req.parallelToolCalls;
  }

  if (req.responseFormat) {
    const rf = req.responseFormat;
    if (rf.type === 'json_schema') {
      const js: Extract<NonNullable<OpenAIChatRequest['response_format']>, { type: 'json_schema' }>['json_schema'] = {
        // OpenAI requires a name; Anthropic- and Gemini-born schemas have none.
        name: rf.name ?? 'response',
        schema: rf.schema,
      };
      if (rf.description !== undefined) js.description = rf.description;
      if (rf.strict !== undefined) js.strict = rf.strict;
      body.response_format = { type: 'json_schema', json_schema: js };
    } else {
      body.response_format = { type: rf.type };
    }
  }

  const effort = reasoningEffort(req.reasoning, warnings);
  if (effort) body.reasoning_effort = effort;
  return { body, warnings };
}

/** Token budget -> effort thresholds, roughly where OpenAI's efforts land in reasoning tokens spent. */
export function effortForBudget(budgetTokens: number): 'low' | 'medium' | 'high' {
  if (budgetTokens < 4096) return 'low';
  if (budgetTokens < 16384) return 'medium';
  return 'high';
}

function reasoningEffort(r: ReasoningConfig | undefined, warnings: Warning[]): OpenAIChatRequest['reasoning_effort'] {
  if (!r || r.enabled === false) return undefined;
  if (r.effort) return r.effort;
  if (r.budgetTokens === undefined) return undefined;
  const effort = effortForBudget(r.budgetTokens);
  warnings.push({
    param: 'reasoning.budget_tokens',
    message: `OpenAI takes a reasoning effort, not a token budget: budget ${r.budgetTokens} was sent as reasoning_effort '${effort}'.`,
  });
  return effort;
}

/**
 * Canonical messages -> chat messages. Instructions before the first turn become one leading
 * system message; a system message later in the conversation (an Anthropic client's
 * mid-conversation system message) stays a system message at its place, where OpenAI reads
 * it as an instruction from that point on.
 */
function convertMessages(req: ChatRequest, warnings: Warning[]): OpenAIChatMessage[] {
  const out: OpenAIChatMessage[] = [];
  // Several system messages or content arrays trip some OpenAI-compatible servers; one string works everywhere.
  const leading = req.system.map((p) => p.text);
  let started = false;
  req.messages.forEach((m, i) => {
    if (m.role !== 'system' && !started) {
      started = true;
      if (leading.length > 0) out.push({ role: 'system', content: leading.join('\n\n') });
    }
    switch (m.role) {
      case 'system': {
        const text = textOf(m.content);
        if (text === '') return;
        if (started) out.push({ role: 'system', content: text });
        else leading.push(text);
        return;
      }
      case 'assistant':
        out.push(convertAssistant(m, i, warnings));
        return;
      case 'user':
      case 'tool':
        // Anthropic carries tool results inside user turns: OpenAI wants them as tool messages, first.
        for (const p of m.content) if (p.type === 'tool_result') out.push(convertToolResult(p, i, warnings));
        if (m.content.some((p) => p.type === 'text' || p.type === 'image')) out.push(convertUser(m));
        return;
    }
  });
  if (!started && leading.length > 0) out.push({ role: 'system', content: leading.join('\n\n') });
  return out;
}

function convertUser(m: Message): OpenAIChatMessage {
  const parts: UserContentPart[] = [];
  for (const p of m.content) {
    if (p.type === 'text') parts.push({ type: 'text', text: p.text });
    else if (p.type === 'image') {
      const url = p.source.kind === 'url' ? p.source.url : `data:${p.source.mediaType};base64,${p.source.data}`;
      parts.push({ type: 'image_url', image_url: p.detail === undefined ? { url } : { url, detail: p.detail } });
    }
  }
  const only = parts.length === 1 ? parts[0] : undefined;
  const msg: OpenAIChatMessage = { role: 'user', content: only && only.type === 'text' ? only.text : parts };
  if (m.name) msg.name = m.name;
  return msg;
}

function convertAssistant(m: Message, i: number, warnings: Warning[]): OpenAIChatMessage {
  let text = '';
  let hasText = false;
  const toolCalls: ToolCall[] = [];
  for (const p of m.content) {
    if (p.type === 'text') {
      text += p.text;
      hasText = true;
    } else if (p.type === 'tool_call') {
      toolCalls.push({ id: p.id, type: 'function', function: { name: p.name, arguments: p.arguments } });
    } else if (p.type === 'image') {
      warnings.push({ param: `messages[${i}].content`, message: 'OpenAI assistant messages cannot carry images; the image was not sent.' });
    }
    // Reasoning parts are the model's own earlier output; OpenAI chat has no field to take them back.
  }
  const msg: OpenAIChatMessage = { role: 'assistant', content: hasText || toolCalls.length === 0 ? text : null };
  if (toolCalls.length > 0) msg.tool_calls = toolCalls;
  if (m.name) msg.name = m.name;
  return msg;
}

function convertToolResult(p: ToolResultPart, i: number, warnings: Warning[]): OpenAIChatMessage {
  if (p.content.some((c) => c.type === 'image')) {
    warnings.push({ param: `messages[${i}].content`, message: 'OpenAI tool messages cannot carry images; the image was not sent.' });
  }
  const texts = p.content.flatMap((c) => (c.type === 'text' ? [c.text] : []));
  // One string where possible (every compatible server takes it); several parts stay parts so no boundary is lost.
  const content = texts.length > 1 ? texts.map((text) => ({ type: 'text' as const, text })) : (texts[0] ?? '');
  return { role: 'tool', tool_call_id: p.toolCallId, content };
}

/** A system message's text blocks, joined the way the leading system prompt's are. */
function textOf(content: ContentPart[]): string {
  return content
    .flatMap((p) => (p.type === 'text' && p.text !== '' ? [p.text] : []))
    .join('\n\n');
}
