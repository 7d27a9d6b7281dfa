import { GatewayError } from '../../core/errors.ts';
import { jsonType } from '../../core/json-type.ts';
import { requireJsonObject } from './openai-api-bodies.ts';

/** Conversation ids are ours (UUIDs); anything longer than this is nobody's. */
const MAX_ID_LENGTH = 64;

/** One turn of POST /v1/chat/conversation, field names as the relays' conversation API has them. */
export interface ConversationTurnInput {
  content: string;
  conversationId?: string;
  model?: string;
  /** undefined: keep the stored one; null: none from now on. */
  system?: string | null;
  stream: boolean;
  /** Every other field: chat parameters passed on as they are (temperature, max_tokens, stream_options, ...). */
  params: Record<string, unknown>;
}

function invalidType(name: string, expected: string, v: unknown): GatewayError {
  return new GatewayError('invalid_request_error', `Invalid type for '${name}': expected ${expected}, but got ${jsonType(v)} instead.`, { param: name, publicCode: 'invalid_type' });
}

/** Reads a turn; 400 in OpenAI's words for what the gateway relies on, the upstream validates the chat parameters. */
export function parseConversationTurn(raw: unknown): ConversationTurnInput {
  const { content, conversationId, model, system, stream, messages, ...params } = requireJsonObject(raw);
  if (content === undefined || content === null) {
    throw new GatewayError('missing_field', "Missing required parameter: 'content'.", { param: 'content', publicCode: 'missing_required_parameter' });
  }
  if (typeof content !== 'string') throw invalidType('content', 'a string', content);
  if (content === '') {
    throw new GatewayError('invalid_request_error', "Invalid 'content': empty string. Expected a string with minimum length 1, but got an empty string instead.", {
      param: 'content',
      publicCode: 'empty_string',
    });
  }
  if (messages !== undefined) {
    throw new GatewayError('invalid_request_error', "Unknown parameter: 'messages'. The gateway keeps this conversation's messages: send only the new one as 'content'.", {
      param: 'messages',
      publicCode: 'unknown_parameter',
    });
  }
  const input: ConversationTurnInput = { content, stream: false, params };
  if (conversationId !== undefined && conversationId !== null && conversationId !== '') {
    if (typeof conversationId !== 'string') throw invalidType('conversationId', 'a string', conversationId);
    if (conversationId.length > MAX_ID_LENGTH) {
      throw new GatewayError('not_found', `Conversation with id '${conversationId.slice(0, MAX_ID_LENGTH)}...' not found.`, { param: 'conversationId', publicCode: null });
    }
    input.conversationId = conversationId;
  }
  if (model !== undefined && model !== null && model !== '') {
    if (typeof model !== 'string') throw invalidType('model', 'a string', model);
    input.model = model;
  }
  if (system === null || system === '') input.system = null;
  else if (system !== undefined) {
    if (typeof system !== 'string') throw invalidType('system', 'a string', system);
    input.system = system;
  }
  if (stream !== undefined && stream !== null) {
    if (typeof stream !== 'boolean') throw invalidType('stream', 'a boolean', stream);
    input.stream = stream;
  }
  return input;
}
