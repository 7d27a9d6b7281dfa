/**
 * The Gemini simulator against the official @google/genai client: if Google's own client
 * reads the simulator, the simulator is a fair stand-in for generativelanguage.googleapis.com.
 */
import { ApiError, FinishReason, GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GEMINI_DEFAULT_TEXT, startGeminiSimulator, type GeminiSimulator } from '../../helpers/gemini-simulator.ts';

const KEY = 'AIza-sim-key';
let sim: GeminiSimulator;
let ai: GoogleGenAI;

beforeAll(async () => {
  sim = await startGeminiSimulator({ apiKey: KEY });
  ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: sim.url } });
});
afterAll(async () => {
  await sim.close();
});
beforeEach(() => {
  sim.requests.length = 0;
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

describe('gemini simulator with @google/genai', () => {
  it('answers generateContent', async () => {
    sim.enqueue({ type: 'text', text: 'Hi there, human.', promptTokens: 4, candidatesTokens: 5 });
    const res = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hello', config: { systemInstruction: 'Be nice.', temperature: 0.1 } });
    expect(res.text).toBe('Hi there, human.');
    expect(res.candidates?.[0]?.finishReason).toBe(FinishReason.STOP);
    expect(res.usageMetadata).toEqual({ promptTokenCount: 4, candidatesTokenCount: 5, totalTokenCount: 9, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 4 }] });
    expect(res.modelVersion).toBe('gemini-2.5-flash');
    expect(res.responseId).toMatch(/^[A-Za-z0-9_-]{22}$/);

    const rec = sim.requests[0];
    expect(rec.method).toBe('POST');
    expect(rec.path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(rec.headers['x-goog-api-key']).toBe(KEY);
    expect(rec.body).toEqual({
      contents: [{ parts: [{ text: 'Hello' }], role: 'user' }],
      systemInstruction: { parts: [{ text: 'Be nice.' }], role: 'user' },
      generationConfig: { temperature: 0.1 },
    });
  });

  it('streams with alt=sse, usage on every chunk and finishReason on the last', async () => {
    sim.enqueue({ type: 'text', text: 'one two three four five six seven eight nine', chunks: 3, chunkDelayMs: 5 });
    const chunks = await collect(await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Count' }));
    expect(chunks.map((c) => c.text)).toEqual(['one two three', ' four five six', ' seven eight nine']);
    expect(chunks.map((c) => c.candidates?.[0]?.finishReason)).toEqual([undefined, undefined, FinishReason.STOP]);
    expect(chunks[2].usageMetadata?.candidatesTokenCount).toBe(3);
    expect(sim.requests[0].path).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
  });

  it('returns thought parts only when includeThoughts is set, and a trailing signature', async () => {
    sim.enqueue({ type: 'thought', thoughts: ['Pondering.'], text: 'Answer.', thoughtsTokens: 12, thoughtSignature: 'c2lnbmF0dXJl' });
    const chunks = await collect(
      await ai.models.generateContentStream({ model: 'gemini-2.5-pro', contents: 'Q', config: { thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 } } }),
    );
    const parts = chunks.flatMap((c) => c.candidates?.[0]?.content?.parts ?? []);
    expect(parts).toEqual([{ text: 'Pondering.', thought: true }, { text: 'Answer.' }, { text: '', thoughtSignature: 'c2lnbmF0dXJl' }]);
    expect(chunks.at(-1)?.usageMetadata?.thoughtsTokenCount).toBe(12);

    sim.enqueue({ type: 'thought', thoughts: ['Pondering.'], text: 'Answer.' });
    const plain = await ai.models.generateContent({ model: 'gemini-2.5-pro', contents: 'Q' });
    expect(plain.candidates?.[0]?.content?.parts).toEqual([{ text: 'Answer.' }]);
  });

  it('returns function calls whole', async () => {
    sim.enqueue({ type: 'function_call', calls: [{ name: 'get_weather', args: { city: 'Oslo' } }, { name: 'get_time' }], thoughtSignature: 'c2ln' });
    const res = await ai.models.generateContent({
      model: 'gemini-2.5-flash',
      contents: 'Weather and time?',
      config: { tools: [{ functionDeclarations: [{ name: 'get_weather' }, { name: 'get_time' }] }] },
    });
    expect(res.functionCalls).toEqual([
      { name: 'get_weather', args: { city: 'Oslo' } },
      { name: 'get_time', args: {} },
    ]);
    expect(res.candidates?.[0]?.content?.parts?.[0]?.thoughtSignature).toBe('c2ln');

    sim.enqueue({ type: 'function_call', calls: [{ name: 'get_time' }], text: 'Let me check.' });
    const chunks = await collect(await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Time?' }));
    expect(chunks.map((c) => c.functionCalls)).toEqual([undefined, [{ name: 'get_time', args: {} }]]);
  });

  it('answers a bad key with 400 API_KEY_INVALID and a missing one with 403', async () => {
    const bad = new GoogleGenAI({ apiKey: 'AIza-wrong', httpOptions: { baseUrl: sim.url } });
    const err = await rejection(bad.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hi' }));
    expect(err.status).toBe(400);
    expect(JSON.parse(err.message).error).toMatchObject({ code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT' });

    const res = await fetch(`${sim.url}/v1beta/models/gemini-2.5-flash:generateContent`, { method: 'POST', body: JSON.stringify({ contents: [{ parts: [{ text: 'x' }] }] }) });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { status: string } }).error.status).toBe('PERMISSION_DENIED');
  });

  it('sends enqueued errors in Google shape, before or inside a stream', async () => {
    sim.enqueue({ type: 'error', status: 429 });
    const limited = await rejection(ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hi' }));
    expect(limited.status).toBe(429);
    expect(JSON.parse(limited.message).error.status).toBe('RESOURCE_EXHAUSTED');

    sim.enqueue({ type: 'stream_error_first', code: 503 });
    const overloaded = await rejection(collect(await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Hi' })));
    expect(overloaded.status).toBe(503);

    const unknown = await rejection(ai.models.generateContent({ model: 'gemini-0.9-nope', contents: 'Hi' }));
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.message).error.message).toContain('models/gemini-0.9-nope is not found for API version v1beta');
  });

  it('validates contents like Google', async () => {
    const res = await fetch(`${sim.url}/v1beta/models/gemini-2.5-flash:generateContent`, { method: 'POST', headers: { 'x-goog-api-key': KEY }, body: '{"contents":[]}' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { code: 400, message: '* GenerateContentRequest.contents: contents is not specified\n', status: 'INVALID_ARGUMENT' } });
  });

  it('streams a JSON array without alt=sse, errors included', async () => {
    sim.enqueue({ type: 'text', text: 'a b c d e f', chunks: 2 });
    const url = `${sim.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent`;
    const init = { method: 'POST', headers: { 'x-goog-api-key': KEY, 'content-type': 'application/json' }, body: JSON.stringify({ contents: [{ parts: [{ text: 'x' }] }] }) };
    const res = await fetch(url, init);
    expect(res.headers.get('content-type')).toBe('application/json; charset=UTF-8');
    const text = await res.text();
    expect(text.startsWith('[{\n  "candidates"')).toBe(true);
    expect(text).toContain('\n,\r\n{');
    const chunks = JSON.parse(text) as Array<{ candidates: Array<{ content: { parts: Array<{ text: string }> } }> }>;
    expect(chunks.map((c) => c.candidates[0].content.parts[0].text)).toEqual(['a b c', ' d e f']);

    sim.enqueue({ type: 'error', status: 503 });
    const failed = await fetch(url, init);
    expect(failed.status).toBe(503);
    expect(await failed.json()).toEqual([{ error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' } }]);
  });

  it('lists models and counts tokens', async () => {
    const pager = await ai.models.list();
    const names: string[] = [];
    for await (const m of pager) names.push(m.name ?? '');
    expect(names).toContain('models/gemini-2.5-flash');
    const count = await ai.models.countTokens({ model: 'gemini-2.5-flash', contents: 'abcdefgh' });
    expect(count.totalTokens).toBe(2);
    expect(sim.requests.map((r) => r.method + ' ' + r.path.split('?')[0])).toEqual(['GET /v1beta/models', 'POST /v1beta/models/gemini-2.5-flash:countTokens']);
  });

  it('drops a stream mid-way and records a client that gives up on a hang', async () => {
    sim.enqueue({ type: 'drop', afterChunks: 2 });
    const res = await fetch(`${sim.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse`, {
      method: 'POST',
      headers: { 'x-goog-api-key': KEY },
      body: JSON.stringify({ contents: [{ parts: [{ text: 'x' }] }] }),
    });
    const reader = res.body!.getReader();
    let received = '';
    await expect(
      (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          received += Buffer.from(value).toString('utf8');
        }
      })(),
    ).rejects.toThrow();
    expect(received.split('\r\n\r\n').filter(Boolean)).toHaveLength(2);
    expect(received).not.toContain('finishReason');

    sim.enqueue({ type: 'hang' });
    await expect(
      fetch(`${sim.url}/v1beta/models/gemini-2.5-flash:generateContent`, {
        method: 'POST',
        headers: { 'x-goog-api-key': KEY },
        body: JSON.stringify({ contents: [{ parts: [{ text: 'x' }] }] }),
        signal: AbortSignal.timeout(100),
      }),
    ).rejects.toThrow();
    await sim.waitForRequests(2);
    expect(sim.requests[1].aborted).toBe(true);
    expect(sim.requests[0].aborted).toBe(false);
  });

  it('replays the fixtures so the official client reads them', async () => {
    sim.enqueue({ type: 'fixture', name: 'generate-content-function-call.json' });
    const res = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Weather in Boston and SF?' });
    expect(res.functionCalls?.map((c) => c.args)).toEqual([{ location: 'Boston, MA' }, { location: 'San Francisco, CA' }]);
    expect(res.usageMetadata?.thoughtsTokenCount).toBe(60);

    sim.enqueue({ type: 'fixture', name: 'stream-text.sse', chunkDelayMs: 2 });
    const chunks = await collect(await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'AI?' }));
    expect(chunks.map((c) => c.text).join('')).toBe('AI learns patterns from data and uses them to make predictions.');

    sim.enqueue({ type: 'fixture', name: 'error-unavailable.json' });
    const err = await rejection(ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hi' }));
    expect(err.status).toBe(503);
  });

  it('answers with the default text when nothing is queued', async () => {
    const res = await ai.models.generateContent({ model: 'gemini-2.0-flash', contents: 'Hi' });
    expect(res.text).toBe(GEMINI_DEFAULT_TEXT);
  });
});
