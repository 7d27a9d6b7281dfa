/**
 * The OpenAI API beyond chat through the gateway, driven by the official `openai`
 * client against upstream simulators over real HTTP: legacy completions, embeddings
 * (OpenAI and Gemini upstreams), images, audio and moderations, each routed, metered
 * into the usage log in its own unit, and answering errors in OpenAI's shape.
 */
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { embeddingValues } from '../helpers/simulator-server.ts';
import { startGeminiSimulator, type GeminiSimulator } from '../helpers/gemini-simulator.ts';
import { makePng, speechAudio, startOpenAISimulator, type OpenAISimulator } from '../helpers/openai-simulator.ts';
import { makeWav } from '../helpers/wav.ts';
import { apiError } from '../helpers/api-error.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

const UPSTREAM_KEY = 'sk-upstream-surface-0123456789abcdef';
const GEMINI_KEY = 'gemini-upstream-key-0123456789';

let sim: OpenAISimulator;
let gem: GeminiSimulator;
let gw: TestGateway;
let client: OpenAI;
let key: string;
let keyId: string;

async function record(requestId: string | null) {
  await gw.services.recorder.flush();
  return gw.services.recorder.repository.findByRequestId(requestId as string);
}

beforeAll(async () => {
  sim = await startOpenAISimulator({ apiKey: UPSTREAM_KEY });
  gem = await startGeminiSimulator({ apiKey: GEMINI_KEY });
  gw = await startTestGateway({
    upstreams: [
      {
        name: 'oai',
        type: 'openai',
        base_url: sim.url,
        api_key: UPSTREAM_KEY,
        models: ['gpt-3.5-turbo-instruct', 'text-embedding-3-small', 'dall-e-3', 'dall-e-2', 'gpt-image-1', 'tts-1', 'whisper-1', 'gpt-4o-transcribe', 'omni-moderation-latest'],
        model_map: { 'my-embedder': 'text-embedding-3-small' },
      },
      { name: 'gem', type: 'gemini', base_url: gem.url, api_key: GEMINI_KEY, models: ['gemini-embedding-001'] },
    ],
    models: {
      'dall-e-3': { image_price: { '1024x1024': 0.04, '1024x1792': 0.08, 'hd:1024x1024': 0.08 } },
      'gpt-image-1': { image_price: 0.01, input_price: 5, output_price: 40 },
      'tts-1': { character_price: 15 },
      'whisper-1': { minute_price: 0.006 },
      'text-embedding-3-small': { input_price: 0.02 },
    },
    limits: { max_upload_mb: 0.5 },
    retry: { attempts: 1 },
  });
  const created = await gw.createKey({ name: 'surface' });
  key = created.key;
  keyId = created.id;
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: key, maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await sim?.close();
  await gem?.close();
});

beforeEach(() => {
  sim.requests.length = 0;
  gem.requests.length = 0;
});

