import { GatewayError } from './errors.ts';
import { TOKENS_PER_MESSAGE } from './tokens.ts';

export interface CountedMessage {
  role: string;
  /** The content's tokens, without the per-message overhead. */
  tokens: number;
}

export interface TrimLimits {
  /** Prompt tokens besides the history: system prompt, the new message, tools, the reply primer. */
  fixedTokens: number;
  /** The model's context window, if known. */
  contextWindow?: number;
  /** Tokens left for the reply (max_tokens). */
  replyTokens: number;
  /** Most turns the conversation keeps, the new one included. */
  maxTurns?: number;
}

/**
 * How much of a conversation's history goes with its next message: whole turns
 * (a user message and the replies after it), the oldest dropped first, so that
 * the prompt plus the reply's tokens fit the context window and at most
 * `maxTurns` turns are kept. Returns the index of the first message kept
 * (history.length when none is). 400 `context_length_exceeded` when even the
 * new message alone does not fit.
 */
export function trimConversation(history: readonly CountedMessage[], limits: TrimLimits): number {
  // Turn starts: every user message (and the first message, whatever it is).
  const starts: number[] = [];
  history.forEach((m, i) => {
    if (i === 0 || (m.role === 'user' && history[i - 1].role !== 'user')) starts.push(i);
  });
  let first = 0;
  let turn = 0;
  if (limits.maxTurns !== undefined) {
    turn = Math.max(0, starts.length - (limits.maxTurns - 1));
    first = turn < starts.length ? starts[turn] : history.length;
  }
  const budget = limits.contextWindow === undefined ? Infinity : limits.contextWindow - limits.replyTokens;
  if (limits.fixedTokens > budget) {
    throw new GatewayError(
      'invalid_request_error',
      `This model's maximum context length is ${limits.contextWindow} tokens. However, the new message needs ${limits.fixedTokens} tokens with ${limits.replyTokens} tokens for the reply.`,
      { param: 'content', publicCode: 'context_length_exceeded' },
    );
  }
  let total = limits.fixedTokens;
  for (let i = first; i < history.length; i++) total += TOKENS_PER_MESSAGE + history[i].tokens;
  while (total > budget && first < history.length) {
    turn++;
    const next = turn < starts.length ? starts[turn] : history.length;
    for (let i = first; i < next; i++) total -= TOKENS_PER_MESSAGE + history[i].tokens;
    first = next;
  }
  return first;
}
