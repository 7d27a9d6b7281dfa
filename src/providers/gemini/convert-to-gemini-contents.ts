import type { ChatRequest, ContentPart, ImagePart, Message, ToolResultPart, Warning } from '../../core/canonical.ts';
import { GatewayError } from '../../core/errors.ts';
import type { GeminiContentOut, GeminiPartOut } from '../../wire/gemini.ts';
import { guessMediaTypeFromUrl } from './guess-media-type.ts';

/**
 * The placeholder Google documents for function calls that carry no thought signature
 * (history written by another model or by the client): Gemini 3 rejects a model turn
 * whose first functionCall part has no `thoughtSignature` with 400 otherwise.
 * https://ai.google.dev/gemini-api/docs/thought-signatures
 */
export const SKIP_THOUGHT_SIGNATURE = 'skip_thought_signature_validator';

export interface GeminiContentsConversion {
  contents: GeminiContentOut[];
  systemInstruction?: { parts: Array<{ text: string }> };
  warnings: Warning[];
}

export interface ConvertContentsOptions {
  /** Put SKIP_THOUGHT_SIGNATURE on unsigned function calls (models that validate signatures). */
  placeholderSignatures?: boolean;
}

/**
 * Canonical system + messages -> Gemini `systemInstruction` + `contents`.
 * - roles: user -> "user", assistant -> "model", tool results -> "user" functionResponse parts;
 *   consecutive contents of one role are merged (Gemini wants all answers to one turn's
 *   parallel calls in one content).
 * - tool results need the function's name: the part's own `name`, else the name of the
 *   earlier tool call with the same id. Call ids are not sent: Gemini pairs calls and
 *   responses by name and order, and an id it did not issue has no meaning to it.
 * - reasoning with text -> `thought: true` parts; a signature-only reasoning part (how
 *   the adapter keeps a signature Gemini put on a text or functionCall part) goes back
 *   onto the part that follows it.
 * - system messages before the first turn join `systemInstruction`. A system message later
 *   in the conversation (an Anthropic client's mid-conversation system message) becomes
 *   user text at its place, with a warning: Gemini has no system turns, and moving it into
 *   `systemInstruction` would make it apply from the start and change the front of every
 *   later request, which is the prompt prefix Gemini's implicit caching keys on. At its
 *   place it still reads as an instruction given at that point; it loses only the system
 *   role's authority over user text.
 */
export function convertToGeminiContents(req: Pick<ChatRequest, 'system' | 'messages'>, opts: ConvertContentsOptions = {}): GeminiContentsConversion {
  const warnings = new Map<string, Warning>();
  const warn = (param: string, message: string) => {
    if (!warnings.has(param)) warnings.set(param, { param, message });
  };
  const system: Array<{ text: string }> = [];
  for (const p of req.system) {
    if (p.cacheControl) warn('cache_control', 'Gemini has no prompt-cache markers; its implicit caching applies instead.');
    if (p.text !== '') system.push({ text: p.text });
  }

  const toolNames = new Map<string, string>();
  const contents: GeminiContentOut[] = [];
  const push = (role: 'user' | 'model', parts: GeminiPartOut[]) => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    if (last && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };

  let started = false;
  req.messages.forEach((m, i) => {
    if (m.name !== undefined) warn('messages[].name', 'Gemini has no participant names on messages; the name was not sent.');
    if (m.role !== 'system') started = true;
    switch (m.role) {
      case 'system': {
        const texts: Array<{ text: string }> = [];
        for (const p of m.content) {
          if (p.type !== 'text') continue;
          if (p.cacheControl) warn('cache_control', 'Gemini has no prompt-cache markers; its implicit caching applies instead.');
          if (p.text !== '') texts.push({ text: p.text });
        }
        if (!started) {
          system.push(...texts);
          return;
        }
        if (texts.length > 0) {
          warn('messages[].system', `Gemini has no system turns; the system message at messages[${i}] was sent as user text at its place.`);
          push('user', texts);
        }
        return;
      }
      case 'assistant':
        push('model', convertAssistant(m, i, toolNames, opts, warn));
        return;
      case 'user':
      case 'tool':
        push('user', convertUserOrTool(m, i, toolNames, warn));
        return;
    }
  });

  const out: GeminiContentsConversion = { contents, warnings: [...warnings.values()] };
  if (system.length > 0) out.systemInstruction = { parts: system };
  return out;
}

type Warn = (param: string, message: string) => void;

