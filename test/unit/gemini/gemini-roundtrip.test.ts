/**
 * Gemini in, Gemini out through the canonical model: @google/genai -> a tiny node:http
 * server running the Gemini codec and adapter -> the Gemini simulator. What the client
 * gets back went through the adapter's decoder and the codec's encoder, so its parser is
 * the judge of both; what the simulator received is the adapter's request.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError, GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../../src/core/canonical.ts';
import { GatewayError, isGatewayError } from '../../../src/core/errors.ts';
import { SseParser } from '../../../src/core/sse.ts';
import { createGeminiStreamEncoder, geminiCodec } from '../../../src/protocols/gemini/gemini-codec.ts';
import { geminiAdapter } from '../../../src/providers/gemini/gemini-adapter.ts';
import { startGeminiSimulator, type GeminiSimulator } from '../../helpers/gemini-simulator.ts';

const UPSTREAM_KEY = 'AIza-upstream';
let sim: GeminiSimulator;
let front: Server;
let ai: GoogleGenAI;
/** Canonical events the adapter decoded, per streamed request. */
const decoded: StreamEvent[][] = [];

async function readBody(req: import('node:http').IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

beforeAll(async () => {
  sim = await startGeminiSimulator({ apiKey: UPSTREAM_KEY });
  front = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const m = /^\/v1beta\/models\/([^:]+):(generateContent|streamGenerateContent)$/.exec(url.pathname);
      const fail = (err: GatewayError) => {
        const { status, body } = geminiCodec.encodeError(err);
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      try {
        if (!m) throw new GatewayError('unknown_url', 'not found');
        const stream = m[2] === 'streamGenerateContent';
        const jsonArray = stream && url.searchParams.get('alt') !== 'sse';
        const canonical = geminiCodec.decodeRequest(await readBody(req), { model: m[1], stream });
        const built = geminiAdapter.buildRequest(canonical, { baseUrl: `${sim.url}/v1beta`, apiKey: UPSTREAM_KEY, upstreamModel: 'gemini-2.5-flash', headers: {} });
        const up = await fetch(built.url, { method: 'POST', headers: built.headers, body: built.body });
        if (up.status >= 400) {
          const info = geminiAdapter.parseError(await up.text());
          throw new GatewayError('upstream_error', info.message, { status: up.status, publicCode: info.code ?? null });
        }
        const ctx = { model: m[1], requestId: 'req_front' };
        if (!stream) {
          const result = geminiAdapter.parseResult(await up.json());
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(geminiCodec.encodeResult(result, ctx)));
          return;
        }
        const encoder = jsonArray ? createGeminiStreamEncoder({ ...ctx, streamUsage: true }, { jsonArray: true }) : geminiCodec.createStreamEncoder({ ...ctx, streamUsage: true });
        const decoder = geminiAdapter.createStreamDecoder();
        const parser = new SseParser();
        const seen: StreamEvent[] = [];
        decoded.push(seen);
        res.writeHead(200, { 'content-type': jsonArray ? 'application/json' : 'text/event-stream' });
        const text = new TextDecoder();
        for await (const chunk of up.body as unknown as AsyncIterable<Uint8Array>) {
          for (const ev of parser.push(text.decode(chunk, { stream: true }))) {
            for (const e of decoder.decode(ev)) {
              seen.push(e);
              res.write(e.type === 'error' ? encoder.encodeError(new GatewayError('upstream_error', e.message, { status: e.status })) : encoder.encode(e));
            }
          }
        }
        for (const e of decoder.end()) {
          seen.push(e);
          res.write(e.type === 'error' ? encoder.encodeError(new GatewayError('upstream_error', e.message, { status: e.status })) : encoder.encode(e));
        }
        res.end(encoder.end());
      } catch (err) {
        if (res.headersSent) res.destroy();
        else fail(isGatewayError(err) ? err : new GatewayError('internal_error', String(err)));
      }
    })();
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', () => resolve()));
  ai = new GoogleGenAI({ apiKey: 'client-key', httpOptions: { baseUrl: `http://127.0.0.1:${(front.address() as AddressInfo).port}` } });
});

