import type { z } from 'zod';
import type { ChatRequest, ContentPart, ImagePart, Message, ReasoningPart, TextPart, ToolResultPart, Warning } from '../../core/canonical.ts';
import { GatewayError } from '../../core/errors.ts';
import {
  responsesInputItemSchemas,
  type ResponsesFunctionCallItem,
  type ResponsesFunctionCallOutputItem,
  type ResponsesMessageContentPart,
  type ResponsesMessageItem,
  type ResponsesReasoningItem,
  type ResponsesToolOutputPart,
} from '../../wire/openai-responses.ts';
import { decodeOpenAIImageUrl } from '../openai/decode-openai-image-url.ts';
import { issueToResponsesError, jsonType } from './responses-request-error.ts';

type ItemType = keyof typeof responsesInputItemSchemas;

/** What carries across the items of one conversation (earlier turns, then the new input). */
export interface InputState {
  /** call_id -> function name: tool results need the name for Gemini, and Responses carries it only on the call. */
  readonly toolNames: Map<string, string>;
  readonly warnings: Warning[];
}

/** The type of an input item; messages and item references may leave it out. */
export function responsesItemType(item: Record<string, unknown>): string | undefined {
  if (typeof item.type === 'string') return item.type;
  if (item.type !== undefined && item.type !== null) return undefined;
  if (item.role !== undefined) return 'message';
  if (typeof item.id === 'string') return 'item_reference';
  return undefined;
}

/**
 * Responses input items -> canonical messages, appended to `req`. The model's own
 * earlier output (reasoning, message, function_call items, in that order) comes
 * back as separate items; consecutive ones become one assistant message, which is
 * what Anthropic needs to pair a thinking block with its tool calls.
 * `prefix` is where the items sit in the body, for `param` in errors and warnings.
 */
export function convertResponsesInput(items: readonly unknown[], prefix: string, req: ChatRequest, state: InputState): void {
  items.forEach((raw, i) => {
    const at = `${prefix}[${i}]`;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new GatewayError('invalid_request_error', `Invalid type for '${at}': expected an object, but got ${jsonType(raw)} instead.`, {
        param: at,
        publicCode: 'invalid_type',
      });
    }
    const rawType = (raw as { type?: unknown }).type;
    if (rawType !== undefined && rawType !== null && typeof rawType !== 'string') {
      throw new GatewayError('invalid_request_error', `Invalid type for '${at}.type': expected a string, but got ${jsonType(rawType)} instead.`, {
        param: `${at}.type`,
        publicCode: 'invalid_type',
      });
    }
    const type = responsesItemType(raw as Record<string, unknown>);
    if (type === undefined) {
      throw new GatewayError('missing_field', `Missing required parameter: '${at}.type'.`, { param: `${at}.type`, publicCode: 'missing_required_parameter' });
    }
    if (!isItemType(type)) {
      state.warnings.push({ param: at, message: `input items of type '${type}' are not supported by this gateway; the item was ignored` });
      return;
    }
    switch (type) {
      case 'message':
        return convertMessage(parseItem('message', raw, at), at, req, state);
      case 'function_call':
        return convertFunctionCall(parseItem('function_call', raw, at), req, state);
      case 'function_call_output':
        return convertFunctionCallOutput(parseItem('function_call_output', raw, at), at, req, state);
      case 'reasoning':
        return convertReasoning(parseItem('reasoning', raw, at), req);
      case 'item_reference': {
        const ref = parseItem('item_reference', raw, at);
        state.warnings.push({ param: at, message: `item_reference '${ref.id}' is not resolved by this gateway; the item was ignored` });
        return;
      }
    }
  });
}

function isItemType(type: string): type is ItemType {
  return Object.hasOwn(responsesInputItemSchemas, type);
}

function parseItem<T extends ItemType>(type: T, raw: object, at: string): z.infer<(typeof responsesInputItemSchemas)[T]> {
  const parsed = responsesInputItemSchemas[type].safeParse(raw);
  if (!parsed.success) throw issueToResponsesError(parsed.error.issues[0], [at], raw);
  return parsed.data as z.infer<(typeof responsesInputItemSchemas)[T]>;
}

function convertMessage(m: ResponsesMessageItem, at: string, req: ChatRequest, state: InputState): void {
  const parts = typeof m.content === 'string' ? undefined : m.content;
  switch (m.role) {
    case 'system':
    case 'developer': {
      // Canonical keeps every instruction, in order, in `system`, wherever the client put it.
      if (parts === undefined) {
        if (m.content !== '') req.system.push({ type: 'text', text: m.content as string });
        return;
      }
      parts.forEach((p, j) => {
        const text = textOf(p);
        if (text === undefined) state.warnings.push({ param: `${at}.content[${j}]`, message: `only text is carried in ${m.role} messages; the '${p.type}' part was dropped` });
        else if (text !== '') req.system.push({ type: 'text', text });
      });
      return;
    }
    case 'user': {
      const content: ContentPart[] = parts === undefined ? [{ type: 'text', text: m.content as string }] : parts.map((p, j) => convertUserPart(p, `${at}.content[${j}]`));
      req.messages.push({ role: 'user', content });
      return;
    }
    case 'assistant': {
      const content: ContentPart[] = [];
      if (parts === undefined) {
        if (m.content !== '') content.push({ type: 'text', text: m.content as string });
      } else {
        parts.forEach((p, j) => {
          const text = textOf(p);
          if (text === undefined) state.warnings.push({ param: `${at}.content[${j}]`, message: `only text is carried in assistant messages; the '${p.type}' part was dropped` });
          else if (text !== '') content.push({ type: 'text', text });
        });
      }
      appendAssistant(req, content);
      return;
    }
  }
}

