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
  ToolResultPart,
} from '../../core/canonical.ts';
import { warnUncarried } from '../../core/warn-uncarried.ts';
import { GatewayError } from '../../core/errors.ts';
import {
  geminiGenerateContentRequestSchema,
  type GeminiContent,
  type GeminiGenerateContentRequest,
  type GeminiPart,
} from '../../wire/gemini.ts';
import { convertGeminiSchemaToJsonSchema } from './convert-gemini-schema-to-json-schema.ts';

type FunctionResponse = NonNullable<GeminiPart['functionResponse']>;

/**
 * GenerateContentRequest (a Gemini client's body) -> canonical request, for routes whose
 * upstream is not Gemini. Model and stream come from the URL path
 * (`models/{model}:streamGenerateContent`). Error messages follow Google's wording.
 *
 * Tool call ids: Gemini clients send functionCall / functionResponse parts without ids
 * (unless Gemini 3 gave one). A call without an id gets `call_<content>_<part>` from its
 * place in the history, which is the same on every turn since clients resend the whole
 * history; a functionResponse without an id takes the id of the first unanswered call
 * of the same name, looking at the latest model turn first. So an OpenAI or Anthropic
 * upstream sees matching tool call and tool result ids.
 */
export function decodeGeminiRequest(body: unknown, ctx?: { model?: string; stream?: boolean }): ChatRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError('invalid_request_error', 'Invalid JSON payload received. The request body must be a JSON object.', { publicCode: null });
  }
  const raw = body as Record<string, unknown>;
  if (raw.contents === undefined || raw.contents === null || (Array.isArray(raw.contents) && raw.contents.length === 0)) {
    throw new GatewayError('missing_field', '* GenerateContentRequest.contents: contents is not specified', { param: 'contents', publicCode: null });
  }
  const parsed = geminiGenerateContentRequestSchema.safeParse(body);
  if (!parsed.success) throw issueToError(parsed.error.issues[0]);
  const b = parsed.data;

  const stream = ctx?.stream ?? false;
  const model = ctx?.model ?? (typeof raw.model === 'string' ? raw.model : '');
  const req: ChatRequest = {
    model: model.replace(/^models\//, ''),
    system: decodeSystem(b.systemInstruction),
    messages: decodeContents(b.contents),
    stream,
  };
  // Gemini reports usage on every stream; other upstreams must be asked for it.
  if (stream) req.streamUsage = true;

  if (b.cachedContent) {
    throw new GatewayError('invalid_request_error', 'cachedContent is not supported for this model: its upstream cannot read Gemini context caches.', {
      param: 'cachedContent',
      publicCode: null,
    });
  }
  const tools = decodeTools(b.tools);
  if (tools.length > 0) req.tools = tools;
  decodeToolConfig(b.toolConfig, req);
  decodeGenerationConfig(b.generationConfig, req);
  const gc = (raw.generationConfig ?? {}) as Record<string, unknown>;
  const warnings = [
    ...warnUncarried(raw, { safetySettings: 'Gemini safety settings do not apply to this upstream; ignored' }),
    ...warnUncarried(gc, {
      responseLogprobs: 'not supported by this upstream; ignored',
      logprobs: 'not supported by this upstream; ignored',
      mediaResolution: 'not supported by this upstream; ignored',
    }).map((w) => ({ ...w, param: `generationConfig.${w.param}` })),
  ];
  if (warnings.length > 0) req.warnings = warnings;
  return req;
}