describe('POST /v1/completions', () => {
  it('answers non-stream with exact usage', async () => {
    sim.enqueue({ type: 'text', text: 'Once upon a time', promptTokens: 7, completionTokens: 4 });
    const { data, response } = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Tell me a story', max_tokens: 20 }).withResponse();
    expect(data.object).toBe('text_completion');
    expect(data.choices[0].text).toBe('Once upon a time');
    expect(data.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 4 });
    expect(sim.requests.at(-1)?.path).toBe('/v1/completions');
    const rec = await record(response.headers.get('x-request-id'));
    expect(rec).toMatchObject({ endpoint: 'completions', model: 'gpt-3.5-turbo-instruct', prompt_tokens: 7, completion_tokens: 4, unit: 'tokens', estimated: 0 });
  });

  it('streams, asks the upstream for usage and strips it when the client did not ask', async () => {
    sim.enqueue({ type: 'text', text: 'one two three', promptTokens: 5, completionTokens: 3 });
    const stream = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: ['count'], stream: true });
    let text = '';
    let sawUsage = false;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      if (chunk.usage) sawUsage = true;
    }
    expect(text).toBe('one two three');
    expect(sawUsage).toBe(false);
    expect(sim.requests.at(-1)?.body.stream_options).toEqual({ include_usage: true });
    await gw.services.recorder.flush();
    const rows = await gw.services.recorder.repository.list({ keyId, limit: 1 });
    expect(rows[0]).toMatchObject({ endpoint: 'completions', stream: 1, prompt_tokens: 5, completion_tokens: 3, estimated: 0 });
  });

  it('keeps the usage chunk when the client asked for it', async () => {
    sim.enqueue({ type: 'text', text: 'a b', promptTokens: 2, completionTokens: 2 });
    const stream = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', stream: true, stream_options: { include_usage: true } });
    const usages = [];
    for await (const chunk of stream) if (chunk.usage) usages.push(chunk.usage);
    expect(usages).toEqual([expect.objectContaining({ prompt_tokens: 2, completion_tokens: 2 })]);
  });

  it('400 for a missing prompt, in OpenAI shape, before any upstream call', async () => {
    const err = await apiError(client.completions.create({ model: 'gpt-3.5-turbo-instruct' } as never));
    expect(err.status).toBe(400);
    expect(err.param).toBe('prompt');
    expect(sim.requests).toHaveLength(0);
  });
});

describe('POST /v1/embeddings', () => {
  it('float and base64 (the client default) against an OpenAI upstream, renamed through model_map', async () => {
    const floats = await client.embeddings.create({ model: 'my-embedder', input: ['hello world', 'second'], encoding_format: 'float' });
    expect(floats.data).toHaveLength(2);
    expect(floats.data[0].embedding).toEqual(embeddingValues('hello world', 1536));
    expect(sim.requests.at(-1)?.body.model).toBe('text-embedding-3-small');
    // The official client asks for base64 by default and decodes it back to floats.
    const { data, response } = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world', dimensions: 8 }).withResponse();
    expect(sim.requests.at(-1)?.body.encoding_format).toBe('base64');
    expect(data.data[0].embedding).toHaveLength(8);
    const expected = embeddingValues('hello world', 8);
    data.data[0].embedding.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
    const rec = await record(response.headers.get('x-request-id'));
    expect(rec).toMatchObject({ endpoint: 'embeddings', unit: 'tokens', prompt_tokens: data.usage.prompt_tokens, completion_tokens: 0, estimated: 0 });
  });

  it('token-array input passes through', async () => {
    const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: [[1, 2, 3], [4, 5]], encoding_format: 'float' });
    expect(res.data[1].embedding).toEqual(embeddingValues([4, 5] as unknown as string, 1536));
    expect(sim.requests.at(-1)?.body.input).toEqual([[1, 2, 3], [4, 5]]);
  });

  it('converts to batchEmbedContents for a Gemini upstream, in both encodings', async () => {
    const { data, response } = await client.embeddings.create({ model: 'gemini-embedding-001', input: ['alpha', 'beta'], dimensions: 16 }).withResponse();
    const sent = gem.requests.at(-1);
    expect(sent?.path).toBe('/v1beta/models/gemini-embedding-001:batchEmbedContents');
    expect(sent?.body.requests).toEqual([
      { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'alpha' }] }, outputDimensionality: 16 },
      { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'beta' }] }, outputDimensionality: 16 },
    ]);
    expect(data.object).toBe('list');
    expect(data.model).toBe('gemini-embedding-001');
    expect(data.data.map((d) => d.index)).toEqual([0, 1]);
    expect(data.data[0].embedding).toHaveLength(16);
    expect(data.usage.prompt_tokens).toBeGreaterThan(0);
    const floats = await client.embeddings.create({ model: 'gemini-embedding-001', input: 'alpha', dimensions: 16, encoding_format: 'float' });
    data.data[0].embedding.forEach((v, i) => expect(v).toBeCloseTo(floats.data[0].embedding[i], 6));
    const rec = await record(response.headers.get('x-request-id'));
    expect(rec).toMatchObject({ endpoint: 'embeddings', upstream: 'gem', prompt_tokens: data.usage.prompt_tokens, estimated: 1 });
  });

  it('refuses token arrays for a Gemini upstream and an empty input', async () => {
    const a = await apiError(client.embeddings.create({ model: 'gemini-embedding-001', input: [1, 2] }));
    expect(a.status).toBe(400);
    expect(a.param).toBe('input');
    const b = await apiError(client.embeddings.create({ model: 'text-embedding-3-small', input: '' }));
    expect(b.status).toBe(400);
    expect(gem.requests).toHaveLength(0);
    expect(sim.requests).toHaveLength(0);
  });
});