function convertFunctionCall(call: ResponsesFunctionCallItem, req: ChatRequest, state: InputState): void {
  state.toolNames.set(call.call_id, call.name);
  appendAssistant(req, [{ type: 'tool_call', id: call.call_id, name: call.name, arguments: call.arguments }]);
}

function convertFunctionCallOutput(out: ResponsesFunctionCallOutputItem, at: string, req: ChatRequest, state: InputState): void {
  const content: Array<TextPart | ImagePart> =
    typeof out.output === 'string' ? [{ type: 'text', text: out.output }] : out.output.map((p, j) => convertToolOutputPart(p, `${at}.output[${j}]`));
  const name = state.toolNames.get(out.call_id);
  const part: ToolResultPart = { type: 'tool_result', toolCallId: out.call_id, ...(name === undefined ? {} : { name }), content };
  // Results of one turn's parallel calls answer together: one canonical `tool` message.
  const last = req.messages[req.messages.length - 1];
  if (last && last.role === 'tool') last.content.push(part);
  else req.messages.push({ role: 'tool', content: [part] });
}

/**
 * A reasoning item -> a reasoning part. Its summary is the text the client saw;
 * encrypted_content is where this gateway returns an upstream's reasoning
 * signature, and where OpenAI returns its own encrypted reasoning.
 */
function convertReasoning(r: ResponsesReasoningItem, req: ChatRequest): void {
  const summary = (r.summary ?? []).map((s) => s.text);
  const text = (summary.length > 0 ? summary : (r.content ?? []).map((c) => c.text)).join('\n\n');
  if (text === '' && !r.encrypted_content) return;
  const part: ReasoningPart = { type: 'reasoning', text };
  if (r.encrypted_content) part.signature = r.encrypted_content;
  appendAssistant(req, [part]);
}

/** The model's reasoning, text and calls of one turn arrive as separate items: they join one assistant message. */
function appendAssistant(req: ChatRequest, content: ContentPart[]): void {
  const last: Message | undefined = req.messages[req.messages.length - 1];
  if (last && last.role === 'assistant') last.content.push(...content);
  else req.messages.push({ role: 'assistant', content });
}

function textOf(p: ResponsesMessageContentPart): string | undefined {
  switch (p.type) {
    case 'input_text':
    case 'output_text':
      return p.text;
    case 'refusal':
      return p.refusal;
    default:
      return undefined;
  }
}

function convertUserPart(p: ResponsesMessageContentPart, param: string): TextPart | ImagePart {
  switch (p.type) {
    case 'input_text':
    case 'output_text':
      return { type: 'text', text: p.text };
    case 'refusal':
      return { type: 'text', text: p.refusal };
    case 'input_image':
      return convertImage(p, param);
    case 'input_file':
      throw unsupportedPart(p.type, param);
  }
}

function convertToolOutputPart(p: ResponsesToolOutputPart, param: string): TextPart | ImagePart {
  switch (p.type) {
    case 'input_text':
      return { type: 'text', text: p.text };
    case 'input_image':
      return convertImage(p, param);
    case 'input_file':
      throw unsupportedPart(p.type, param);
  }
}

function convertImage(p: Extract<ResponsesMessageContentPart, { type: 'input_image' }>, param: string): ImagePart {
  if (p.image_url) {
    const image: ImagePart = { type: 'image', source: decodeOpenAIImageUrl(p.image_url, `${param}.image_url`) };
    if (p.detail) image.detail = p.detail;
    return image;
  }
  if (p.file_id) {
    // A file id names an upload in OpenAI's Files store, which another provider cannot read.
    throw new GatewayError('invalid_request_error', "Images given by 'file_id' are not supported for this model; send the image as 'image_url' (an http(s) or data: URL).", {
      param: `${param}.file_id`,
      publicCode: 'unsupported_value',
    });
  }
  const missing = `${param}.image_url`;
  throw new GatewayError('missing_field', `Missing required parameter: '${missing}'.`, { param: missing, publicCode: 'missing_required_parameter' });
}

/** Canonical has no document part yet; refusing beats silently dropping the input. */
function unsupportedPart(type: string, param: string): GatewayError {
  return new GatewayError('invalid_request_error', `Content part type '${type}' is not supported for this model.`, {
    param: `${param}.type`,
    publicCode: 'unsupported_value',
  });
}