function issueToError(issue: z.core.$ZodIssue | undefined): GatewayError {
  const path = issue?.path ?? [];
  const param = path.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${String(seg)}` : String(seg)), '');
  const detail = issue?.message ?? 'invalid value';
  return new GatewayError('invalid_request_error', `Invalid value at '${param || 'request'}': ${detail}`, { param: param || null, publicCode: null });
}

function invalid(message: string, param: string): GatewayError {
  return new GatewayError('invalid_request_error', message, { param, publicCode: null });
}

function decodeSystem(si: GeminiGenerateContentRequest['systemInstruction']): TextPart[] {
  if (si === undefined || si === null) return [];
  if (typeof si === 'string') return si === '' ? [] : [{ type: 'text', text: si }];
  const out: TextPart[] = [];
  for (const p of si.parts ?? []) if (typeof p.text === 'string' && p.text !== '') out.push({ type: 'text', text: p.text });
  return out;
}

interface CallRecord {
  id: string;
  name: string;
  answered: boolean;
}

function decodeContents(contents: GeminiContent[]): Message[] {
  const messages: Message[] = [];
  const calls: CallRecord[] = [];
  let latestCalls: CallRecord[] = [];

  contents.forEach((c, i) => {
    const role = c.role ?? 'user';
    if (role !== 'user' && role !== 'model' && role !== 'function') {
      throw invalid('Please use a valid role: user, model.', `contents[${i}].role`);
    }
    const parts = c.parts ?? [];
    if (parts.length === 0) {
      throw new GatewayError('missing_field', `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.`, {
        param: `contents[${i}].parts`,
        publicCode: null,
      });
    }

    if (role === 'model') {
      const content: ContentPart[] = [];
      latestCalls = [];
      parts.forEach((p, j) => {
        const param = `contents[${i}].parts[${j}]`;
        const signature = p.thoughtSignature ?? undefined;
        if (p.functionCall) {
          if (signature) content.push({ type: 'reasoning', text: '', signature });
          const call: CallRecord = { id: p.functionCall.id ?? `call_${i}_${j}`, name: p.functionCall.name, answered: false };
          calls.push(call);
          latestCalls.push(call);
          content.push({ type: 'tool_call', id: call.id, name: call.name, arguments: JSON.stringify(p.functionCall.args ?? {}) });
        } else if (typeof p.text === 'string') {
          if (p.thought === true) {
            content.push(signature ? { type: 'reasoning', text: p.text, signature } : { type: 'reasoning', text: p.text });
          } else {
            if (signature) content.push({ type: 'reasoning', text: '', signature });
            if (p.text !== '') content.push({ type: 'text', text: p.text });
          }
        } else if (p.inlineData || p.fileData) {
          content.push(decodeMedia(p, param));
        } else if (p.functionResponse) {
          throw invalid('A functionResponse part belongs in a user turn, after the model turn with its functionCall.', `${param}.functionResponse`);
        } else if (signature) {
          content.push({ type: 'reasoning', text: '', signature });
        } else {
          throw unsupportedPart(p, param);
        }
      });
      messages.push({ role: 'assistant', content });
      return;
    }

    const results: ToolResultPart[] = [];
    const userContent: ContentPart[] = [];
    parts.forEach((p, j) => {
      const param = `contents[${i}].parts[${j}]`;
      if (p.functionResponse) {
        results.push(decodeFunctionResponse(p.functionResponse, `call_${i}_${j}`, calls, latestCalls, `${param}.functionResponse`));
      } else if (typeof p.text === 'string') {
        if (p.text !== '') userContent.push({ type: 'text', text: p.text });
      } else if (p.inlineData || p.fileData) {
        userContent.push(decodeMedia(p, param));
      } else if (p.functionCall) {
        throw invalid('A functionCall part belongs in a model turn.', `${param}.functionCall`);
      } else if (!p.thoughtSignature) {
        throw unsupportedPart(p, param);
      }
    });
    // Results answer the previous model turn, so they come before anything new the user says.
    if (results.length > 0) messages.push({ role: 'tool', content: results });
    if (userContent.length > 0) messages.push({ role: 'user', content: userContent });
  });
  return messages;
}

function unsupportedPart(p: GeminiPart, param: string): GatewayError {
  if (p.executableCode !== undefined || p.codeExecutionResult !== undefined) {
    return invalid('Code execution parts are not supported for this model.', param);
  }
  return invalid(`* GenerateContentRequest.${param}.data: required oneof field 'data' must have one initialized field`, param);
}

function decodeFunctionResponse(fr: FunctionResponse, fallbackId: string, calls: CallRecord[], latest: CallRecord[], param: string): ToolResultPart {
  // An id the history does not know (a client's own) is no better than none: pair by name then.
  const match =
    (fr.id ? calls.find((c) => c.id === fr.id) : undefined) ??
    latest.find((c) => !c.answered && c.name === fr.name) ??
    calls.find((c) => !c.answered && c.name === fr.name);
  if (match) match.answered = true;
  const { text, isError } = responseToText(fr.response ?? {});
  const content: Array<TextPart | ImagePart> = [{ type: 'text', text }];
  (fr.parts ?? []).forEach((p, k) => content.push(decodeMedia(p, `${param}.parts[${k}]`)));
  const part: ToolResultPart = { type: 'tool_result', toolCallId: match?.id ?? fr.id ?? fallbackId, name: fr.name, content };
  if (isError) part.isError = true;
  return part;
}

/**
 * FunctionResponse.response -> tool output text. Google's convention: `output` holds the
 * result and `error` a failure; any other object is the result itself, as JSON.
 */
export function responseToText(response: Record<string, unknown>): { text: string; isError: boolean } {
  const keys = Object.keys(response);
  if (keys.length === 1 && (keys[0] === 'output' || keys[0] === 'error')) {
    const value = response[keys[0]];
    return { text: typeof value === 'string' ? value : JSON.stringify(value), isError: keys[0] === 'error' };
  }
  return { text: JSON.stringify(response), isError: false };
}

function decodeMedia(p: Pick<GeminiPart, 'inlineData' | 'fileData'>, param: string): ImagePart {
  if (p.inlineData) {
    const mimeType = p.inlineData.mimeType ?? '';
    if (!mimeType.startsWith('image/')) {
      throw invalid(`Only images can be sent to this model as inlineData; '${mimeType || 'no mimeType'}' is not supported.`, `${param}.inlineData.mimeType`);
    }
    return { type: 'image', source: { kind: 'base64', mediaType: mimeType, data: p.inlineData.data } };
  }
  const fd = p.fileData;
  if (!fd) throw invalid('Expected inlineData or fileData.', param);
  if (fd.mimeType && !fd.mimeType.startsWith('image/')) {
    throw invalid(`Only images can be sent to this model as fileData; '${fd.mimeType}' is not supported.`, `${param}.fileData.mimeType`);
  }
  return { type: 'image', source: { kind: 'url', url: fd.fileUri } };
}

const OTHER_TOOL_KEYS = ['googleSearch', 'googleSearchRetrieval', 'codeExecution', 'urlContext', 'fileSearch', 'computerUse', 'googleMaps', 'retrieval', 'mcpServers'];

function decodeTools(tools: GeminiGenerateContentRequest['tools']): ToolDefinition[] {
  const out: ToolDefinition[] = [];
  (tools ?? []).forEach((tool, i) => {
    for (const key of OTHER_TOOL_KEYS) {
      const value = (tool as Record<string, unknown>)[key];
      if (value !== undefined && value !== null) {
        throw invalid(`The ${key} tool is not supported for this model; only functionDeclarations are.`, `tools[${i}].${key}`);
      }
    }
    for (const fd of tool.functionDeclarations ?? []) {
      const def: ToolDefinition = {
        name: fd.name,
        parameters: fd.parametersJsonSchema ?? (fd.parameters ? convertGeminiSchemaToJsonSchema(fd.parameters) : { type: 'object', properties: {} }),
      };
      if (fd.description) def.description = fd.description;
      out.push(def);
    }
  });
  return out;
}

function decodeToolConfig(tc: GeminiGenerateContentRequest['toolConfig'], req: ChatRequest): void {
  const fcc = tc?.functionCallingConfig;
  if (!fcc?.mode) return;
  const allowed = fcc.allowedFunctionNames ?? [];
  let choice: ToolChoice | undefined;
  switch (fcc.mode.toUpperCase()) {
    case 'AUTO':
    case 'VALIDATED':
      choice = { type: 'auto' };
      break;
    case 'NONE':
      choice = { type: 'none' };
      break;
    case 'ANY':
      if (allowed.length === 1) choice = { type: 'tool', name: allowed[0] };
      else {
        choice = { type: 'required' };
        // "Any of these": the canonical choice cannot name a subset, so only those tools are offered.
        if (allowed.length > 1 && req.tools) req.tools = req.tools.filter((t) => allowed.includes(t.name));
      }
      break;
    case 'MODE_UNSPECIFIED':
      return;
    default:
      throw invalid(`Invalid value at 'tool_config.function_calling_config.mode', "${fcc.mode}"`, 'toolConfig.functionCallingConfig.mode');
  }
  req.toolChoice = choice;
}

const LEVELS: Record<string, NonNullable<ReasoningConfig['effort']>> = { MINIMAL: 'minimal', LOW: 'low', MEDIUM: 'medium', HIGH: 'high' };

function decodeGenerationConfig(gc: GeminiGenerateContentRequest['generationConfig'], req: ChatRequest): void {
  if (!gc) return;
  if (gc.stopSequences && gc.stopSequences.length > 0) req.stop = gc.stopSequences;
  if (gc.maxOutputTokens != null) req.maxTokens = gc.maxOutputTokens;
  if (gc.temperature != null) req.temperature = gc.temperature;
  if (gc.topP != null) req.topP = gc.topP;
  if (gc.topK != null) req.topK = gc.topK;
  if (gc.seed != null) req.seed = gc.seed;
  if (gc.presencePenalty != null) req.presencePenalty = gc.presencePenalty;
  if (gc.frequencyPenalty != null) req.frequencyPenalty = gc.frequencyPenalty;
  if (gc.candidateCount != null) req.n = gc.candidateCount;

  const modalities = gc.responseModalities ?? [];
  const other = modalities.find((m) => m.toUpperCase() !== 'TEXT');
  if (other !== undefined) throw invalid(`Response modality ${other} is not supported for this model.`, 'generationConfig.responseModalities');

  const format = decodeResponseFormat(gc);
  if (format) req.responseFormat = format;

  const t = gc.thinkingConfig;
  if (t) {
    const r: ReasoningConfig = {};
    if (t.thinkingBudget != null) {
      // 0 turns thinking off, -1 lets the model decide.
      if (t.thinkingBudget === 0) r.enabled = false;
      else {
        r.enabled = true;
        if (t.thinkingBudget > 0) r.budgetTokens = t.thinkingBudget;
      }
    }
    if (t.thinkingLevel) {
      const effort = LEVELS[t.thinkingLevel.toUpperCase()];
      if (!effort) throw invalid(`Invalid value at 'generation_config.thinking_config.thinking_level', "${t.thinkingLevel}"`, 'generationConfig.thinkingConfig.thinkingLevel');
      r.effort = effort;
    }
    if (t.includeThoughts != null) r.includeThoughts = t.includeThoughts;
    if (Object.keys(r).length > 0) req.reasoning = r;
  }
}

function decodeResponseFormat(gc: NonNullable<GeminiGenerateContentRequest['generationConfig']>): ResponseFormat | undefined {
  const mime = gc.responseMimeType ?? undefined;
  const schema = gc.responseJsonSchema ?? (gc.responseSchema ? convertGeminiSchemaToJsonSchema(gc.responseSchema) : undefined);
  if (mime === 'text/plain') return undefined;
  // A schema without a mime type asks for JSON all the same.
  if (mime === undefined) return schema ? { type: 'json_schema', schema } : undefined;
  if (mime === 'application/json') return schema ? { type: 'json_schema', schema } : { type: 'json_object' };
  throw invalid(`responseMimeType '${mime}' is not supported for this model; use text/plain or application/json.`, 'generationConfig.responseMimeType');
}
