import type { ResponsesItemOut } from '../../wire/openai-responses.ts';
import { responsesItemType } from './convert-responses-input.ts';
import type { ResponsesIdGenerator, ResponsesIdPrefix } from './responses-ids.ts';

const ID_PREFIX: Readonly<Record<string, ResponsesIdPrefix>> = {
  message: 'msg',
  function_call: 'fc',
  function_call_output: 'fco',
  reasoning: 'rs',
};

/**
 * A request's `input` as the items OpenAI lists under
 * `GET /v1/responses/{id}/input_items`: a string becomes one user message, every
 * item gets an id (its own, or a new one) and a type, message content is always
 * a parts array. Stored as they are, these items are also what a later
 * `previous_response_id` turn hands back to the decoder as `priorItems`.
 */
export function responsesInputToItems(body: unknown, nextId: ResponsesIdGenerator): ResponsesItemOut[] {
  const input = body !== null && typeof body === 'object' ? (body as { input?: unknown }).input : undefined;
  if (typeof input === 'string') {
    return [{ id: nextId('msg'), type: 'message', role: 'user', content: [{ type: 'input_text', text: input }], status: 'completed' }];
  }
  if (!Array.isArray(input)) return [];
  const out: ResponsesItemOut[] = [];
  for (const raw of input) {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) continue;
    const item = raw as Record<string, unknown>;
    const type = responsesItemType(item) ?? 'unknown';
    const id = typeof item.id === 'string' && item.id !== '' ? item.id : nextId(ID_PREFIX[type] ?? 'item');
    if (type === 'message') {
      out.push({ ...item, id, type, content: messageContent(item), status: typeof item.status === 'string' ? item.status : 'completed' });
    } else if (type === 'function_call' || type === 'function_call_output') {
      out.push({ ...item, id, type, status: typeof item.status === 'string' ? item.status : 'completed' });
    } else {
      out.push({ ...item, id, type });
    }
  }
  return out;
}

function messageContent(item: Record<string, unknown>): unknown {
  if (typeof item.content !== 'string') return item.content;
  // The model's own earlier text is output_text; everything else the client wrote is input_text.
  return item.role === 'assistant'
    ? [{ type: 'output_text', text: item.content, annotations: [], logprobs: [] }]
    : [{ type: 'input_text', text: item.content }];
}