describe('images', () => {
  it('generations with url and b64_json, metered per image at the size price', async () => {
    const urls = await client.images.generate({ model: 'dall-e-3', prompt: 'a red fox', size: '1024x1792', response_format: 'url' }).withResponse();
    expect(urls.data.data?.[0].url).toMatch(/^http:\/\/127\.0\.0\.1/);
    const rec = await record(urls.response.headers.get('x-request-id'));
    expect(rec).toMatchObject({ endpoint: 'images.generations', unit: 'images', quantity: 1 });
    expect(rec?.cost_usd).toBeCloseTo(0.08, 9);

    const b64 = await client.images.generate({ model: 'dall-e-3', prompt: 'a red fox', response_format: 'b64_json', quality: 'hd' }).withResponse();
    const png = Buffer.from(b64.data.data?.[0].b64_json ?? '', 'base64');
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect((await record(b64.response.headers.get('x-request-id')))?.cost_usd).toBeCloseTo(0.08, 9);
  });

  it('gpt-image-1 is charged per image and for the tokens it reports', async () => {
    sim.enqueue({ type: 'text', promptTokens: 10, completionTokens: 1000 });
    const { data, response } = await client.images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse', n: 2 }).withResponse();
    expect(data.data).toHaveLength(2);
    const rec = await record(response.headers.get('x-request-id'));
    expect(rec).toMatchObject({ unit: 'images', quantity: 2, prompt_tokens: 10, completion_tokens: 1000 });
    expect(rec?.cost_usd).toBeCloseTo(2 * 0.01 + (10 * 5 + 1000 * 40) / 1e6, 9);
  });

  it('edits with a real PNG and a mask: the upstream gets the same bytes', async () => {
    const image = makePng(4, 4, [0, 128, 255, 255]);
    const mask = makePng(4, 4, [0, 0, 0, 0]);
    const { data } = await client.images.edit({
      model: 'dall-e-2',
      image: await toFile(image, 'scene.png', { type: 'image/png' }),
      mask: await toFile(mask, 'mask.png', { type: 'image/png' }),
      prompt: 'add a moon',
      response_format: 'b64_json',
    });
    expect(data?.[0].b64_json).toBeTruthy();
    const sent = sim.requests.at(-1);
    expect(sent?.path).toBe('/v1/images/edits');
    expect(sent?.body.image.data.equals(image)).toBe(true);
    expect(sent?.body.image.filename).toBe('scene.png');
    expect(sent?.body.mask.data.equals(mask)).toBe(true);
    expect(sent?.body.prompt).toBe('add a moon');
  });

  it('edits with several image[] files (gpt-image-1), and variations', async () => {
    const a = makePng(2, 2);
    const b = makePng(3, 3);
    await client.images.edit({ model: 'gpt-image-1', image: [await toFile(a, 'a.png', { type: 'image/png' }), await toFile(b, 'b.png', { type: 'image/png' })], prompt: 'merge' });
    const sent = sim.requests.at(-1);
    expect(sent?.body['image[]'].map((f: { data: Buffer }) => f.data.length)).toEqual([a.length, b.length]);
    const v = await client.images.createVariation({ model: 'dall-e-2', image: await toFile(a, 'a.png', { type: 'image/png' }), n: 2 }).withResponse();
    expect(v.data.data).toHaveLength(2);
    expect(sim.requests.at(-1)?.path).toBe('/v1/images/variations');
    expect((await record(v.response.headers.get('x-request-id')))?.endpoint).toBe('images.variations');
  });
});