function convertAssistant(m: Message, i: number, toolNames: Map<string, string>, opts: ConvertContentsOptions, warn: Warn): GeminiPartOut[] {
  const parts: GeminiPartOut[] = [];
  let pendingSignature: string | undefined;
  let sawCall = false;
  m.content.forEach((p, j) => {
    switch (p.type) {
      case 'reasoning': {
        if (p.redactedData !== undefined) {
          warn('messages[].content.redacted_thinking', 'Redacted thinking from another provider cannot be sent to Gemini; it was left out.');
          return;
        }
        if (p.text !== '') {
          const part: GeminiPartOut = { text: p.text, thought: true };
          if (p.signature) part.thoughtSignature = p.signature;
          parts.push(part);
        } else if (p.signature) {
          pendingSignature = p.signature;
        }
        return;
      }
      case 'text': {
        if (p.cacheControl) warn('cache_control', 'Gemini has no prompt-cache markers; its implicit caching applies instead.');
        if (p.text === '' && pendingSignature === undefined) return;
        const part: GeminiPartOut = { text: p.text };
        if (pendingSignature !== undefined) part.thoughtSignature = pendingSignature;
        pendingSignature = undefined;
        parts.push(part);
        return;
      }
      case 'tool_call': {
        toolNames.set(p.id, p.name);
        const part: GeminiPartOut = { functionCall: { name: p.name, args: parseArguments(p.arguments, `messages[${i}].content[${j}].arguments`, warn) } };
        if (pendingSignature !== undefined) part.thoughtSignature = pendingSignature;
        else if (!sawCall && opts.placeholderSignatures) part.thoughtSignature = SKIP_THOUGHT_SIGNATURE;
        pendingSignature = undefined;
        sawCall = true;
        parts.push(part);
        return;
      }
      case 'image':
        parts.push(convertImage(p, warn));
        return;
      case 'tool_result':
        warn(`messages[${i}].content[${j}]`, 'A tool result inside an assistant message cannot be sent to Gemini; it was left out.');
        return;
    }
  });
  // Google ends a signed answer with an empty text part carrying the signature; do the same.
  if (pendingSignature !== undefined) parts.push({ text: '', thoughtSignature: pendingSignature });
  return parts;
}

function convertUserOrTool(m: Message, i: number, toolNames: Map<string, string>, warn: Warn): GeminiPartOut[] {
  const parts: GeminiPartOut[] = [];
  m.content.forEach((p: ContentPart, j) => {
    switch (p.type) {
      case 'text':
        if (p.cacheControl) warn('cache_control', 'Gemini has no prompt-cache markers; its implicit caching applies instead.');
        if (p.text !== '') parts.push({ text: p.text });
        return;
      case 'image':
        parts.push(convertImage(p, warn));
        return;
      case 'tool_result':
        parts.push(...convertToolResult(p, `messages[${i}].content[${j}]`, toolNames, warn));
        return;
      case 'reasoning':
      case 'tool_call':
        warn(`messages[${i}].content[${j}]`, `A ${p.type} part in a ${m.role} message cannot be sent to Gemini; it was left out.`);
        return;
    }
  });
  return parts;
}

function convertToolResult(p: ToolResultPart, param: string, toolNames: Map<string, string>, warn: Warn): GeminiPartOut[] {
  const name = p.name ?? toolNames.get(p.toolCallId);
  if (name === undefined) {
    throw new GatewayError(
      'invalid_request_error',
      `The tool result for call '${p.toolCallId}' does not follow a tool call with that id; Gemini needs the function's name to accept it.`,
      { param, publicCode: 'invalid_tool_result' },
    );
  }
  const text = p.content
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
  const parts: GeminiPartOut[] = [{ functionResponse: { name, response: toFunctionResponse(text, p.isError === true) } }];
  // Images a tool returned travel next to its answer in the same user turn.
  for (const c of p.content) if (c.type === 'image') parts.push(convertImage(c, warn));
  return parts;
}

/**
 * Tool output text -> FunctionResponse.response (a JSON object). Google's reference: use
 * "output" for the result and "error" for a failure; a JSON object result is sent as is.
 */
export function toFunctionResponse(text: string, isError: boolean): Record<string, unknown> {
  let value: unknown = text;
  try {
    value = JSON.parse(text);
  } catch {
    value = text;
  }
  const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
  if (isError) return { error: isObject ? value : text };
  return isObject ? (value as Record<string, unknown>) : { output: text };
}

function parseArguments(args: string, param: string, warn: Warn): Record<string, unknown> {
  if (args.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(args);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  warn(param, 'Tool call arguments are not a JSON object; Gemini needs one, so {} was sent.');
  return {};
}

function convertImage(p: ImagePart, warn: Warn): GeminiPartOut {
  if (p.detail !== undefined && p.detail !== 'auto') warn('image.detail', 'Gemini has no per-image detail setting; it was ignored.');
  const src = p.source;
  if (src.kind === 'base64') return { inlineData: { mimeType: src.mediaType, data: src.data } };
  const data = parseDataUrl(src.url);
  if (data) return { inlineData: data };
  const mimeType = guessMediaTypeFromUrl(src.url);
  if (mimeType === undefined) {
    warn('image.url', 'Could not tell the media type of an image URL from its extension; Gemini may reject it without one.');
    return { fileData: { fileUri: src.url } };
  }
  return { fileData: { mimeType, fileUri: src.url } };
}

function parseDataUrl(url: string): { mimeType: string; data: string } | undefined {
  const m = /^data:([^;,]+)?((?:;[^;,]*)*?);base64,(.*)$/s.exec(url);
  if (!m) return undefined;
  return { mimeType: m[1] ?? 'application/octet-stream', data: m[3] };
}
