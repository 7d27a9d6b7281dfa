import { GoogleGenAI } from '@google/genai';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { embeddingValues as geminiEmbeddingValues, type GeminiSimulator, startGeminiSimulator } from '../helpers/gemini-simulator.ts';
import {
  DEFAULT_TEXT,
  DEFAULT_TRANSCRIPT,
  embeddingFromBase64,
  embeddingValues,
  IMAGE_INPUT_TOKENS_PER_IMAGE,
  makePng,
  makeWav,
  MODERATION_CATEGORIES,
  type MultipartFile,
  type OpenAISimulator,
  parseWav,
  pngSize,
  SPEECH_SAMPLE_RATE,
  speechAudio,
  speechSeconds,
  startOpenAISimulator,
  TINY_PNG,
} from '../helpers/openai-simulator.ts';

const KEY = 'sk-sim-endpoints-0123456789';
const AUTH = { authorization: `Bearer ${KEY}` };

let sim: OpenAISimulator;
let client: OpenAI;

beforeAll(async () => {
  sim = await startOpenAISimulator({ apiKey: KEY });
  client = new OpenAI({ baseURL: sim.url, apiKey: KEY, maxRetries: 0 });
});

afterAll(async () => {
  await sim?.close();
});

beforeEach(() => {
  sim.requests.length = 0;
  sim.handler = () => ({ type: 'text' });
});

const postJson = (path: string, body: unknown, headers: Record<string, string> = AUTH) =>
  fetch(`${sim.url}${path}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
const postForm = (path: string, form: FormData, headers: Record<string, string> = AUTH) => fetch(`${sim.url}${path}`, { method: 'POST', headers, body: form });

type ErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };
async function expectError(res: Response, status: number, expected: Partial<ErrorBody['error']>) {
  expect(res.status).toBe(status);
  const body = (await res.json()) as ErrorBody;
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(body.error).toMatchObject({ type: 'invalid_request_error', ...expected });
  return body.error;
}

/** Splits a `data: ...\n\n` stream into its payloads. */
function dataEvents(text: string): string[] {
  return text
    .split('\n\n')
    .filter((e) => e.length > 0)
    .map((e) => {
      expect(e.startsWith('data: ')).toBe(true);
      return e.slice('data: '.length);
    });
}

/** Splits an `event: T\ndata: {...}\n\n` stream into [event, data]. */
function namedEvents(text: string): Array<{ event: string; data: any }> {
  return text
    .split('\n\n')
    .filter((e) => e.length > 0)
    .map((e) => {
      const m = /^event: (.+)\ndata: (.+)$/s.exec(e);
      expect(m, e).not.toBeNull();
      return { event: (m as RegExpExecArray)[1], data: JSON.parse((m as RegExpExecArray)[2]) };
    });
}

/** A Blob of exactly these bytes. */
const blob = (data: Buffer, type: string) => new Blob([new Uint8Array(data)], { type });
const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

describe('media helpers', () => {
  it('makeWav writes a real PCM WAV whose duration parseWav reads back', () => {
    const wav = makeWav(1.5, 8000);
    expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
    expect(wav.readUInt32LE(4)).toBe(wav.length - 8);
    expect(wav.length).toBe(44 + 1.5 * 8000 * 2);
    expect(parseWav(wav)).toMatchObject({ audioFormat: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16, byteRate: 16000, dataBytes: 24000, duration: 1.5 });
    expect(parseWav(makeWav(2, 44100, { channels: 2 }))?.duration).toBe(2);
    expect(parseWav(Buffer.from('not a wav file at all'))).toBeNull();
  });

  it('TINY_PNG is a valid 1x1 PNG, and makePng builds others', () => {
    expect(pngSize(TINY_PNG)).toEqual({ width: 1, height: 1 });
    expect(TINY_PNG.subarray(-12).toString('latin1')).toBe('\0\0\0\0IEND\xaeB`\x82');
    const png = makePng(4, 2);
    expect(pngSize(png)).toEqual({ width: 4, height: 2 });
    expect(pngSize(Buffer.from('GIF89a'))).toBeNull();
  });

  it('embeddingValues is deterministic, unit length, and prefix-consistent', () => {
    const a = embeddingValues('hello', 8);
    expect(embeddingValues('hello', 8)).toEqual(a);
    expect(embeddingValues('world', 8)).not.toEqual(a);
    expect(norm(a)).toBeCloseTo(1, 5);
    expect(a.every((x) => Math.fround(x) === x)).toBe(true);
    // Truncated against a longer vector: the same direction, not renormalised.
    const long = embeddingValues('hello', 32);
    const cut = embeddingValues('hello', 8, 32);
    expect(cut).toEqual(long.slice(0, 8));
    expect(norm(cut)).toBeLessThan(1);
    expect(embeddingValues([1, 2, 3], 4)).not.toEqual(embeddingValues('1,2,3', 4));
  });
});

