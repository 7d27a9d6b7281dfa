import type { ChatResult } from '../../core/canonical.ts';
import type { ResponsesMessageOut, ResponsesObjectOut, ResponsesOutputItemOut } from '../../wire/openai-responses.ts';
import { encodeResponsesObject, resolveResponsesContext, type ResponsesEncodeContext } from './encode-responses-object.ts';
import type { ResponsesIdGenerator } from './responses-ids.ts';
import { mapToResponsesStatus } from './map-to-responses-status.ts';

/**
 * Canonical result -> a Response object, as `POST /v1/responses` answers without
 * streaming. `output_text` is left out: it is not on the wire, the SDKs compute it.
 */
export function encodeResponsesResult(result: ChatResult, ctx: ResponsesEncodeContext): ResponsesObjectOut {
  const resolved = resolveResponsesContext(ctx);
  const { status, incomplete_details } = mapToResponsesStatus(result.finishReason);
  const output = encodeResponsesOutput(result.content, resolved.ids);
  // The item being written when the answer was cut off is the incomplete one.
  const last = output[output.length - 1];
  if (status === 'incomplete' && last && last.type !== 'reasoning') last.status = 'incomplete';
  return encodeResponsesObject(resolved, {
    createdAt: ctx.createdAt ?? result.created,
    status,
    incompleteDetails: incomplete_details,
    output,
    usage: result.usage,
  });
}

/**
 * Canonical content -> output items: reasoning items, message items (a run of
 * text parts is one message with one output_text) and function_call items, in
 * the order the model produced them.
 */
export function encodeResponsesOutput(content: ChatResult['content'], ids: ResponsesIdGenerator): ResponsesOutputItemOut[] {
  const out: ResponsesOutputItemOut[] = [];
  let message: ResponsesMessageOut | undefined;
  for (const part of content) {
    if (part.type === 'text') {
      if (part.text === '') continue;
      if (!message) {
        message = { id: ids('msg'), type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: '', annotations: [], logprobs: [] }] };
        out.push(message);
      }
      message.content[0].text += part.text;
      continue;
    }
    message = undefined;
    if (part.type === 'reasoning') {
      // Redacted thinking has no text and no Responses counterpart that could carry it back.
      if (part.redactedData !== undefined || (!part.text && !part.signature)) continue;
      out.push({
        id: ids('rs'),
        type: 'reasoning',
        summary: part.text ? [{ type: 'summary_text', text: part.text }] : [],
        ...(part.signature ? { encrypted_content: part.signature } : {}),
      });
    } else {
      // Clients JSON.parse the arguments; a tool with no input still has an object.
      out.push({ id: ids('fc'), type: 'function_call', status: 'completed', arguments: part.arguments || '{}', call_id: part.id, name: part.name });
    }
  }
  return out;
}