describe('audio', () => {
  it('speech: the audio bytes come back as the upstream sent them, metered per character', async () => {
    const input = 'Hello from the gateway, spoken.';
    for (const format of ['mp3', 'wav', 'opus'] as const) {
      const res = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input, response_format: format });
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(bytes.equals(speechAudio({ model: 'tts-1', voice: 'alloy', input, response_format: format }))).toBe(true);
      expect(res.headers.get('content-type')).toBe({ mp3: 'audio/mpeg', wav: 'audio/wav', opus: 'audio/opus' }[format]);
    }
    await gw.services.recorder.flush();
    const rows = await gw.services.recorder.repository.list({ keyId, limit: 1 });
    expect(rows[0]).toMatchObject({ endpoint: 'audio.speech', unit: 'characters', quantity: input.length });
    expect(rows[0].cost_usd).toBeCloseTo((input.length * 15) / 1e6, 12);
  });

  it('speech: a client that disconnects mid-audio aborts the upstream call', async () => {
    sim.enqueue({ type: 'text', chunks: 20, chunkDelayMs: 100 });
    const controller = new AbortController();
    const res = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'A long sentence to speak slowly.' }, { signal: controller.signal });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(first.value?.length).toBeGreaterThan(0);
    controller.abort();
    await reader.cancel().catch(() => undefined);
    const until = Date.now() + 3000;
    while (!sim.requests.at(-1)?.aborted && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(sim.requests.at(-1)?.aborted).toBe(true);
  });

  it('transcriptions of a real WAV in every response_format, metered in seconds', async () => {
    const wav = makeWav(3, 16_000);
    const file = await toFile(wav, 'speech.wav', { type: 'audio/wav' });
    const json = await client.audio.transcriptions.create({ model: 'whisper-1', file }).withResponse();
    expect(typeof json.data.text).toBe('string');
    expect(sim.requests.at(-1)?.body.file.data.equals(wav)).toBe(true);
    const rec = await record(json.response.headers.get('x-request-id'));
    expect(rec).toMatchObject({ endpoint: 'audio.transcriptions', unit: 'seconds' });
    expect(rec?.quantity).toBeCloseTo(3, 2);
    expect(rec?.cost_usd).toBeCloseTo((3 / 60) * 0.006, 9);

    const text = await client.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(wav, 'speech.wav'), response_format: 'text' }).withResponse();
    expect(typeof text.data).toBe('string');
    expect(text.response.headers.get('content-type')).toMatch(/^text\/plain/);
    const srt = await client.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(wav, 'speech.wav'), response_format: 'srt' });
    expect(String(srt)).toMatch(/-->/);
    const vtt = await client.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(wav, 'speech.wav'), response_format: 'vtt' });
    expect(String(vtt)).toMatch(/^WEBVTT/);
    const verbose = await client.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(wav, 'speech.wav'), response_format: 'verbose_json', timestamp_granularities: ['word'] });
    expect(verbose.duration).toBeCloseTo(3, 1);
    expect(sim.requests.at(-1)?.body['timestamp_granularities[]']).toEqual(['word']);
  });

  it('translations', async () => {
    const wav = makeWav(1.5, 8_000);
    const { data, response } = await client.audio.translations.create({ model: 'whisper-1', file: await toFile(wav, 'fr.wav', { type: 'audio/wav' }) }).withResponse();
    expect(typeof data.text).toBe('string');
    expect(sim.requests.at(-1)?.path).toBe('/v1/audio/translations');
    const rec = await record(response.headers.get('x-request-id'));
    expect(rec).toMatchObject({ endpoint: 'audio.translations', unit: 'seconds' });
    expect(rec?.quantity).toBeCloseTo(1.5, 2);
  });

  it('413 for an oversized upload before the upstream is called; 415 for JSON; 400 naming a missing file', async () => {
    const big = await toFile(Buffer.alloc(700 * 1024, 1), 'big.wav', { type: 'audio/wav' });
    const tooBig = await apiError(client.audio.transcriptions.create({ model: 'whisper-1', file: big }));
    expect(tooBig.status).toBe(413);
    const json = await fetch(`${gw.baseURL}/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'whisper-1' }),
    });
    expect(json.status).toBe(415);
    expect((await json.json()).error.message).toMatch(/multipart\/form-data/);
    const form = new FormData();
    form.append('model', 'whisper-1');
    const missing = await fetch(`${gw.baseURL}/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
    expect(missing.status).toBe(400);
    expect((await missing.json()).error).toMatchObject({ param: 'file', type: 'invalid_request_error' });
    expect(sim.requests).toHaveLength(0);
  });
});