describe('requests record multipart bodies', () => {
  it('keeps fields, each file name, content type and exact bytes', async () => {
    const wav = makeWav(0.5);
    const form = new FormData();
    form.append('model', 'whisper-1');
    form.append('file', blob(wav, 'audio/wav'), 'clip.wav');
    form.append('timestamp_granularities[]', 'word');
    form.append('timestamp_granularities[]', 'segment');
    form.append('response_format', 'verbose_json');
    const res = await postForm('/audio/transcriptions', form);
    expect(res.status).toBe(200);
    const rec = sim.requests[0];
    expect(rec).toMatchObject({ method: 'POST', path: '/v1/audio/transcriptions' });
    expect(rec.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(rec.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(rec.body.model).toBe('whisper-1');
    expect(rec.body['timestamp_granularities[]']).toEqual(['word', 'segment']);
    const file = rec.body.file as MultipartFile;
    expect(file).toMatchObject({ filename: 'clip.wav', contentType: 'audio/wav', size: wav.length });
    expect(file.data.equals(wav)).toBe(true);
    expect(rec.multipart?.map((p) => p.name)).toEqual(['model', 'file', 'timestamp_granularities[]', 'timestamp_granularities[]', 'response_format']);
    expect(rec.rawBytes.length).toBe(Number(rec.headers['content-length']));
  });

  it('records a part without a Content-Type header as contentType null', async () => {
    const wav = makeWav(0.1);
    const boundary = 'sim-boundary-123';
    const raw = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n`),
      wav,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await fetch(`${sim.url}/audio/transcriptions`, { method: 'POST', headers: { ...AUTH, 'content-type': `multipart/form-data; boundary=${boundary}` }, body: raw });
    expect(res.status).toBe(200);
    const file = sim.requests[0].body.file as MultipartFile;
    expect(file.contentType).toBeNull();
    expect(file.data.equals(wav)).toBe(true);
  });
});

describe('every new endpoint checks the bearer key', () => {
  it.each([
    '/completions',
    '/embeddings',
    '/images/generations',
    '/images/edits',
    '/images/variations',
    '/audio/speech',
    '/audio/transcriptions',
    '/audio/translations',
    '/moderations',
    '/responses',
  ])('POST %s without a key is 401, with a wrong key 401 invalid_api_key', async (path) => {
    const none = await postJson(path, {}, {});
    expect(none.status).toBe(401);
    expect(((await none.json()) as ErrorBody).error.message).toContain("You didn't provide an API key");
    const wrong = await postJson(path, {}, { authorization: 'Bearer sk-wrong' });
    await expectError(wrong, 401, { code: 'invalid_api_key' });
  });
});

describe('POST /completions', () => {
  it('answers a text_completion the SDK accepts, one choice per prompt and n, with echo', async () => {
    sim.enqueue({ type: 'text', text: ' world and more' });
    const r = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: ['Hello', 'Bye now'], n: 2, echo: true });
    expect(r.id).toMatch(/^cmpl-/);
    expect(r.object).toBe('text_completion');
    expect(r.model).toBe('gpt-3.5-turbo-instruct');
    expect(r.choices).toEqual([
      { text: 'Hello world and more', index: 0, logprobs: null, finish_reason: 'stop' },
      { text: 'Hello world and more', index: 1, logprobs: null, finish_reason: 'stop' },
      { text: 'Bye now world and more', index: 2, logprobs: null, finish_reason: 'stop' },
      { text: 'Bye now world and more', index: 3, logprobs: null, finish_reason: 'stop' },
    ]);
    // prompt: 1 + 2 word tokens; completion: 3 tokens x 4 choices
    expect(r.usage).toEqual({ prompt_tokens: 3, completion_tokens: 12, total_tokens: 15 });
    expect(sim.requests[0].body).toEqual({ model: 'gpt-3.5-turbo-instruct', prompt: ['Hello', 'Bye now'], n: 2, echo: true });
  });

  it('takes token-array prompts and stops at max_tokens with finish_reason length', async () => {
    const r = await client.completions.create({ model: 'davinci-002', prompt: [[1, 2, 3], [4, 5]], max_tokens: 2 });
    expect(r.choices.map((c) => [c.index, c.text, c.finish_reason])).toEqual([
      [0, 'Hello from', 'length'],
      [1, 'Hello from', 'length'],
    ]);
    expect(r.usage).toEqual({ prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 });
  });

  it('streams text_completion chunks, then a usage chunk with choices [] and [DONE]', async () => {
    sim.enqueue({ type: 'text', text: 'a b c', promptTokens: 4 });
    const res = await postJson('/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'x', stream: true, stream_options: { include_usage: true } });
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const data = dataEvents(await res.text());
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'text_completion')).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.text ?? null)).toEqual(['a', ' b', ' c', '', null]);
    expect(chunks[3].choices[0]).toEqual({ text: '', index: 0, logprobs: null, finish_reason: 'stop' });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 } });

    // The SDK reads the same stream.
    const stream = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.text ?? '';
    expect(text).toBe(DEFAULT_TEXT);
  });

  it('validates model and prompt', async () => {
    await expectError(await postJson('/completions', { model: 'gpt-3.5-turbo-instruct' }), 400, { message: "Missing required parameter: 'prompt'.", param: 'prompt', code: 'missing_required_parameter' });
    await expectError(await postJson('/completions', { prompt: 'x' }), 400, { message: 'you must provide a model parameter' });
    await expectError(await postJson('/completions', { model: 'm', prompt: [{ a: 1 }] }), 400, { param: 'prompt', code: 'invalid_type' });
  });
});

describe('POST /embeddings', () => {
  it('answers deterministic float vectors per input, with usage', async () => {
    const r = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['first text', 'second one here'], encoding_format: 'float' });
    expect(r.object).toBe('list');
    expect(r.model).toBe('text-embedding-3-small');
    expect(r.data.map((d) => [d.object, d.index, d.embedding.length])).toEqual([
      ['embedding', 0, 1536],
      ['embedding', 1, 1536],
    ]);
    expect(r.data[0].embedding).toEqual(embeddingValues('first text', 1536));
    expect(r.data[1].embedding).toEqual(embeddingValues('second one here', 1536));
    expect(r.usage).toEqual({ prompt_tokens: 5, total_tokens: 5 });
  });

  it('encodes base64 as little-endian float32, and dimensions shortens and renormalises', async () => {
    const res = await postJson('/embeddings', { model: 'text-embedding-3-large', input: 'abc', encoding_format: 'base64', dimensions: 256 });
    const body = (await res.json()) as { data: Array<{ embedding: string }> };
    expect(typeof body.data[0].embedding).toBe('string');
    const values = embeddingFromBase64(body.data[0].embedding);
    expect(values).toEqual(embeddingValues('abc', 256));
    expect(norm(values)).toBeCloseTo(1, 5);
    // The SDK (which asks for base64 by default and decodes it) sees the same numbers.
    const viaSdk = await client.embeddings.create({ model: 'text-embedding-3-large', input: 'abc', dimensions: 256 });
    expect(viaSdk.data[0].embedding).toEqual(values);
    expect(sim.requests[1].body.encoding_format).toBe('base64');
  });

  it('embeds token arrays, and ada-002 answers its -v2 model name', async () => {
    const r = await client.embeddings.create({ model: 'text-embedding-ada-002', input: [[1, 2, 3]], encoding_format: 'float' });
    expect(r.model).toBe('text-embedding-ada-002-v2');
    expect(r.data[0].embedding).toEqual(embeddingValues([1, 2, 3], 1536));
    expect(r.usage.prompt_tokens).toBe(3);
  });

  it('validates input, encoding_format and dimensions', async () => {
    await expectError(await postJson('/embeddings', { model: 'text-embedding-3-small' }), 400, { param: 'input', code: 'missing_required_parameter' });
    await expectError(await postJson('/embeddings', { model: 'text-embedding-3-small', input: '' }), 400, { message: expect.stringContaining("'$.input' is invalid") });
    await expectError(await postJson('/embeddings', { input: 'x' }), 400, { message: 'you must provide a model parameter' });
    await expectError(await postJson('/embeddings', { model: 'text-embedding-3-small', input: 'x', encoding_format: 'int8' }), 400, { param: 'encoding_format', code: 'invalid_value' });
    await expectError(await postJson('/embeddings', { model: 'text-embedding-ada-002', input: 'x', dimensions: 8 }), 400, { message: 'This model does not support specifying dimensions.' });
    await expectError(await postJson('/embeddings', { model: 'text-embedding-3-small', input: 'x', dimensions: 5000 }), 400, { param: 'dimensions', code: 'integer_above_max_value' });
    expect(sim.requests).toHaveLength(6);
  });

  it('plays error scenarios after validation', async () => {
    sim.enqueue({ type: 'error', status: 429, message: 'Slow down' });
    const err = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as Error).message).toContain('Slow down');
  });
});

describe('POST /images/generations', () => {
  it('dall-e-2 (the default model) answers URLs the simulator serves, as a real PNG', async () => {
    const r = await client.images.generate({ prompt: 'a red dot', n: 2 });
    expect(typeof r.created).toBe('number');
    expect(r.data).toHaveLength(2);
    for (const img of r.data ?? []) {
      expect(Object.keys(img)).toEqual(['url']);
      expect(img.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/sim-files\/img-[A-Za-z0-9]+\.png\?st=.*&sig=/);
      const png = await fetch(img.url as string);
      expect(png.headers.get('content-type')).toBe('image/png');
      expect(Buffer.from(await png.arrayBuffer()).equals(TINY_PNG)).toBe(true);
    }
    expect(r).not.toHaveProperty('usage');
  });

  it('dall-e-3 adds revised_prompt; b64_json carries the PNG bytes', async () => {
    const r = await client.images.generate({ model: 'dall-e-3', prompt: 'a cat', size: '1792x1024', quality: 'hd', style: 'natural', response_format: 'b64_json' });
    expect(r.data?.[0].revised_prompt).toBe('a cat, rendered in rich detail.');
    expect(Buffer.from(r.data?.[0].b64_json as string, 'base64').equals(TINY_PNG)).toBe(true);
    await expectError(await postJson('/images/generations', { model: 'dall-e-3', prompt: 'x', n: 2 }), 400, { param: 'n', code: 'integer_above_max_value' });
  });

  it('gpt-image-1 always answers b64_json with usage, and rejects response_format like OpenAI', async () => {
    const r = await client.images.generate({ model: 'gpt-image-1', prompt: 'three word prompt', size: '1536x1024', quality: 'low' });
    expect(r).toMatchObject({ background: 'opaque', output_format: 'png', quality: 'low', size: '1536x1024' });
    expect(Buffer.from(r.data?.[0].b64_json as string, 'base64').equals(TINY_PNG)).toBe(true);
    expect(r.data?.[0]).not.toHaveProperty('revised_prompt');
    expect(r.usage).toEqual({ input_tokens: 3, input_tokens_details: { image_tokens: 0, text_tokens: 3 }, output_tokens: 408, total_tokens: 411 });
    await expectError(await postJson('/images/generations', { model: 'gpt-image-1', prompt: 'x', response_format: 'b64_json' }), 400, {
      message: "Unknown parameter: 'response_format'.",
      param: 'response_format',
      code: 'unknown_parameter',
    });
  });

  it('streams partial images then completed for the GPT image models', async () => {
    const res = await postJson('/images/generations', { model: 'gpt-image-1', prompt: 'x', stream: true, partial_images: 2 });
    const events = namedEvents(await res.text());
    expect(events.map((e) => e.event)).toEqual(['image_generation.partial_image', 'image_generation.partial_image', 'image_generation.completed']);
    expect(events.every((e) => e.data.type === e.event)).toBe(true);
    expect(events[1].data.partial_image_index).toBe(1);
    expect(events[2].data.usage.total_tokens).toBe(1057);
  });

  it('validates prompt and size', async () => {
    await expectError(await postJson('/images/generations', { model: 'dall-e-2' }), 400, { param: 'prompt', code: 'missing_required_parameter' });
    await expectError(await postJson('/images/generations', { prompt: 'x', size: '999x999' }), 400, { param: 'size', code: 'invalid_value', message: "Invalid value: '999x999'. Supported values are: '256x256', '512x512', and '1024x1024'." });
  });
});

describe('POST /images/edits and /images/variations', () => {
  it('gpt-image-1 takes several images as image[] through the SDK; each file is recorded byte for byte', async () => {
    const a = makePng(2, 2, [0, 255, 0, 255]);
    const b = makePng(3, 3, [0, 0, 255, 255]);
    const r = await client.images.edit({
      model: 'gpt-image-1',
      image: [await toFile(a, 'a.png', { type: 'image/png' }), await toFile(b, 'b.png', { type: 'image/png' })],
      prompt: 'merge them',
    });
    expect(Buffer.from(r.data?.[0].b64_json as string, 'base64').equals(TINY_PNG)).toBe(true);
    expect(r.usage?.input_tokens_details).toEqual({ image_tokens: 2 * IMAGE_INPUT_TOKENS_PER_IMAGE, text_tokens: 2 });
    const files = sim.requests[0].body['image[]'] as MultipartFile[];
    expect(files.map((f) => [f.filename, f.contentType])).toEqual([
      ['a.png', 'image/png'],
      ['b.png', 'image/png'],
    ]);
    expect(files[0].data.equals(a) && files[1].data.equals(b)).toBe(true);
    expect(sim.requests[0].body.prompt).toBe('merge them');
  });

  it('dall-e-2 edits one square PNG with a mask, answering a URL', async () => {
    const form = new FormData();
    form.append('model', 'dall-e-2');
    form.append('image', blob(makePng(4, 4), 'image/png'), 'in.png');
    form.append('mask', blob(makePng(4, 4, [0, 0, 0, 0]), 'image/png'), 'mask.png');
    form.append('prompt', 'add a hat');
    form.append('n', '1');
    form.append('size', '256x256');
    const res = await postForm('/images/edits', form);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: Array<{ url: string }> };
    expect(body.data[0].url).toContain('/sim-files/');
    expect((sim.requests[0].body.mask as MultipartFile).filename).toBe('mask.png');
  });

  it('rejects a missing image, a non-image mimetype, and a non-square dall-e-2 image', async () => {
    const noImage = new FormData();
    noImage.append('prompt', 'x');
    await expectError(await postForm('/images/edits', noImage), 400, { param: 'image', code: 'missing_required_parameter' });

    const octet = new FormData();
    octet.append('model', 'gpt-image-1');
    octet.append('prompt', 'x');
    octet.append('image', blob(TINY_PNG, 'application/octet-stream'), 'x.png');
    const err = await expectError(await postForm('/images/edits', octet), 400, { param: 'image' });
    expect(err.message).toBe("Invalid file 'image': unsupported mimetype ('application/octet-stream'). Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'.");

    const oblong = new FormData();
    oblong.append('image', blob(makePng(4, 2), 'image/png'), 'x.png');
    await expectError(await postForm('/images/variations', oblong), 400, { message: 'Uploaded image must be square.' });
  });

  it('answers variations for dall-e-2, and refuses a JSON body', async () => {
    const r = await client.images.createVariation({ image: await toFile(makePng(8, 8), 'v.png', { type: 'image/png' }), n: 3, response_format: 'b64_json' });
    expect(r.data).toHaveLength(3);
    expect(sim.requests[0].body.n).toBe('3');
    await expectError(await postJson('/images/variations', { image: 'x' }), 400, { message: 'Invalid Content-Type header (application/json), expected multipart/form-data.' });
  });
});

describe('POST /audio/speech', () => {
  it('streams deterministic mp3 bytes in several delayed chunks', async () => {
    const body = { model: 'tts-1', input: 'Hello there, how are you today?', voice: 'alloy' };
    const res = await postJson('/audio/speech', body);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/mpeg');
    expect(res.headers.get('content-length')).toBeNull();
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const arrivals: number[] = [];
    const parts: Uint8Array[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arrivals.push(Date.now());
      parts.push(value);
    }
    const bytes = Buffer.concat(parts);
    expect(bytes.equals(speechAudio(body))).toBe(true);
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xf3]));
    expect(arrivals.length).toBeGreaterThanOrEqual(3);
    expect((arrivals.at(-1) as number) - arrivals[0]).toBeGreaterThanOrEqual(50);
  });

  it('answers each format with its content type; wav is a real WAV of the predicted length', async () => {
    const types: Record<string, string> = { opus: 'audio/opus', aac: 'audio/aac', flac: 'audio/flac', wav: 'audio/wav', pcm: 'audio/pcm' };
    for (const [format, type] of Object.entries(types)) {
      const body = { model: 'gpt-4o-mini-tts', input: 'one two three', voice: 'nova', response_format: format, instructions: 'calm', speed: 1.5 };
      sim.enqueue({ type: 'text', chunkDelayMs: 0 });
      const res = await postJson('/audio/speech', body);
      expect(res.headers.get('content-type')).toBe(type);
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(bytes.equals(speechAudio(body))).toBe(true);
      if (format === 'wav') expect(parseWav(bytes)).toMatchObject({ sampleRate: SPEECH_SAMPLE_RATE, duration: speechSeconds(body) });
      if (format === 'pcm') expect(bytes.length).toBe(Math.round(speechSeconds(body) * SPEECH_SAMPLE_RATE) * 2);
    }
    // Different input, different bytes.
    expect(speechAudio({ model: 'tts-1', input: 'a', voice: 'alloy' }).equals(speechAudio({ model: 'tts-1', input: 'b', voice: 'alloy' }))).toBe(false);
  });

  it('the SDK gets the bytes; a drop cuts the audio after N chunks', async () => {
    const body = { model: 'tts-1-hd', input: 'sdk speech', voice: 'echo' as const, response_format: 'flac' as const };
    const viaSdk = await client.audio.speech.create(body);
    expect(Buffer.from(await viaSdk.arrayBuffer()).equals(speechAudio(body))).toBe(true);

    sim.enqueue({ type: 'drop', afterChunks: 1 });
    const res = await postJson('/audio/speech', body);
    expect(res.status).toBe(200);
    await expect(res.arrayBuffer()).rejects.toThrow();
  });

  it('validates voice, input and response_format', async () => {
    await expectError(await postJson('/audio/speech', { model: 'tts-1', input: 'x' }), 400, { param: 'voice', code: 'missing_required_parameter' });
    await expectError(await postJson('/audio/speech', { model: 'tts-1', voice: 'alloy' }), 400, { param: 'input', code: 'missing_required_parameter' });
    await expectError(await postJson('/audio/speech', { model: 'tts-1', input: 'x', voice: 'bob' }), 400, { param: 'voice', code: 'invalid_value' });
    await expectError(await postJson('/audio/speech', { model: 'tts-1', input: 'x', voice: 'alloy', response_format: 'ogg' }), 400, { param: 'response_format', code: 'invalid_value' });
    await expectError(await postJson('/audio/speech', { model: 'tts-1', input: 'x'.repeat(4097), voice: 'alloy' }), 400, { param: 'input', code: 'string_above_max_length' });
  });
});

describe('POST /audio/transcriptions and /audio/translations', () => {
  const form = (fields: Record<string, string | string[]>, file?: { data: Buffer; name: string; type?: string }) => {
    const f = new FormData();
    if (file) f.append('file', blob(file.data, file.type ?? 'audio/wav'), file.name);
    for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) f.append(k, x);
    return f;
  };

  it('json (the default) through the SDK: text and the duration usage read from the WAV header', async () => {
    const wav = makeWav(2.5, 16000);
    const r = await client.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(wav, 'speech.wav', { type: 'audio/wav' }) });
    expect(r).toEqual({ text: DEFAULT_TRANSCRIPT, usage: { type: 'duration', seconds: 3 } });
    expect((sim.requests[0].body.file as MultipartFile).data.equals(wav)).toBe(true);
  });

  it('verbose_json: task, language, duration, segments and words', async () => {
    sim.enqueue({ type: 'text', text: 'First sentence here. And a second one!' });
    const res = await postForm('/audio/transcriptions', form({ model: 'whisper-1', response_format: 'verbose_json', language: 'de', 'timestamp_granularities[]': ['word', 'segment'] }, { data: makeWav(4), name: 'a.wav' }));
    const body = (await res.json()) as Record<string, any>;
    expect(Object.keys(body)).toEqual(['task', 'language', 'duration', 'text', 'segments', 'words', 'usage']);
    expect(body).toMatchObject({ task: 'transcribe', language: 'german', duration: 4, text: 'First sentence here. And a second one!', usage: { type: 'duration', seconds: 4 } });
    expect(body.segments.map((s: any) => [s.id, s.start, s.end, s.text])).toEqual([
      [0, 0, 2.16, ' First sentence here.'],
      [1, 2.16, 4, ' And a second one!'],
    ]);
    expect(Object.keys(body.segments[0])).toEqual(['id', 'seek', 'start', 'end', 'text', 'tokens', 'temperature', 'avg_logprob', 'compression_ratio', 'no_speech_prob']);
    expect(body.words[0]).toEqual({ word: 'First', start: 0, end: 0.57 });
    expect(body.words).toHaveLength(7);
  });

  it('text, srt and vtt answer text/plain', async () => {
    sim.enqueue({ type: 'text', text: 'One. Two.' }, { type: 'text', text: 'One. Two.' }, { type: 'text', text: 'One. Two.' });
    const file = { data: makeWav(2), name: 'a.wav' };
    const text = await postForm('/audio/transcriptions', form({ model: 'whisper-1', response_format: 'text' }, file));
    expect(text.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await text.text()).toBe('One. Two.\n');
    const srt = await postForm('/audio/transcriptions', form({ model: 'whisper-1', response_format: 'srt' }, file));
    expect(srt.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await srt.text()).toBe('1\n00:00:00,000 --> 00:00:01,000\nOne.\n\n2\n00:00:01,000 --> 00:00:02,000\nTwo.\n\n');
    const vtt = await postForm('/audio/transcriptions', form({ model: 'whisper-1', response_format: 'vtt' }, file));
    expect(await vtt.text()).toBe('WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nOne.\n\n00:00:01.000 --> 00:00:02.000\nTwo.\n\n');
  });

  it('gpt-4o-transcribe reports token usage, streams on request, and refuses verbose_json', async () => {
    const file = { data: makeWav(3), name: 'a.wav' };
    const res = await postForm('/audio/transcriptions', form({ model: 'gpt-4o-transcribe', prompt: 'two words' }, file));
    expect(await res.json()).toEqual({
      text: DEFAULT_TRANSCRIPT,
      usage: { type: 'tokens', input_tokens: 32, input_token_details: { text_tokens: 2, audio_tokens: 30 }, output_tokens: 17, total_tokens: 49 },
    });
    sim.enqueue({ type: 'text', text: 'a b' });
    const stream = await postForm('/audio/transcriptions', form({ model: 'gpt-4o-mini-transcribe', stream: 'true' }, file));
    const events = dataEvents(await stream.text()).map((d) => JSON.parse(d));
    expect(events.map((e) => e.type)).toEqual(['transcript.text.delta', 'transcript.text.delta', 'transcript.text.done']);
    expect(events[2].text).toBe('a b');
    await expectError(await postForm('/audio/transcriptions', form({ model: 'gpt-4o-transcribe', response_format: 'verbose_json' }, file)), 400, { param: 'response_format' });
  });

  it('translations answer English text without usage; only whisper-1', async () => {
    const file = { data: makeWav(1), name: 'a.wav' };
    const r = await client.audio.translations.create({ model: 'whisper-1', file: await toFile(file.data, 'a.wav', { type: 'audio/wav' }), response_format: 'verbose_json' });
    expect(r).toMatchObject({ task: 'translate', language: 'english', duration: 1, text: DEFAULT_TRANSCRIPT });
    expect(r).not.toHaveProperty('usage');
    await expectError(await postForm('/audio/translations', form({ model: 'gpt-4o-transcribe' }, file)), 400, { param: 'model', code: 'invalid_value' });
  });

  it('validates the file and the model like the whisper endpoints do', async () => {
    const noFile = await expectError(await postForm('/audio/transcriptions', form({ model: 'whisper-1' })), 400, { param: null, code: null });
    expect(noFile.message).toBe('1 validation error for Request\nbody -> file\n  field required (type=value_error.missing)');
    const noModel = await expectError(await postForm('/audio/transcriptions', form({}, { data: makeWav(1), name: 'a.wav' })), 400, {});
    expect(noModel.message).toContain('body -> model');
    const badExt = await expectError(await postForm('/audio/transcriptions', form({ model: 'whisper-1' }, { data: Buffer.from('x'), name: 'notes.txt', type: 'text/plain' })), 400, {});
    expect(badExt.message).toMatch(/^Invalid file format\. Supported formats: \['flac', 'm4a', /);
    await expectError(await postForm('/audio/transcriptions', form({ model: 'whisper-1' }, { data: Buffer.from('garbage bytes'), name: 'broken.wav' })), 400, {
      message: 'Audio file might be corrupted or unsupported',
      param: 'file',
      code: 'invalid_value',
    });
  });
});

describe('POST /moderations', () => {
  it('answers every category the SDK names, unflagged for clean text', async () => {
    const r = await client.moderations.create({ model: 'omni-moderation-latest', input: 'What a lovely day.' });
    expect(r.id).toMatch(/^modr-/);
    expect(r.model).toBe('omni-moderation-latest');
    expect(r.results).toHaveLength(1);
    const [res] = r.results;
    expect(Object.keys(res)).toEqual(['flagged', 'categories', 'category_scores', 'category_applied_input_types']);
    expect(res.flagged).toBe(false);
    expect(Object.keys(res.categories)).toEqual([...MODERATION_CATEGORIES]);
    expect(Object.keys(res.category_scores)).toEqual([...MODERATION_CATEGORIES]);
    expect(Object.values(res.category_scores).every((s) => s >= 0 && s < 0.001)).toBe(true);
    expect(Object.values(res.category_applied_input_types).every((t) => t.length === 1 && t[0] === 'text')).toBe(true);
  });

  it('flags trigger words, one result per string; a multimodal array is one result', async () => {
    const r = await client.moderations.create({ input: ['I will kill the process', 'fine text'] });
    expect(r.model).toBe('omni-moderation-latest');
    expect(r.results.map((x) => x.flagged)).toEqual([true, false]);
    expect(r.results[0].categories.violence).toBe(true);
    expect(r.results[0].categories.hate).toBe(false);
    expect(r.results[0].category_scores.violence).toBeGreaterThan(0.9);

    const mm = await client.moderations.create({
      model: 'omni-moderation-latest',
      input: [
        { type: 'text', text: 'look at this' },
        { type: 'image_url', image_url: { url: 'https://example.com/gore.png' } },
      ],
    });
    expect(mm.results).toHaveLength(1);
    expect(mm.results[0].categories['violence/graphic']).toBe(true);
    expect(mm.results[0].category_applied_input_types.violence).toEqual(['text', 'image']);
    expect(mm.results[0].category_applied_input_types.hate).toEqual(['text']);
  });

  it('requires input', async () => {
    await expectError(await postJson('/moderations', { model: 'omni-moderation-latest' }), 400, { param: 'input', code: 'missing_required_parameter' });
  });
});

describe('POST /responses', () => {
  const weatherTool = { type: 'function' as const, name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } }, required: ['city', 'unit'] }, strict: true };

  it('answers a Response object; the SDK reads output_text; GET retrieves it; unknown ids 404', async () => {
    sim.enqueue({ type: 'text', text: 'Hi there', promptTokens: 9, reasoningTokens: 4, cachedTokens: 2 });
    const r = await client.responses.create({ model: 'gpt-4.1', input: 'Say hi', instructions: 'Be brief' });
    expect(r.id).toMatch(/^resp_/);
    expect(r).toMatchObject({ object: 'response', status: 'completed', model: 'gpt-4.1', instructions: 'Be brief', error: null, incomplete_details: null, tools: [], tool_choice: 'auto', parallel_tool_calls: true });
    expect(r.output_text).toBe('Hi there');
    expect(r.output.map((o) => o.type)).toEqual(['reasoning', 'message']);
    expect(r.output[1]).toMatchObject({ type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', annotations: [], logprobs: [], text: 'Hi there' }] });
    expect(r.usage).toEqual({ input_tokens: 9, input_tokens_details: { cached_tokens: 2 }, output_tokens: 6, output_tokens_details: { reasoning_tokens: 4 }, total_tokens: 15 });

    const got = await client.responses.retrieve(r.id);
    expect(got.id).toBe(r.id);
    expect(got.output_text).toBe('Hi there');
    const missing = await fetch(`${sim.url}/responses/resp_nope`, { headers: AUTH });
    await expectError(missing, 404, { message: "Response with id 'resp_nope' not found." });
  });

  it('streams the exact event sequence with sequence numbers; the SDK stream helper assembles it', async () => {
    sim.enqueue({ type: 'text', text: 'one two three' });
    const res = await postJson('/responses', { model: 'gpt-4o-mini', input: [{ role: 'user', content: 'count' }], stream: true });
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const text = await res.text();
    expect(text).not.toContain('[DONE]');
    const events = namedEvents(text);
    expect(events.map((e) => e.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events.every((e, i) => e.data.type === e.event && e.data.sequence_number === i)).toBe(true);
    expect(Object.keys(events[4].data).slice(0, 2)).toEqual(['type', 'sequence_number']);
    expect(events[0].data.response).toMatchObject({ status: 'in_progress', output: [], usage: null });
    expect(events.slice(4, 7).map((e) => e.data.delta)).toEqual(['one', ' two', ' three']);
    expect(events.slice(4, 7).every((e) => typeof e.data.obfuscation === 'string')).toBe(true);
    expect(events[7].data.text).toBe('one two three');
    expect(events[10].data.response).toMatchObject({ status: 'completed', usage: { input_tokens: 11, output_tokens: 3, total_tokens: 14 } });

    sim.enqueue({ type: 'text', text: 'alpha beta' });
    const stream = client.responses.stream({ model: 'gpt-4o-mini', input: 'x' });
    const deltas: string[] = [];
    stream.on('response.output_text.delta', (e) => deltas.push(e.delta));
    const final = await stream.finalResponse();
    expect(deltas).toEqual(['alpha', ' beta']);
    expect(final.output_text).toBe('alpha beta');
  });

  it('runs an agent loop with tool_loop: a function call first, the text once the output is back', async () => {
    sim.handler = () => ({ type: 'tool_loop' });
    const first = await client.responses.create({ model: 'gpt-4o-mini', input: 'Weather in Paris?', tools: [weatherTool] });
    const call = first.output[0];
    expect(call).toMatchObject({ type: 'function_call', status: 'completed', name: 'get_weather' });
    if (call.type !== 'function_call') throw new Error('expected a function call');
    expect(call.id).toMatch(/^fc_/);
    expect(call.call_id).toMatch(/^call_/);
    expect(JSON.parse(call.arguments)).toEqual({ city: 'sample', unit: 'c' });
    expect(first.tools).toEqual([weatherTool]);

    const second = await client.responses.create({
      model: 'gpt-4o-mini',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '21 degrees and sunny' }],
      tools: [weatherTool],
    });
    expect(second.output_text).toBe('The tool returned: 21 degrees and sunny');
    expect(second.previous_response_id).toBe(first.id);
    expect(sim.requests[1].body.input[0]).toEqual({ type: 'function_call_output', call_id: call.call_id, output: '21 degrees and sunny' });
  });

  it('streams function calls with argument deltas (without previous_response_id the call travels in the input)', async () => {
    sim.enqueue({ type: 'tool_loop', arguments: '{"city":"Paris","unit":"c"}' });
    const stream = client.responses.stream({ model: 'gpt-4o-mini', input: 'Weather?', tools: [weatherTool] });
    const final = await stream.finalResponse();
    const call = final.output[0];
    if (call.type !== 'function_call') throw new Error('expected a function call');
    expect(call.arguments).toBe('{"city":"Paris","unit":"c"}');

    sim.enqueue({ type: 'tool_loop' });
    const res = await postJson('/responses', { model: 'gpt-4o-mini', input: 'Weather?', tools: [weatherTool], stream: true });
    const events = namedEvents(await res.text()).map((e) => e.event);
    expect(events.slice(0, 3)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added']);
    expect(events.filter((e) => e === 'response.function_call_arguments.delta').length).toBeGreaterThan(1);
    expect(events.slice(-3)).toEqual(['response.function_call_arguments.done', 'response.output_item.done', 'response.completed']);

    sim.enqueue({ type: 'tool_loop' });
    const done = await client.responses.create({
      model: 'gpt-4o-mini',
      tools: [weatherTool],
      input: [{ role: 'user', content: 'Weather?' }, { type: 'function_call', call_id: call.call_id, name: 'get_weather', arguments: call.arguments }, { type: 'function_call_output', call_id: call.call_id, output: 'rainy' }],
    });
    expect(done.output_text).toBe('The tool returned: rainy');
  });

  it('ends incomplete at max_output_tokens', async () => {
    sim.enqueue({ type: 'text', text: 'a b c d e' });
    const r = await client.responses.create({ model: 'gpt-4o-mini', input: 'x', max_output_tokens: 2 });
    expect(r).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
    expect(r.output_text).toBe('a b');
  });

  it('validates model, input, previous_response_id and tool outputs', async () => {
    await expectError(await postJson('/responses', { input: 'x' }), 400, { param: 'model', code: 'missing_required_parameter' });
    await expectError(await postJson('/responses', { model: 'gpt-4o-mini' }), 400, { param: 'input', code: 'missing_required_parameter' });
    await expectError(await postJson('/responses', { model: 'gpt-4o-mini', input: [{ role: 'robot', content: 'x' }] }), 400, { param: 'input[0].role', code: 'invalid_value' });
    await expectError(await postJson('/responses', { model: 'gpt-4o-mini', input: 'x', previous_response_id: 'resp_missing' }), 400, { param: 'previous_response_id', code: 'previous_response_not_found' });
    await expectError(await postJson('/responses', { model: 'gpt-4o-mini', input: [{ type: 'function_call_output', call_id: 'call_x', output: '1' }] }), 400, {
      message: 'No tool call found for function call output with call_id call_x.',
      param: 'input',
    });
  });
});

describe('scenarios on the new endpoints', () => {
  it('drop cuts a completions stream after N chunks; the record is not an abort', async () => {
    sim.enqueue({ type: 'drop', afterChunks: 2 });
    const stream = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', stream: true });
    const texts: string[] = [];
    const err = await (async () => {
      for await (const c of stream) texts.push(c.choices[0].text);
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(texts).toEqual(['Hello', ' from']);
    await sim.waitForRequests(1, 2000);
    expect(sim.requests[0].aborted).toBe(false);
  });

  it('drop cuts a JSON answer in half', async () => {
    sim.enqueue({ type: 'drop', afterChunks: 1 });
    const res = await postJson('/embeddings', { model: 'text-embedding-3-small', input: 'x' });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });

  it('stall leaves a Responses stream silent after N deltas until the client aborts', async () => {
    sim.enqueue({ type: 'stall', afterChunks: 1 });
    const res = await postJson('/responses', { model: 'gpt-4o-mini', input: 'x', stream: true });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('response.output_text.delta')) text += new TextDecoder().decode((await reader.read()).value);
    const next = reader.read();
    const silent = await Promise.race([next.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 250))]);
    expect(silent).toBe(true);
    expect(sim.requests[0].endedAt).toBeUndefined();
    await reader.cancel();
    await sim.waitForRequests(1, 2000);
    expect(sim.requests[0].aborted).toBe(true);
  });

  it('stream_error_first opens a Responses stream with an error event', async () => {
    sim.enqueue({ type: 'stream_error_first', message: 'boom' });
    const res = await postJson('/responses', { model: 'gpt-4o-mini', input: 'x', stream: true });
    expect(res.status).toBe(200);
    expect(namedEvents(await res.text())).toEqual([{ event: 'error', data: { type: 'error', sequence_number: 0, code: 'server_error', message: 'boom', param: null } }]);
  });

  it('hang holds a transcription until the client aborts; firstByteDelayMs delays the answer', async () => {
    sim.enqueue({ type: 'hang' });
    const controller = new AbortController();
    const f = new FormData();
    f.append('model', 'whisper-1');
    f.append('file', blob(makeWav(0.2), 'audio/wav'), 'a.wav');
    const pending = fetch(`${sim.url}/audio/transcriptions`, { method: 'POST', headers: AUTH, body: f, signal: controller.signal });
    pending.catch(() => {});
    await new Promise((r) => setTimeout(r, 150));
    controller.abort();
    await expect(pending).rejects.toThrow();
    await sim.waitForRequests(1, 2000);
    expect(sim.requests[0].aborted).toBe(true);

    sim.enqueue({ type: 'text', firstByteDelayMs: 200 });
    const started = Date.now();
    await client.moderations.create({ input: 'x' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('DELETE /responses/{id} forgets a stored response; store: false never keeps one', async () => {
    const kept = await client.responses.create({ model: 'gpt-4o-mini', input: 'x' });
    await client.responses.delete(kept.id);
    await expect(client.responses.retrieve(kept.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const unstored = await client.responses.create({ model: 'gpt-4o-mini', input: 'x', store: false });
    await expect(client.responses.retrieve(unstored.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe('chat tool_loop', () => {
  it('calls the offered tool, then answers with the tool message', async () => {
    sim.handler = () => ({ type: 'tool_loop' });
    const tools = [{ type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' }, n: { type: 'integer' } } } } }];
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'find it' }];
    const first = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
    const call = first.choices[0].message.tool_calls?.[0];
    expect(first.choices[0].finish_reason).toBe('tool_calls');
    if (call?.type !== 'function') throw new Error('expected a function call');
    expect(JSON.parse(call.function.arguments)).toEqual({ q: 'sample', n: 1 });
    messages.push(first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: 'found 3' });
    const second = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
    expect(second.choices[0].message.content).toBe('The tool returned: found 3');
  });
});

describe('Gemini embeddings', () => {
  let gemini: GeminiSimulator;
  const GKEY = 'gemini-sim-key';
  beforeAll(async () => {
    gemini = await startGeminiSimulator({ apiKey: GKEY });
  });
  afterAll(async () => {
    await gemini?.close();
  });
  const gpost = (path: string, body: unknown) => fetch(`${gemini.url}${path}`, { method: 'POST', headers: { 'x-goog-api-key': GKEY, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('batchEmbedContents answers one vector per request, the same vectors as the OpenAI simulator', async () => {
    gemini.requests.length = 0;
    const body = {
      requests: [
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'first text' }] }, taskType: 'RETRIEVAL_DOCUMENT' },
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'second' }] }, outputDimensionality: 768 },
      ],
    };
    const res = await gpost('/v1beta/models/gemini-embedding-001:batchEmbedContents', body);
    expect(res.status).toBe(200);
    const out = (await res.json()) as { embeddings: Array<{ values: number[] }> };
    expect(Object.keys(out)).toEqual(['embeddings']);
    expect(out.embeddings[0].values).toEqual(geminiEmbeddingValues('first text', 3072));
    expect(out.embeddings[0].values).toEqual(embeddingValues('first text', 3072));
    // Truncated, not renormalised.
    expect(out.embeddings[1].values).toEqual(embeddingValues('second', 768, 3072));
    expect(norm(out.embeddings[1].values)).toBeLessThan(0.9);
    expect(gemini.requests[0]).toMatchObject({ method: 'POST', path: '/v1beta/models/gemini-embedding-001:batchEmbedContents', body });
  });

  it('the official @google/genai client embeds through it (batchEmbedContents)', async () => {
    gemini.requests.length = 0;
    const ai = new GoogleGenAI({ apiKey: GKEY, httpOptions: { baseUrl: gemini.url } });
    const r = await ai.models.embedContent({ model: 'gemini-embedding-001', contents: ['alpha', 'beta'], config: { outputDimensionality: 16, taskType: 'SEMANTIC_SIMILARITY' } });
    expect(r.embeddings?.map((e) => e.values)).toEqual([embeddingValues('alpha', 16, 3072), embeddingValues('beta', 16, 3072)]);
    expect(gemini.requests[0].path).toBe('/v1beta/models/gemini-embedding-001:batchEmbedContents');
    expect(gemini.requests[0].body.requests[0]).toMatchObject({ model: 'models/gemini-embedding-001', content: { parts: [{ text: 'alpha' }] }, outputDimensionality: 16, taskType: 'SEMANTIC_SIMILARITY' });
  });

  it('embedContent answers one embedding; other models and bad requests fail like Gemini', async () => {
    const res = await gpost('/v1beta/models/text-embedding-004:embedContent', { content: { parts: [{ text: 'hi' }] } });
    expect(await res.json()).toEqual({ embedding: { values: embeddingValues('hi', 768) } });

    const notEmbedding = await gpost('/v1beta/models/gemini-2.5-flash:embedContent', { content: { parts: [{ text: 'hi' }] } });
    expect(notEmbedding.status).toBe(404);
    expect(((await notEmbedding.json()) as { error: { message: string } }).error.message).toContain('is not supported for embedContent');

    const noContent = await gpost('/v1beta/models/gemini-embedding-001:embedContent', {});
    expect(noContent.status).toBe(400);
    expect(await noContent.json()).toEqual({ error: { code: 400, message: '* EmbedContentRequest.content: content is not specified\n', status: 'INVALID_ARGUMENT' } });

    const mismatch = await gpost('/v1beta/models/gemini-embedding-001:batchEmbedContents', { requests: [{ model: 'models/text-embedding-004', content: { parts: [{ text: 'x' }] } }] });
    expect(mismatch.status).toBe(400);
    const badTask = await gpost('/v1beta/models/gemini-embedding-001:embedContent', { content: { parts: [{ text: 'x' }] }, taskType: 'NOPE' });
    expect(((await badTask.json()) as { error: { message: string } }).error.message).toContain('TaskType), "NOPE"');
  });

  it('plays error scenarios on embeddings', async () => {
    gemini.enqueue({ type: 'error', status: 429 });
    const res = await gpost('/v1beta/models/gemini-embedding-001:embedContent', { content: { parts: [{ text: 'x' }] } });
    expect(res.status).toBe(429);
    expect(((await res.json()) as { error: { status: string } }).error.status).toBe('RESOURCE_EXHAUSTED');
  });
});