afterAll(async () => {
  front.closeAllConnections();
  await new Promise<void>((resolve) => front.close(() => resolve()));
  await sim.close();
});

beforeEach(() => {
  sim.requests.length = 0;
  decoded.length = 0;
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('Gemini -> canonical -> Gemini with @google/genai on both ends', () => {
  it('streams text through decoder and encoder', async () => {
    sim.enqueue({ type: 'text', text: 'The quick brown fox jumps over the lazy dog.', chunks: 3, promptTokens: 6, candidatesTokens: 10 });
    const chunks = await collect(await ai.models.generateContentStream({ model: 'front-model', contents: 'Say the pangram', config: { maxOutputTokens: 50 } }));
    expect(chunks.map((c) => c.text ?? '').join('')).toBe('The quick brown fox jumps over the lazy dog.');
    const last = chunks.at(-1)!;
    expect(last.candidates?.[0]?.finishReason).toBe('STOP');
    expect(last.usageMetadata).toEqual({ promptTokenCount: 6, candidatesTokenCount: 10, totalTokenCount: 16 });
    expect(last.modelVersion).toBe('front-model');

    // What the adapter sent upstream.
    expect(sim.requests[0].path).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(sim.requests[0].headers['x-goog-api-key']).toBe(UPSTREAM_KEY);
    expect(sim.requests[0].body).toEqual({ contents: [{ role: 'user', parts: [{ text: 'Say the pangram' }] }], generationConfig: { maxOutputTokens: 50 } });
    // What the decoder made of the simulator's stream.
    expect(decoded[0].map((e) => e.type)).toEqual(['start', 'text-start', 'text-delta', 'text-delta', 'text-delta', 'text-end', 'finish']);
    expect(decoded[0].at(-1)).toEqual({ type: 'finish', finishReason: 'stop', rawFinishReason: 'STOP', usage: { inputTokens: 6, outputTokens: 10 } });
  });

  it('round-trips thoughts, signatures and a function-calling turn', async () => {
    sim.enqueue({ type: 'function_call', calls: [{ name: 'get_weather', args: { city: 'Oslo' } }, { name: 'get_weather', args: { city: 'Bergen' } }], thoughtSignature: 'c2lnLWNhbGw=', thoughtsTokens: 30 });
    const tools = [{ functionDeclarations: [{ name: 'get_weather', description: 'Weather', parametersJsonSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }] }];
    const first = await collect(await ai.models.generateContentStream({ model: 'front-model', contents: 'Weather in Oslo and Bergen?', config: { tools } }));
    const modelParts = first.flatMap((c) => c.candidates?.[0]?.content?.parts ?? []);
    expect(modelParts.map((p) => ({ ...p, functionCall: p.functionCall && { name: p.functionCall.name, args: p.functionCall.args } }))).toEqual([
      { functionCall: { name: 'get_weather', args: { city: 'Oslo' } }, thoughtSignature: 'c2lnLWNhbGw=' },
      { functionCall: { name: 'get_weather', args: { city: 'Bergen' } } },
    ]);
    const ids = modelParts.map((p) => p.functionCall?.id);
    expect(ids[0]).toMatch(/^call_[A-Za-z0-9_-]+_0$/);
    expect(ids[1]).toMatch(/^call_[A-Za-z0-9_-]+_1$/);
    expect(first.at(-1)?.usageMetadata).toEqual({ promptTokenCount: 8, candidatesTokenCount: 18, totalTokenCount: 56, thoughtsTokenCount: 30 });
    expect(sim.requests[0].body.tools).toEqual([
      { functionDeclarations: [{ name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }] },
    ]);

    // Second turn: the client echoes the model turn and answers without ids.
    sim.enqueue({ type: 'text', text: 'Cold in both.' });
    const second = await ai.models.generateContent({
      model: 'front-model',
      contents: [
        { role: 'user', parts: [{ text: 'Weather in Oslo and Bergen?' }] },
        { role: 'model', parts: modelParts },
        {
          role: 'user',
          parts: [
            { functionResponse: { name: 'get_weather', response: { output: '-3C' } } },
            { functionResponse: { name: 'get_weather', response: { output: '2C' } } },
          ],
        },
      ],
      config: { tools },
    });
    expect(second.text).toBe('Cold in both.');
    expect(sim.requests[1].body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Weather in Oslo and Bergen?' }] },
      {
        role: 'model',
        parts: [{ functionCall: { name: 'get_weather', args: { city: 'Oslo' } }, thoughtSignature: 'c2lnLWNhbGw=' }, { functionCall: { name: 'get_weather', args: { city: 'Bergen' } } }],
      },
      {
        role: 'user',
        parts: [{ functionResponse: { name: 'get_weather', response: { output: '-3C' } } }, { functionResponse: { name: 'get_weather', response: { output: '2C' } } }],
      },
    ]);
  });

  it('streams thoughts and the closing signature, and frames a JSON array without alt=sse', async () => {
    sim.enqueue({ type: 'thought', thoughts: ['Think A.', 'Think B.'], text: 'Done.', thoughtSignature: 'c2ln' });
    const chunks = await collect(await ai.models.generateContentStream({ model: 'front-model', contents: 'Q', config: { thinkingConfig: { includeThoughts: true } } }));
    expect(chunks.flatMap((c) => c.candidates?.[0]?.content?.parts ?? [])).toEqual([
      { text: 'Think A.', thought: true },
      { text: 'Think B.', thought: true },
      { text: 'Done.' },
      { text: '', thoughtSignature: 'c2ln' },
    ]);
    expect(sim.requests[0].body.generationConfig).toEqual({ thinkingConfig: { includeThoughts: true } });

    sim.enqueue({ type: 'text', text: 'a b c d', chunks: 2 });
    const res = await fetch(`http://127.0.0.1:${(front.address() as AddressInfo).port}/v1beta/models/front-model:streamGenerateContent`, {
      method: 'POST',
      body: JSON.stringify({ contents: [{ parts: [{ text: 'x' }] }] }),
    });
    const array = JSON.parse(await res.text()) as Array<{ candidates: Array<{ content: { parts?: Array<{ text: string }> }; finishReason?: string }> }>;
    expect(array.map((c) => c.candidates[0].content.parts?.[0]?.text ?? null)).toEqual(['a b', ' c d', null]);
    expect(array.at(-1)?.candidates[0].finishReason).toBe('STOP');
  });

  it('non-stream: answers in Google shape, and renders upstream errors in Google shape', async () => {
    sim.enqueue({ type: 'thought', thoughts: ['Reasoning.'], text: 'Final.', thoughtsTokens: 7, promptTokens: 3 });
    const res = await ai.models.generateContent({ model: 'front-model', contents: 'Q', config: { thinkingConfig: { includeThoughts: true, thinkingBudget: 512 } } });
    expect(res.text).toBe('Final.');
    expect(res.candidates?.[0]?.content?.parts).toEqual([{ text: 'Reasoning.', thought: true }, { text: 'Final.' }]);
    expect(res.usageMetadata).toEqual({ promptTokenCount: 3, candidatesTokenCount: 1, totalTokenCount: 11, thoughtsTokenCount: 7 });

    sim.enqueue({ type: 'error', status: 429 });
    let err: unknown;
    try {
      await ai.models.generateContent({ model: 'front-model', contents: 'Q' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(429);
    expect(JSON.parse((err as ApiError).message).error.status).toBe('RESOURCE_EXHAUSTED');
  });

  it('a stream that fails after it started reaches the client as an error', async () => {
    sim.enqueue({ type: 'drop', afterChunks: 2 });
    let caught: unknown;
    const texts: string[] = [];
    try {
      for await (const c of await ai.models.generateContentStream({ model: 'front-model', contents: 'Q' })) texts.push(c.text ?? '');
    } catch (e) {
      caught = e;
    }
    expect(texts.length).toBeGreaterThan(0);
    expect(caught).toBeInstanceOf(Error);
  });
});