describe('POST /v1/moderations', () => {
  it('passes through and counts input tokens itself', async () => {
    const { data, response } = await client.moderations.create({ input: ['I love cats', 'another text'] }).withResponse();
    expect(data.results).toHaveLength(2);
    expect(sim.requests.at(-1)?.body.model).toBe('omni-moderation-latest');
    const rec = await record(response.headers.get('x-request-id'));
    expect(rec).toMatchObject({ endpoint: 'moderations', estimated: 1 });
    expect(rec?.prompt_tokens).toBeGreaterThan(0);
  });
});

describe('routing and errors across the surface', () => {
  it('unknown model: 404 in OpenAI shape', async () => {
    const err = await apiError(client.embeddings.create({ model: 'no-such-embedder', input: 'x' }));
    expect(err.status).toBe(404);
    expect(err.code).toBe('model_not_found');
  });

  it('a model whose upstream cannot serve the endpoint: 400 naming it', async () => {
    const err = await apiError(client.audio.speech.create({ model: 'gemini-embedding-001', voice: 'alloy', input: 'x' }));
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/gemini upstreams.*\/v1\/audio\/speech/);
  });

  it('answers under /v1-openai as well, and /v1/usage adds by_endpoint', async () => {
    const alt = new OpenAI({ baseURL: `${gw.url}/v1-openai`, apiKey: key, maxRetries: 0 });
    await alt.moderations.create({ input: 'hello' });
    const usage = await (await fetch(`${gw.baseURL}/usage`, { headers: { authorization: `Bearer ${key}` } })).json();
    const endpoints = usage.by_endpoint.map((e: { endpoint: string }) => e.endpoint);
    expect(endpoints).toEqual(expect.arrayContaining(['moderations', 'embeddings', 'images.generations', 'audio.speech', 'audio.transcriptions']));
    expect(usage.by_endpoint.find((e: { endpoint: string }) => e.endpoint === 'audio.speech')).toMatchObject({ unit: 'characters' });
  });

  it('a wrong gateway key gets 401 on every new endpoint', async () => {
    const bad = new OpenAI({ baseURL: gw.baseURL, apiKey: 'sk-wrong', maxRetries: 0 });
    const err = await apiError(bad.moderations.create({ input: 'x' }));
    expect(err.status).toBe(401);
    const form = new FormData();
    form.append('model', 'whisper-1');
    form.append('file', new Blob([new Uint8Array(makeWav(0.1))]), 'a.wav');
    const res = await fetch(`${gw.baseURL}/audio/transcriptions`, { method: 'POST', headers: { authorization: 'Bearer sk-wrong' }, body: form });
    expect(res.status).toBe(401);
  });
});

