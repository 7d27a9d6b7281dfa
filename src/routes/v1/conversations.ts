import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.ts';
import { countTextTokens, TOKENS_PER_MESSAGE, TOKENS_PER_REPLY_PRIMER } from '../../core/tokens.ts';
import { trimConversation } from '../../core/trim-conversation.ts';
import type { KeyState } from '../../metering/keys.ts';
import { ConversationAnswer } from '../../protocols/openai/conversation-answer.ts';
import { type ConversationTurnInput, parseConversationTurn } from '../../protocols/openai/conversation-request.ts';
import { type OpenAIChatBody, validateOpenAIChatBody } from '../../protocols/openai/openai-chat-request.ts';
import { openAICodec } from '../../protocols/openai/openai-codec.ts';
import { dispatchCall } from '../../routing/dispatch.ts';
import { openAIChatAttempt } from '../../routing/openai-chat-attempt.ts';
import type { Services } from '../../services.ts';
import { conversationNotFound, type HeldConversation } from '../../store/conversation-locks.ts';
import type { Conversation, ConversationMessage } from '../../store/conversation-store.ts';
import { maxCompletionTokens } from './chat-completions.ts';

function requireKey(request: FastifyRequest): KeyState {
  if (!request.apiKey) throw new GatewayError('invalid_api_key', 'Missing API key.');
  return request.apiKey;
}

/** The chat request of one turn: system, the history that fits, the new message, the client's other chat parameters. */
interface PlannedTurn {
  body: OpenAIChatBody;
  model: string;
  system: string | null;
  /** The history sent (and kept). */
  kept: ConversationMessage[];
  user: ConversationMessage;
  /** The prompt's tokens, counted as the meter counts them. */
  promptTokens: number;
}

async function planTurn(services: Services, c: Conversation, input: ConversationTurnInput): Promise<PlannedTurn> {
  const model = input.model ?? c.model;
  const system = input.system === undefined ? c.system : input.system;
  const user: ConversationMessage = { role: 'user', content: input.content, tokens: await countTextTokens(input.content) };
  const tools = Array.isArray(input.params.tools) && input.params.tools.length > 0 ? input.params.tools : undefined;
  const fixedTokens =
    TOKENS_PER_REPLY_PRIMER +
    (system ? TOKENS_PER_MESSAGE + (await countTextTokens(system)) : 0) +
    TOKENS_PER_MESSAGE +
    user.tokens +
    (tools ? TOKENS_PER_MESSAGE + (await countTextTokens(JSON.stringify(tools))) : 0);
  const contextWindow = services.config.models[model]?.context_window;
  const defaultReply = services.config.limits.default_max_tokens;
  // Without max_tokens the reply gets the default reservation, but never more than half of a small window.
  const replyTokens = maxCompletionTokens(input.params) ?? (contextWindow ? Math.min(defaultReply, Math.floor(contextWindow / 2)) : defaultReply);
  const first = trimConversation(c.messages, { fixedTokens, contextWindow, replyTokens, maxTurns: services.config.conversations.max_turns });
  const kept = c.messages.slice(first);
  const messages = [
    ...(system ? [{ role: 'system', content: system }] : []),
    ...kept.map((m) => ({ role: m.role, content: m.content })),
    { role: 'user', content: input.content },
  ];
  const body = validateOpenAIChatBody({ model, messages, ...input.params, ...(input.stream ? { stream: true } : {}) });
  const promptTokens = fixedTokens + kept.reduce((n, m) => n + TOKENS_PER_MESSAGE + m.tokens, 0);
  return { body, model, system, kept, user, promptTokens };
}

/**
 * POST /v1/chat/conversation: one turn of a conversation the gateway keeps.
 * The turn is an ordinary chat call (routing, failover, any upstream type,
 * limits, metering of the full context sent) under endpoint `chat.conversation`;
 * the reply joins the history only when it completed.
 */
export function conversationTurnHandler(services: Services) {
  const cfg = services.config.conversations;
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const key = requireKey(request);
    const input = parseConversationTurn(request.body);
    const clientGone = (): boolean => reply.raw.destroyed;
    let held: HeldConversation;
    if (input.conversationId !== undefined) {
      held = await services.conversations.open(input.conversationId, key.id, clientGone);
    } else {
      const model = input.model ?? cfg.default_model;
      if (!model) throw new GatewayError('missing_field', 'you must provide a model parameter', { param: 'model', publicCode: null });
      held = await services.conversations.start({ id: randomUUID(), keyId: key.id, model, system: input.system ?? null });
    }
    let settled = false;
    try {
      const turn = await planTurn(services, held.conversation, input);
      const answer = new ConversationAnswer(held.conversation.id, cfg.trailer_id, clientGone, openAICodec);
      const countPrompt = (): Promise<number> => Promise.resolve(turn.promptTokens);
      await dispatchCall(services, request, reply, {
        endpoint: 'chat.conversation',
        path: '/v1/chat/conversation',
        model: turn.model,
        stream: input.stream,
        maxTokens: maxCompletionTokens(turn.body),
        countPrompt,
        attempt: openAIChatAttempt(turn.body, Buffer.from(JSON.stringify(turn.body)), countPrompt, answer),
      });
      if (answer.completed) {
        const replyMessage: ConversationMessage = { role: 'assistant', content: answer.content, tokens: await countTextTokens(answer.content) };
        settled = true;
        await held.commit({ model: turn.model, system: turn.system, messages: [...turn.kept, turn.user, replyMessage] });
      }
    } finally {
      if (!settled) await held.abandon();
    }
  };
}

const seconds = (ms: number): number => Math.floor(ms / 1000);

function conversationSummary(c: Conversation) {
  return {
    id: c.id,
    object: 'chat.conversation',
    model: c.model,
    system: c.system,
    message_count: c.messages.length,
    created_at: seconds(c.createdAt),
    updated_at: seconds(c.updatedAt),
    expires_at: seconds(c.expiresAt),
  };
}

/** GET /v1/chat/conversations, GET and DELETE /v1/chat/conversations/{id}: the key's own conversations only. */
export function conversationRoutes(services: Services) {
  const load = async (request: FastifyRequest): Promise<Conversation> => {
    const key = requireKey(request);
    const id = (request.params as { id: string }).id;
    const c = await services.conversations.store.find(id, key.id, services.now());
    if (!c) throw conversationNotFound(id, 'conversation_id');
    return c;
  };
  return {
    turn: conversationTurnHandler(services),
    get: async (request: FastifyRequest) => {
      const c = await load(request);
      const { message_count: _count, ...summary } = conversationSummary(c);
      return { ...summary, messages: c.messages.map((m) => ({ role: m.role, content: m.content, tokens: m.tokens })) };
    },
    delete: async (request: FastifyRequest) => {
      const c = await load(request);
      if (!(await services.conversations.store.delete(c.id, c.keyId))) throw conversationNotFound(c.id, 'conversation_id');
      return { id: c.id, object: 'chat.conversation.deleted', deleted: true };
    },
    list: async (request: FastifyRequest) => {
      const key = requireKey(request);
      const q = request.query as { after?: string; limit?: string };
      const limit = Math.min(100, Math.max(1, Number(q.limit ?? 20) || 20));
      const { data, hasMore } = await services.conversations.store.list(key.id, { limit, after: q.after || undefined }, services.now());
      return { object: 'list', data: data.map(conversationSummary), first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore };
    },
  };
}
