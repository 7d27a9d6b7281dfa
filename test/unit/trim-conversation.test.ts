import { describe, expect, it } from 'vitest';
import { trimConversation } from '../../src/core/trim-conversation.ts';

/** u/a pairs with the given content tokens; every message also costs 3 tokens of overhead. */
function turns(...tokens: Array<[number, number]>) {
  return tokens.flatMap(([u, a]) => [
    { role: 'user', tokens: u },
    { role: 'assistant', tokens: a },
  ]);
}

describe('trimConversation', () => {
  const history = turns([7, 7], [7, 7], [7, 7]); // each turn costs 20

  it('keeps everything that fits, exactly at the limit', () => {
    expect(trimConversation(history, { fixedTokens: 10, contextWindow: 10 + 60 + 30, replyTokens: 30 })).toBe(0);
  });

  it('drops whole turns, oldest first, until the prompt and the reply fit', () => {
    expect(trimConversation(history, { fixedTokens: 10, contextWindow: 10 + 60 + 30 - 1, replyTokens: 30 })).toBe(2);
    expect(trimConversation(history, { fixedTokens: 10, contextWindow: 10 + 20 + 30, replyTokens: 30 })).toBe(4);
    expect(trimConversation(history, { fixedTokens: 10, contextWindow: 10 + 19 + 30, replyTokens: 30 })).toBe(6);
  });

  it('keeps at most max_turns turns with the new one, and any window when none is known', () => {
    expect(trimConversation(history, { fixedTokens: 10, replyTokens: 30 })).toBe(0);
    expect(trimConversation(history, { fixedTokens: 10, replyTokens: 30, maxTurns: 3 })).toBe(2);
    expect(trimConversation(history, { fixedTokens: 10, replyTokens: 30, maxTurns: 1 })).toBe(6);
    expect(trimConversation(history, { fixedTokens: 10, contextWindow: 10 + 20 + 30, replyTokens: 30, maxTurns: 3 })).toBe(4);
  });

  it('refuses a new message that does not fit on its own with context_length_exceeded', () => {
    expect(() => trimConversation(history, { fixedTokens: 80, contextWindow: 100, replyTokens: 30 })).toThrow(
      expect.objectContaining({ status: 400, publicCode: 'context_length_exceeded', param: 'content' }),
    );
    expect(trimConversation([], { fixedTokens: 70, contextWindow: 100, replyTokens: 30 })).toBe(0);
  });
});
