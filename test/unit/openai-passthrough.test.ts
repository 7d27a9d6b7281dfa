import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../../src/core/errors.ts';
import { SseParser } from '../../src/core/sse.ts';
import { computeCostUsd } from '../../src/metering/pricing.ts';
import { MemoryRateLimiter } from '../../src/metering/rate-limiter.ts';
import { prepareOpenAIChatBody, validateOpenAIChatBody } from '../../src/protocols/openai/openai-chat-request.ts';
import { OpenAIStreamTap } from '../../src/providers/openai/openai-stream-tap.ts';

const prep = (json: Record<string, unknown>, upstreamModel: string) => {
  const raw = Buffer.from(JSON.stringify(json));
  const out = prepareOpenAIChatBody(raw, validateOpenAIChatBody(JSON.parse(raw.toString())), upstreamModel);
  return { sent: JSON.parse(out.payload.toString()), same: out.payload === raw, clientWantsUsage: out.clientWantsUsage };
};

describe('prepareOpenAIChatBody', () => {
  const base = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

  it('forwards the client bytes untouched when no edit is needed', () => {
    expect(prep(base, 'gpt-4o-mini')).toEqual({ sent: base, same: true, clientWantsUsage: false });
    expect(prep({ ...base, stream: true, stream_options: { include_usage: true } }, 'gpt-4o-mini').same).toBe(true);
  });

  it('asks for stream usage by splicing, and renames mapped models', () => {
    expect(prep({ ...base, stream: true }, 'gpt-4o-mini')).toEqual({
      sent: { ...base, stream: true, stream_options: { include_usage: true } },
      same: false,
      clientWantsUsage: false,
    });
    expect(prep({ ...base, stream: true, stream_options: { include_usage: false } }, 'x').sent).toEqual({
      ...base, model: 'x', stream: true, stream_options: { include_usage: true },
    });
    expect(prep(base, 'upstream-name').sent.model).toBe('upstream-name');
  });
});

describe('OpenAIStreamTap', () => {
  const chunk = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
  const text =
    chunk({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'Hi' } }], usage: null }) +
    chunk({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: null }) +
    chunk({ id: 'c', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9, prompt_tokens_details: { cached_tokens: 3 } } }) +
    'data: [DONE]\n\n';

  it('reads usage and drops the usage chunk the client did not ask for', () => {
    const tap = new OpenAIStreamTap(false);
    const out = tap.process(new SseParser().push(text));
    expect(out).not.toContain('prompt_tokens');
    expect(out).toContain('"content":"Hi"');
    expect(out.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(tap.usage).toEqual({ inputTokens: 7, outputTokens: 2, cachedInputTokens: 3 });
    expect(tap.generatedText()).toBe('Hi');
  });

  it('keeps the usage chunk when the client asked for it', () => {
    const tap = new OpenAIStreamTap(true);
    expect(tap.process(new SseParser().push(text))).toBe(text);
  });
});

describe('redactSecrets', () => {
  it('removes full and masked forms of a credential', () => {
    const key = 'sk-proj-abcdefghijklmnopqrstuvwxyz123456';
    expect(redactSecrets(`Incorrect API key provided: ${key}.`, [key])).toBe('Incorrect API key provided: [redacted].');
    expect(redactSecrets('Incorrect API key provided: sk-proj-a*********************3456.', [key])).toBe('Incorrect API key provided: [redacted].');
    expect(redactSecrets('nothing here', [key])).toBe('nothing here');
  });
});

describe('pricing and rate limits', () => {
  it('prices cached input at the cached price', () => {
    const info = { input_price: 1, output_price: 2, cached_input_price: 0.5 };
    expect(computeCostUsd({ inputTokens: 1_000_000, cachedInputTokens: 500_000, outputTokens: 1_000_000 }, info)).toBe(2.75);
    expect(computeCostUsd({ inputTokens: 10, outputTokens: 10 }, undefined)).toBe(0);
  });

  it('limits requests per minute with a sliding window', () => {
    const rl = new MemoryRateLimiter();
    const t0 = 60_000 * 1000;
    expect([1, 2, 3].map(() => rl.take('k', 2, t0).allowed)).toEqual([true, true, false]);
    expect(rl.take('k', 2, t0 + 59_000).allowed).toBe(false);
    // Half-way through the next minute the previous minute still weighs half.
    expect(rl.take('k', 2, t0 + 90_000).allowed).toBe(true);
    expect(rl.take('k', 2, t0 + 90_000).allowed).toBe(false);
  });
});
