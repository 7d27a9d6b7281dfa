/**
 * The format matrix: every official client library (openai, @anthropic-ai/sdk, @google/genai,
 * ai + @ai-sdk/openai-compatible) against every upstream type (openai, azure, anthropic, gemini),
 * through one gateway, for the things a user notices: text, streaming, a tool-call round trip,
 * an image, upstream errors and a stream that dies half way. The clients' own stream helpers
 * are used on purpose: they reject malformed streams (missing stop events, bad framing).
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import Anthropic from '@anthropic-ai/sdk';
import { ApiError, type Content, type GenerateContentResponse, GoogleGenAI, Type } from '@google/genai';
import { APICallError, generateText, jsonSchema, RetryError, stepCountIs, streamText, tool } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AnthropicSimulator, DEFAULT_TEXT as ANTHROPIC_DEFAULT_TEXT, startAnthropicSimulator } from '../helpers/anthropic-simulator.ts';
import { GEMINI_DEFAULT_TEXT, type GeminiSimulator, startGeminiSimulator } from '../helpers/gemini-simulator.ts';
import { DEFAULT_TEXT as OPENAI_DEFAULT_TEXT, type OpenAISimulator, startOpenAISimulator } from '../helpers/openai-simulator.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

type Protocol = 'openai' | 'anthropic' | 'gemini';
type ClientName = 'openai' | 'anthropic' | 'gemini' | 'ai-sdk';
type UpstreamName = 'openai' | 'azure' | 'anthropic' | 'gemini';

const KEYS = { openai: 'sk-up-openai-0123456789', azure: 'az-up-key-0123456789', anthropic: 'sk-ant-up-0123456789', gemini: 'AIza-up-gemini-0123456789' };
const UPSTREAM_MODEL: Record<UpstreamName, string> = { openai: 'gpt-4o-mini', azure: 'fmx-deployment', anthropic: 'claude-sonnet-4-5', gemini: 'gemini-2.5-flash' };
const AZURE_API_VERSION = '2024-10-21';

/** A 1x1 PNG: the bytes must reach every upstream intact. */
const PNG_B64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const TOOL_ARGS = { city: 'Paris' };
const TOOL_RESULT = { temperature_c: 18, conditions: 'sunny' };
const WEATHER_DESCRIPTION = 'Current weather in a city';
const WEATHER_SCHEMA = { type: 'object' as const, properties: { city: { type: 'string' as const, description: 'City name' } }, required: ['city'] };
const STREAM_TEXT = 'Streaming works across every format today';
const MATRIX_TIMEOUT = 15_000;

let oai: OpenAISimulator;
let az: OpenAISimulator;
let anth: AnthropicSimulator;
let gem: GeminiSimulator;
/** The failover pair: the first answers 200 and fails on its first event, the second works. */
let flaky: AnthropicSimulator;
let steady: GeminiSimulator;
let gw: TestGateway;
let key: string;

// ---------------------------------------------------------------------------------------------
// What the clients sent (captured in their fetch) and what the upstreams received.

interface Sent {
  url: string;
  raw: string | undefined;
  body: any;
}

function capturingFetch(log: Sent[]): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const raw = typeof init?.body === 'string' ? init.body : undefined;
    let body: unknown;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
    }
    log.push({ url, raw, body });
    return fetch(input, init);
  }) as typeof fetch;
}

interface UpstreamRequest {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  rawBody: string;
}

interface ToolExchange {
  callId?: string;
  callName: string;
  callArgs: unknown;
  resultId?: string;
  resultName?: string;
  result: unknown;
  /** The tool result comes after the call in the conversation. */
  ordered: boolean;
}

interface UpstreamDriver {
  name: UpstreamName;
  /** Client-facing model served only by this upstream. */
  model: string;
  protocol: Protocol;
  /** Chat calls it received (count_tokens and model listings left out). */
  chats(): UpstreamRequest[];
  reset(): void;
  text(text: string, o?: { chunks?: number; input?: number; output?: number }): void;
  toolCall(): void;
  /** The tool call id this upstream issues (Gemini issues none). */
  issuedCallId?: string;
  error(status: number, message: string): void;
  drop(afterChunks: number): void;
  /** Text a drop's chunks are cut from. */
  dropPool: string;
  /** The upstream's own rendering of the tool call and its result, from the second request. */
  toolExchange(body: any): ToolExchange;
  image(body: any): { mediaType: string; data: string } | undefined;
  /** Auth, URL and model name are the upstream's own. */
  checkRequest(req: UpstreamRequest): void;
}

/** Tool output text back to a value: JSON when it parses. */
function loose(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p: any) => (p?.type === 'text' ? p.text : '')).join('');
  return '';
}

function openAIUpstream(name: 'openai' | 'azure', sim: () => OpenAISimulator): UpstreamDriver {
  const chats = () => sim().requests.filter((r) => r.method === 'POST' && r.path.includes('/chat/completions'));
  return {
    name,
    model: `m-${name}`,
    protocol: 'openai',
    chats,
    reset: () => {
      sim().requests.length = 0;
    },
    text: (text, o = {}) => sim().enqueue({ type: 'text', text, chunks: o.chunks, promptTokens: o.input, completionTokens: o.output }),
    toolCall: () => sim().enqueue({ type: 'tool_call', calls: [{ id: `call_fmx_${name}`, name: 'get_weather', arguments: JSON.stringify(TOOL_ARGS) }] }),
    issuedCallId: `call_fmx_${name}`,
    error: (status, message) => sim().enqueue({ type: 'error', status, message }),
    drop: (afterChunks) => sim().enqueue({ type: 'drop', afterChunks }),
    dropPool: `${OPENAI_DEFAULT_TEXT} ${OPENAI_DEFAULT_TEXT} ${OPENAI_DEFAULT_TEXT}`,
    toolExchange(body) {
      const msgs = body.messages as any[];
      const callAt = msgs.findIndex((m) => m.role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length > 0);
      const resultAt = msgs.findIndex((m) => m.role === 'tool');
      const tc = msgs[callAt]?.tool_calls[0];
      const tr = msgs[resultAt];
      return {
        callId: tc?.id,
        callName: tc?.function?.name,
        callArgs: tc ? loose(tc.function.arguments) : undefined,
        resultId: tr?.tool_call_id,
        result: tr ? loose(textOf(tr.content)) : undefined,
        ordered: callAt >= 0 && resultAt === callAt + 1,
      };
    },
    image(body) {
      for (const m of body.messages as any[]) {
        for (const p of Array.isArray(m.content) ? m.content : []) {
          if (p.type !== 'image_url') continue;
          const match = /^data:([^;,]+);base64,(.*)$/s.exec(p.image_url?.url ?? '');
          if (match) return { mediaType: match[1], data: match[2] };
        }
      }
      return undefined;
    },
    checkRequest(req) {
      if (name === 'azure') {
        expect(req.path).toBe(`/openai/deployments/${UPSTREAM_MODEL.azure}/chat/completions?api-version=${AZURE_API_VERSION}`);
        expect(req.headers['api-key']).toBe(KEYS.azure);
        expect(req.headers.authorization).toBeUndefined();
      } else {
        expect(req.path).toBe('/v1/chat/completions');
        expect(req.headers.authorization).toBe(`Bearer ${KEYS.openai}`);
      }
      expect(req.body.model).toBe(UPSTREAM_MODEL[name]);
    },
  };
}

const anthropicUpstream: UpstreamDriver = {
  name: 'anthropic',
  model: 'm-anthropic',
  protocol: 'anthropic',
  chats: () => anth.requests.filter((r) => r.method === 'POST' && new URL(r.path, 'http://x').pathname === '/v1/messages'),
  reset: () => {
    anth.requests.length = 0;
  },
  text: (text, o = {}) => anth.enqueue({ type: 'text', text, chunks: o.chunks, inputTokens: o.input, outputTokens: o.output }),
  toolCall: () => anth.enqueue({ type: 'tool_use', calls: [{ id: 'toolu_01FmxWeather', name: 'get_weather', input: TOOL_ARGS }] }),
  issuedCallId: 'toolu_01FmxWeather',
  error: (status, message) => anth.enqueue({ type: 'error', status, message }),
  drop: (afterChunks) => anth.enqueue({ type: 'drop', afterChunks }),
  dropPool: `${ANTHROPIC_DEFAULT_TEXT} ${ANTHROPIC_DEFAULT_TEXT} ${ANTHROPIC_DEFAULT_TEXT}`,
  toolExchange(body) {
    const msgs = body.messages as any[];
    const blocks = (m: any): any[] => (Array.isArray(m?.content) ? m.content : []);
    const callAt = msgs.findIndex((m) => m.role === 'assistant' && blocks(m).some((b) => b.type === 'tool_use'));
    const resultAt = msgs.findIndex((m) => m.role === 'user' && blocks(m).some((b) => b.type === 'tool_result'));
    const tu = blocks(msgs[callAt]).find((b) => b.type === 'tool_use');
    const tr = blocks(msgs[resultAt]).find((b) => b.type === 'tool_result');
    return {
      callId: tu?.id,
      callName: tu?.name,
      callArgs: tu?.input,
      resultId: tr?.tool_use_id,
      result: tr ? loose(textOf(tr.content)) : undefined,
      ordered: callAt >= 0 && resultAt === callAt + 1,
    };
  },
  image(body) {
    for (const m of body.messages as any[]) {
      for (const b of Array.isArray(m.content) ? m.content : []) {
        if (b.type === 'image' && b.source?.type === 'base64') return { mediaType: b.source.media_type, data: b.source.data };
      }
    }
    return undefined;
  },
  checkRequest(req) {
    expect(req.headers['x-api-key']).toBe(KEYS.anthropic);
    expect(req.headers['anthropic-version']).toBe('2023-06-01');
    expect(req.body.model).toBe(UPSTREAM_MODEL.anthropic);
  },
};

const geminiUpstream: UpstreamDriver = {
  name: 'gemini',
  model: 'm-gemini',
  protocol: 'gemini',
  chats: () => gem.requests.filter((r) => r.method === 'POST' && /:(stream)?[gG]enerateContent/.test(r.path)),
  reset: () => {
    gem.requests.length = 0;
  },
  text: (text, o = {}) => gem.enqueue({ type: 'text', text, chunks: o.chunks, promptTokens: o.input, candidatesTokens: o.output }),
  toolCall: () => gem.enqueue({ type: 'function_call', calls: [{ name: 'get_weather', args: TOOL_ARGS }] }),
  error: (status, message) => gem.enqueue({ type: 'error', status, message }),
  drop: (afterChunks) => gem.enqueue({ type: 'drop', afterChunks }),
  dropPool: `${GEMINI_DEFAULT_TEXT} ${GEMINI_DEFAULT_TEXT} ${GEMINI_DEFAULT_TEXT}`,
  toolExchange(body) {
    const contents = body.contents as any[];
    const callAt = contents.findIndex((c) => c.role === 'model' && (c.parts ?? []).some((p: any) => p.functionCall));
    const resultAt = contents.findIndex((c) => c.role !== 'model' && (c.parts ?? []).some((p: any) => p.functionResponse));
    const fc = (contents[callAt]?.parts ?? []).find((p: any) => p.functionCall)?.functionCall;
    const fr = (contents[resultAt]?.parts ?? []).find((p: any) => p.functionResponse)?.functionResponse;
    // Google's convention wraps a non-object result as {output}; an object result is sent as is.
    const response = fr?.response;
    const result = response && Object.keys(response).length === 1 && typeof response.output === 'string' ? loose(response.output) : response;
    return { callName: fc?.name, callArgs: fc?.args, resultName: fr?.name, result, ordered: callAt >= 0 && resultAt === callAt + 1 };
  },
  image(body) {
    for (const c of body.contents as any[]) {
      for (const p of c.parts ?? []) if (p.inlineData) return { mediaType: p.inlineData.mimeType, data: p.inlineData.data };
    }
    return undefined;
  },
  checkRequest(req) {
    expect(req.headers['x-goog-api-key']).toBe(KEYS.gemini);
    expect(new URL(req.path, 'http://x').pathname).toMatch(new RegExp(`^/v1beta/models/${UPSTREAM_MODEL.gemini}:(generateContent|streamGenerateContent)$`));
  },
};

const UPSTREAMS: UpstreamDriver[] = [openAIUpstream('openai', () => oai), openAIUpstream('azure', () => az), anthropicUpstream, geminiUpstream];

// ---------------------------------------------------------------------------------------------
// The clients, each driven the way its documentation shows.

interface Tokens {
  input: number | undefined;
  output: number | undefined;
}

interface TextOutcome {
  text: string;
  /** Token counts as the client library reports them. */
  usage: Tokens;
}

interface StreamOutcome extends TextOutcome {
  deltas: string[];
  /** The client's own finish/stop reason. */
  finish: string | undefined;
}

interface ToolOutcome {
  call: { id?: string; name: string; args: unknown };
  /** Finish reason of the first (tool-calling) turn. */
  finish: string | undefined;
  finalText: string;
}

interface ClientDriver {
  name: ClientName;
  protocol: Protocol;
  /** Requests the client library sent (bodies as they left it). */
  sent: Sent[];
  /** Finish reasons this client library reports. */
  stopFinish: string;
  toolFinish: string;
  text(model: string, prompt: string): Promise<TextOutcome>;
  /** `usage`: ask for usage where the format makes it optional (OpenAI's stream_options). */
  stream(model: string, prompt: string, opts?: { usage?: boolean }): Promise<StreamOutcome>;
  toolRoundTrip(model: string): Promise<ToolOutcome>;
  image(model: string): Promise<string>;
  /** Returns what the call raised (or, for the AI SDK stream, its error part). */
  failure(model: string, streaming: boolean): Promise<unknown>;
  expectError(err: unknown, status: number, message: string): void;
  /** A stream the upstream cuts: resolves with the text that arrived and the error the helper raised. */
  brokenStream(model: string): Promise<{ partial: string; error: unknown }>;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

function openaiClient(apiKey: string): ClientDriver {
  const sent: Sent[] = [];
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey, maxRetries: 0, timeout: 10_000, fetch: capturingFetch(sent) });
  const tools: OpenAI.Chat.ChatCompletionTool[] = [{ type: 'function', function: { name: 'get_weather', description: WEATHER_DESCRIPTION, parameters: WEATHER_SCHEMA } }];
  return {
    name: 'openai',
    protocol: 'openai',
    sent,
    stopFinish: 'stop',
    toolFinish: 'tool_calls',
    async text(model, prompt) {
      const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: prompt }] });
      return { text: r.choices[0].message.content ?? '', usage: { input: r.usage?.prompt_tokens, output: r.usage?.completion_tokens } };
    },
    async stream(model, prompt, opts = {}) {
      const deltas: string[] = [];
      const runner = client.chat.completions.stream({
        model,
        messages: [{ role: 'user', content: prompt }],
        ...(opts.usage ? { stream_options: { include_usage: true } } : {}),
      });
      runner.on('content', (delta) => deltas.push(delta));
      const final = await runner.finalChatCompletion();
      return {
        deltas,
        text: final.choices[0].message.content ?? '',
        finish: final.choices[0].finish_reason,
        usage: { input: final.usage?.prompt_tokens, output: final.usage?.completion_tokens },
      };
    },
    async toolRoundTrip(model) {
      const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
      const first = await client.chat.completions.stream({ model, messages, tools }).finalChatCompletion();
      const msg = first.choices[0].message;
      const tc = msg.tool_calls?.[0];
      if (!tc || tc.type !== 'function') throw new Error(`no function call in ${JSON.stringify(msg)}`);
      messages.push(
        { role: 'assistant', content: msg.content ?? null, tool_calls: [{ id: tc.id, type: 'function', function: { name: tc.function.name, arguments: tc.function.arguments } }] },
        { role: 'tool', tool_call_id: tc.id, content: JSON.stringify(TOOL_RESULT) },
      );
      const second = await client.chat.completions.create({ model, messages, tools });
      return { call: { id: tc.id, name: tc.function.name, args: JSON.parse(tc.function.arguments) }, finish: first.choices[0].finish_reason, finalText: second.choices[0].message.content ?? '' };
    },
    async image(model) {
      const r = await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'What is in this image?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_B64}` } }] }],
      });
      return r.choices[0].message.content ?? '';
    },
    failure(model, streaming) {
      const params = { model, messages: [{ role: 'user' as const, content: 'x' }] };
      return rejection(streaming ? client.chat.completions.stream(params).finalChatCompletion() : client.chat.completions.create(params));
    },
    expectError(err, status, message) {
      expect(err).toBeInstanceOf(OpenAI.APIError);
      const e = err as InstanceType<typeof OpenAI.APIError>;
      expect(e.status).toBe(status);
      expect(e.message).toContain(message);
      if (status === 400) expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      if (status === 429) expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      if (status >= 500) expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    },
    async brokenStream(model) {
      const deltas: string[] = [];
      const runner = client.chat.completions.stream({ model, messages: [{ role: 'user', content: 'x' }] });
      runner.on('content', (delta) => deltas.push(delta));
      const error = await rejection(runner.finalChatCompletion());
      return { partial: deltas.join(''), error };
    },
  };
}

function anthropicClient(apiKey: string): ClientDriver {
  const sent: Sent[] = [];
  const client = new Anthropic({ baseURL: gw.url, apiKey, maxRetries: 0, timeout: 10_000, fetch: capturingFetch(sent) });
  const tools: Anthropic.Tool[] = [{ name: 'get_weather', description: WEATHER_DESCRIPTION, input_schema: WEATHER_SCHEMA }];
  const textOfMessage = (m: Anthropic.Message): string => m.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
  return {
    name: 'anthropic',
    protocol: 'anthropic',
    sent,
    stopFinish: 'end_turn',
    toolFinish: 'tool_use',
    async text(model, prompt) {
      const r = await client.messages.create({ model, max_tokens: 256, messages: [{ role: 'user', content: prompt }] });
      return { text: textOfMessage(r), usage: { input: r.usage.input_tokens, output: r.usage.output_tokens } };
    },
    async stream(model, prompt) {
      const deltas: string[] = [];
      const stream = client.messages.stream({ model, max_tokens: 256, messages: [{ role: 'user', content: prompt }] });
      stream.on('text', (delta) => deltas.push(delta));
      const final = await stream.finalMessage();
      return { deltas, text: textOfMessage(final), finish: final.stop_reason ?? undefined, usage: { input: final.usage.input_tokens, output: final.usage.output_tokens } };
    },
    async toolRoundTrip(model) {
      const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
      const first = await client.messages.stream({ model, max_tokens: 512, tools, messages }).finalMessage();
      const tu = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
      if (!tu) throw new Error(`no tool_use in ${JSON.stringify(first.content)}`);
      messages.push(
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: tu.id, content: JSON.stringify(TOOL_RESULT) }] },
      );
      const second = await client.messages.create({ model, max_tokens: 512, tools, messages });
      return { call: { id: tu.id, name: tu.name, args: tu.input }, finish: first.stop_reason ?? undefined, finalText: textOfMessage(second) };
    },
    async image(model) {
      const r = await client.messages.create({
        model,
        max_tokens: 256,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'What is in this image?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_B64 } }] }],
      });
      return textOfMessage(r);
    },
    failure(model, streaming) {
      const params = { model, max_tokens: 64, messages: [{ role: 'user' as const, content: 'x' }] };
      return rejection(streaming ? client.messages.stream(params).finalMessage() : client.messages.create(params));
    },
    expectError(err, status, message) {
      expect(err).toBeInstanceOf(Anthropic.APIError);
      const e = err as InstanceType<typeof Anthropic.APIError>;
      expect(e.status).toBe(status);
      expect(e.message).toContain(message);
      // The body is Anthropic's error shape, so the SDK reads the message and type out of it.
      expect(e.apiMessage).toContain(message);
      expect(e.type).toBe(status === 429 ? 'rate_limit_error' : status === 400 ? 'invalid_request_error' : e.type);
      if (status === 400) expect(err).toBeInstanceOf(Anthropic.BadRequestError);
      if (status === 429) expect(err).toBeInstanceOf(Anthropic.RateLimitError);
      if (status >= 500) expect(err).toBeInstanceOf(Anthropic.InternalServerError);
    },
    async brokenStream(model) {
      const deltas: string[] = [];
      const stream = client.messages.stream({ model, max_tokens: 64, messages: [{ role: 'user', content: 'x' }] });
      stream.on('text', (delta) => deltas.push(delta));
      const error = await rejection(stream.finalMessage());
      return { partial: deltas.join(''), error };
    },
  };
}

function geminiClient(apiKey: string): ClientDriver {
  const sent: Sent[] = [];
  const ai = new GoogleGenAI({ apiKey, httpOptions: { baseUrl: gw.url, timeout: 10_000, fetch: capturingFetch(sent) } });
  const config = {
    tools: [
      {
        functionDeclarations: [
          { name: 'get_weather', description: WEATHER_DESCRIPTION, parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING, description: 'City name' } }, required: ['city'] } },
        ],
      },
    ],
  };
  const collect = async (it: AsyncGenerator<GenerateContentResponse>): Promise<GenerateContentResponse[]> => {
    const out: GenerateContentResponse[] = [];
    for await (const c of it) out.push(c);
    return out;
  };
  return {
    name: 'gemini',
    protocol: 'gemini',
    sent,
    stopFinish: 'STOP',
    toolFinish: 'STOP',
    async text(model, prompt) {
      const r = await ai.models.generateContent({ model, contents: prompt });
      return { text: r.text ?? '', usage: { input: r.usageMetadata?.promptTokenCount, output: r.usageMetadata?.candidatesTokenCount } };
    },
    async stream(model, prompt) {
      const chunks = await collect(await ai.models.generateContentStream({ model, contents: prompt }));
      const deltas = chunks.map((c) => c.text ?? '').filter((t) => t !== '');
      const usage = chunks.at(-1)?.usageMetadata;
      return { deltas, text: deltas.join(''), finish: chunks.at(-1)?.candidates?.[0]?.finishReason, usage: { input: usage?.promptTokenCount, output: usage?.candidatesTokenCount } };
    },
    async toolRoundTrip(model) {
      const contents: Content[] = [{ role: 'user', parts: [{ text: 'What is the weather in Paris?' }] }];
      const chunks = await collect(await ai.models.generateContentStream({ model, contents, config }));
      const call = chunks.flatMap((c) => c.functionCalls ?? [])[0];
      if (!call?.name) throw new Error(`no functionCall in ${JSON.stringify(chunks)}`);
      // As Google's function-calling guide does: the model's turn goes back as it came, then the result by name.
      contents.push(
        { role: 'model', parts: chunks.flatMap((c) => c.candidates?.[0]?.content?.parts ?? []) },
        { role: 'user', parts: [{ functionResponse: { name: call.name, response: TOOL_RESULT } }] },
      );
      const second = await ai.models.generateContent({ model, contents, config });
      return { call: { id: call.id, name: call.name, args: call.args }, finish: chunks.at(-1)?.candidates?.[0]?.finishReason, finalText: second.text ?? '' };
    },
    async image(model) {
      const r = await ai.models.generateContent({
        model,
        contents: [{ role: 'user', parts: [{ text: 'What is in this image?' }, { inlineData: { mimeType: 'image/png', data: PNG_B64 } }] }],
      });
      return r.text ?? '';
    },
    failure(model, streaming) {
      return rejection(streaming ? ai.models.generateContentStream({ model, contents: 'x' }).then(collect) : ai.models.generateContent({ model, contents: 'x' }));
    },
    expectError(err, status, message) {
      expect(err).toBeInstanceOf(ApiError);
      const e = err as ApiError;
      expect(e.status).toBe(status);
      expect(e.message).toContain(message);
    },
    async brokenStream(model) {
      let partial = '';
      const error = await rejection(
        (async () => {
          for await (const c of await ai.models.generateContentStream({ model, contents: 'x' })) partial += c.text ?? '';
        })(),
      );
      return { partial, error };
    },
  };
}

function aiSdkClient(apiKey: string): ClientDriver {
  const sent: Sent[] = [];
  const provider = createOpenAICompatible({ name: 'switchyard', baseURL: `${gw.url}/v1`, apiKey, includeUsage: true, fetch: capturingFetch(sent) });
  const weather = tool({ description: WEATHER_DESCRIPTION, inputSchema: jsonSchema<{ city: string }>(WEATHER_SCHEMA), execute: async () => TOOL_RESULT });
  const unwrap = (err: unknown): unknown => (RetryError.isInstance(err) ? err.lastError : err);
  return {
    name: 'ai-sdk',
    protocol: 'openai',
    sent,
    stopFinish: 'stop',
    toolFinish: 'tool-calls',
    async text(model, prompt) {
      const r = await generateText({ model: provider.chatModel(model), prompt, maxRetries: 0 });
      return { text: r.text, usage: { input: r.usage.inputTokens, output: r.usage.outputTokens } };
    },
    async stream(model, prompt) {
      const result = streamText({ model: provider.chatModel(model), prompt, maxRetries: 0, onError: () => {} });
      const deltas: string[] = [];
      const errors: unknown[] = [];
      for await (const part of result.fullStream) {
        if (part.type === 'text-delta') deltas.push(part.text);
        if (part.type === 'error') errors.push(part.error);
      }
      if (errors.length > 0) throw errors[0];
      const usage = await result.usage;
      return { deltas, text: await result.text, finish: await result.finishReason, usage: { input: usage.inputTokens, output: usage.outputTokens } };
    },
    async toolRoundTrip(model) {
      // The SDK runs the tool and sends its result back itself (a second step).
      const result = streamText({
        model: provider.chatModel(model),
        prompt: 'What is the weather in Paris?',
        tools: { get_weather: weather },
        stopWhen: stepCountIs(2),
        maxRetries: 0,
        onError: () => {},
      });
      const errors: unknown[] = [];
      for await (const part of result.fullStream) if (part.type === 'error') errors.push(part.error);
      if (errors.length > 0) throw errors[0];
      const steps = await result.steps;
      const call = steps[0]?.toolCalls[0];
      if (!call) throw new Error('no tool call in the first step');
      return { call: { id: call.toolCallId, name: call.toolName, args: call.input }, finish: steps[0].finishReason, finalText: await result.text };
    },
    async image(model) {
      const r = await generateText({
        model: provider.chatModel(model),
        maxRetries: 0,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'What is in this image?' }, { type: 'image', image: Buffer.from(PNG_B64, 'base64'), mediaType: 'image/png' }] }],
      });
      return r.text;
    },
    async failure(model, streaming) {
      if (!streaming) return unwrap(await rejection(generateText({ model: provider.chatModel(model), prompt: 'x', maxRetries: 0 })));
      const result = streamText({ model: provider.chatModel(model), prompt: 'x', maxRetries: 0, onError: () => {} });
      for await (const part of result.fullStream) if (part.type === 'error') return unwrap(part.error);
      throw new Error('expected an error part in the stream');
    },
    expectError(err, status, message) {
      expect(APICallError.isInstance(err)).toBe(true);
      const e = err as APICallError;
      expect(e.statusCode).toBe(status);
      expect(e.message).toContain(message);
    },
    async brokenStream(model) {
      const result = streamText({ model: provider.chatModel(model), prompt: 'x', maxRetries: 0, onError: () => {} });
      let partial = '';
      let error: unknown;
      for await (const part of result.fullStream) {
        if (part.type === 'text-delta') partial += part.text;
        if (part.type === 'error') error = part.error;
      }
      if (error === undefined) throw new Error('the AI SDK reported no error part');
      return { partial, error };
    },
  };
}

const CLIENTS: Array<{ name: ClientName; make: (key: string) => ClientDriver }> = [
  { name: 'openai', make: openaiClient },
  { name: 'anthropic', make: anthropicClient },
  { name: 'gemini', make: geminiClient },
  { name: 'ai-sdk', make: aiSdkClient },
];

/** Same-format traffic reaches the upstream as the client sent it: only the model name (and OpenAI's stream_options) may differ. */
function expectUnconverted(client: ClientDriver, upstream: UpstreamDriver): void {
  const sent = client.sent.filter((s) => /\/chat\/completions|\/v1\/messages$|:(streamGenerateContent|generateContent)$/.test(new URL(s.url).pathname));
  const got = upstream.chats();
  expect(got.length).toBe(sent.length);
  sent.forEach((s, i) => {
    const up = got[i];
    if (client.protocol === 'gemini') {
      // The model is in the URL: the body goes up byte for byte.
      expect(up.rawBody).toBe(s.raw);
      return;
    }
    const strip = (b: Record<string, unknown>) => {
      const { model: _model, ...rest } = b;
      // The gateway asks OpenAI upstreams for usage in streams; that is its one allowed edit.
      if (client.protocol === 'openai') delete rest.stream_options;
      return rest;
    };
    expect(strip(up.body)).toEqual(strip(s.body));
    expect(up.body.model).toBe(UPSTREAM_MODEL[upstream.name]);
  });
}

async function usageTotals(apiKey: string): Promise<{ requests: number; prompt_tokens: number; completion_tokens: number; total_tokens: number }> {
  const res = await fetch(`${gw.url}/v1/usage`, { headers: { authorization: `Bearer ${apiKey}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { totals: { requests: number; prompt_tokens: number; completion_tokens: number; total_tokens: number } }).totals;
}

beforeAll(async () => {
  [oai, az, anth, gem, flaky, steady] = await Promise.all([
    startOpenAISimulator({ apiKey: KEYS.openai }),
    startOpenAISimulator({ apiKey: KEYS.azure }),
    startAnthropicSimulator({ apiKey: KEYS.anthropic }),
    startGeminiSimulator({ apiKey: KEYS.gemini }),
    startAnthropicSimulator({ apiKey: KEYS.anthropic }),
    startGeminiSimulator({ apiKey: KEYS.gemini }),
  ]);
  flaky.handler = () => ({ type: 'stream_error_first', errorType: 'overloaded_error', message: 'Overloaded' });
  gw = await startTestGateway({
    // The matrix checks how one upstream answer is rendered; retries and failover have their own tests.
    retry: { attempts: 1 },
    upstreams: [
      { name: 'up-openai', type: 'openai', base_url: oai.url, api_key: KEYS.openai, models: ['m-openai'], model_map: { 'm-openai': UPSTREAM_MODEL.openai }, timeout: 10 },
      // Azure's base_url is the resource root: the adapter adds /openai/deployments/{deployment}/...
      {
        name: 'up-azure',
        type: 'azure',
        base_url: az.url.replace(/\/v1$/, ''),
        api_key: KEYS.azure,
        api_version: AZURE_API_VERSION,
        models: ['m-azure'],
        model_map: { 'm-azure': UPSTREAM_MODEL.azure },
        timeout: 10,
      },
      { name: 'up-anthropic', type: 'anthropic', base_url: anth.url, api_key: KEYS.anthropic, models: ['m-anthropic'], model_map: { 'm-anthropic': UPSTREAM_MODEL.anthropic }, timeout: 10 },
      { name: 'up-gemini', type: 'gemini', base_url: gem.url, api_key: KEYS.gemini, models: ['m-gemini'], model_map: { 'm-gemini': UPSTREAM_MODEL.gemini }, timeout: 10 },
      // One model on two upstreams of different types; the weights put the failing one first.
      { name: 'flaky', type: 'anthropic', base_url: flaky.url, api_key: KEYS.anthropic, models: ['m-failover'], model_map: { 'm-failover': UPSTREAM_MODEL.anthropic }, weight: 1000000, timeout: 10 },
      { name: 'steady', type: 'gemini', base_url: steady.url, api_key: KEYS.gemini, models: ['m-failover'], model_map: { 'm-failover': UPSTREAM_MODEL.gemini }, weight: 0.000001, timeout: 10 },
    ],
    models: { 'm-gemini': { context_window: 1_048_576 } },
  });
  key = (await gw.createKey({ name: 'matrix' })).key;
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([oai, az, anth, gem, flaky, steady].map((s) => s?.close()));
});

beforeEach(() => {
  for (const s of [oai, az, anth, gem, flaky, steady]) s.requests.length = 0;
});

// ---------------------------------------------------------------------------------------------

describe.each(CLIENTS)('$name client', ({ make }) => {
  describe.each(UPSTREAMS)('-> $name upstream', (upstream) => {
    let client: ClientDriver;
    const sameFormat = (): boolean => client.protocol === upstream.protocol;
    beforeEach(() => {
      client = make(key);
    });

    it('plain text arrives intact, with the upstream\'s token counts', { timeout: MATRIX_TIMEOUT }, async () => {
      upstream.text('Plain text, intact: ünïcödé ✓ and "quotes".', { input: 21, output: 3 });
      const out = await client.text(upstream.model, 'Say something');
      expect(out.text).toBe('Plain text, intact: ünïcödé ✓ and "quotes".');
      expect(out.usage).toEqual({ input: 21, output: 3 });
      expect(upstream.chats()).toHaveLength(1);
      upstream.checkRequest(upstream.chats()[0]);
      if (sameFormat()) expectUnconverted(client, upstream);
    });

    it('streams the text in several deltas and ends properly', { timeout: MATRIX_TIMEOUT }, async () => {
      upstream.text(STREAM_TEXT, { chunks: 3 });
      const out = await client.stream(upstream.model, 'Stream something');
      expect(out.text).toBe(STREAM_TEXT);
      expect(out.deltas.join('')).toBe(STREAM_TEXT);
      expect(out.deltas.length).toBeGreaterThan(1);
      expect(out.finish).toBe(client.stopFinish);
      upstream.checkRequest(upstream.chats()[0]);
      if (sameFormat()) expectUnconverted(client, upstream);
    });

    it('runs a tool-call round trip, results linked to their call', { timeout: MATRIX_TIMEOUT }, async () => {
      upstream.toolCall();
      upstream.text('It is sunny and 18 C in Paris.');
      const out = await client.toolRoundTrip(upstream.model);
      expect(out.call.name).toBe('get_weather');
      expect(out.call.args).toEqual(TOOL_ARGS);
      expect(out.finish).toBe(client.toolFinish);
      if (upstream.issuedCallId && client.protocol !== 'gemini') expect(out.call.id).toBe(upstream.issuedCallId);
      expect(out.finalText).toBe('It is sunny and 18 C in Paris.');

      const chats = upstream.chats();
      expect(chats).toHaveLength(2);
      upstream.checkRequest(chats[1]);
      const ex = upstream.toolExchange(chats[1].body);
      expect(ex.ordered).toBe(true);
      expect(ex.callName).toBe('get_weather');
      expect(ex.callArgs).toEqual(TOOL_ARGS);
      expect(ex.result).toEqual(TOOL_RESULT);
      if (upstream.issuedCallId) {
        // The result answers the very call the upstream issued.
        expect(ex.callId).toBe(upstream.issuedCallId);
        expect(ex.resultId).toBe(upstream.issuedCallId);
      } else {
        expect(ex.resultName).toBe('get_weather');
      }
      if (sameFormat()) expectUnconverted(client, upstream);
    });

    it('sends an image to the upstream intact, in its own format', { timeout: MATRIX_TIMEOUT }, async () => {
      upstream.text('A single pixel.');
      expect(await client.image(upstream.model)).toBe('A single pixel.');
      const img = upstream.image(upstream.chats()[0].body);
      expect(img).toEqual({ mediaType: 'image/png', data: PNG_B64 });
      if (sameFormat()) expectUnconverted(client, upstream);
    });

    it("raises the client's own error with the upstream's status and message", { timeout: MATRIX_TIMEOUT }, async () => {
      upstream.error(400, `fmx ${upstream.name}: the prompt is not acceptable`);
      client.expectError(await client.failure(upstream.model, false), 400, `fmx ${upstream.name}: the prompt is not acceptable`);
      upstream.error(429, `fmx ${upstream.name}: slow down please`);
      client.expectError(await client.failure(upstream.model, true), 429, `fmx ${upstream.name}: slow down please`);
      upstream.error(503, `fmx ${upstream.name}: overloaded, try later`);
      client.expectError(await client.failure(upstream.model, false), 503, `fmx ${upstream.name}: overloaded, try later`);
      expect(upstream.chats()).toHaveLength(3);
    });

    it('fails the stream helper when the upstream dies mid-stream, without hanging', { timeout: MATRIX_TIMEOUT }, async () => {
      upstream.drop(3);
      const started = Date.now();
      const { partial, error } = await client.brokenStream(upstream.model);
      // What arrived before the cut is shown, then the failure is reported in the client's own terms.
      expect(partial.length).toBeGreaterThan(0);
      expect(upstream.dropPool.startsWith(partial)).toBe(true);
      expect(error).toBeTruthy();
      expect(String((error as Error).message ?? error)).toMatch(/mid-stream/);
      expect(Date.now() - started).toBeLessThan(5000);
    });
  });
});

describe('usage of cross-format calls is metered for the key', () => {
  const cells: Array<{ client: ClientName; upstream: UpstreamDriver; input: number; output: number }> = [
    { client: 'openai', upstream: anthropicUpstream, input: 31, output: 7 },
    { client: 'anthropic', upstream: geminiUpstream, input: 13, output: 5 },
    { client: 'gemini', upstream: UPSTREAMS[0], input: 17, output: 4 },
    { client: 'ai-sdk', upstream: geminiUpstream, input: 19, output: 6 },
  ];
  it.each(cells)('$client client -> $upstream.name upstream (streamed)', { timeout: MATRIX_TIMEOUT }, async ({ client: name, upstream, input, output }) => {
    const usageKey = (await gw.createKey({ name: `usage-${name}` })).key;
    const client = CLIENTS.find((c) => c.name === name)!.make(usageKey);
    const before = await usageTotals(usageKey);
    upstream.text(STREAM_TEXT, { chunks: 3, input, output });
    const out = await client.stream(upstream.model, 'meter me', { usage: true });
    expect(out.text).toBe(STREAM_TEXT);
    // The client sees the upstream's counts in its own format...
    expect(out.usage).toEqual({ input, output });
    // ...and the gateway meters the same numbers for the key.
    let after = await usageTotals(usageKey);
    for (let i = 0; i < 40 && after.requests === before.requests; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = await usageTotals(usageKey);
    }
    expect(after.requests - before.requests).toBe(1);
    expect(after.prompt_tokens - before.prompt_tokens).toBe(input);
    expect(after.completion_tokens - before.completion_tokens).toBe(output);
    expect(after.total_tokens - before.total_tokens).toBe(input + output);
  });
});

describe('failover before the client sees anything', () => {
  it.each(CLIENTS)('$name client: a 200 whose first event is an error moves to the next upstream', { timeout: MATRIX_TIMEOUT }, async ({ make }) => {
    const client = make(key);
    steady.enqueue({ type: 'text', text: STREAM_TEXT, chunks: 3 });
    const out = await client.stream('m-failover', 'fail over please');
    expect(out.text).toBe(STREAM_TEXT);
    expect(out.finish).toBe(client.stopFinish);
    expect(flaky.requests).toHaveLength(1);
    expect(steady.requests).toHaveLength(1);
  });
});

describe('Anthropic clients get Anthropic-shaped errors from the gateway itself', () => {
  async function post(headers: Record<string, string>, body: unknown) {
    const res = await fetch(`${gw.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { type: string; error: { type: string; message: string } } };
  }

  it('404 not_found_error for an unknown model', async () => {
    const r = await post({ 'x-api-key': key }, { model: 'no-such-model', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
    expect(r.status).toBe(404);
    expect(r.body.type).toBe('error');
    expect(r.body.error.type).toBe('not_found_error');
    expect(r.body.error.message).toContain('no-such-model');
    const sdk = new Anthropic({ baseURL: gw.url, apiKey: key, maxRetries: 0 });
    const err = await rejection(sdk.messages.create({ model: 'no-such-model', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }));
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
  });

  it('401 authentication_error for a bad key', async () => {
    const r = await post({ 'x-api-key': 'sk-not-a-real-key' }, { model: 'm-anthropic', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
    expect(r.status).toBe(401);
    expect(r.body.type).toBe('error');
    expect(r.body.error.type).toBe('authentication_error');
    expect(typeof r.body.error.message).toBe('string');
    const sdk = new Anthropic({ baseURL: gw.url, apiKey: 'sk-not-a-real-key', maxRetries: 0 });
    const err = await rejection(sdk.messages.create({ model: 'm-anthropic', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }));
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(anth.requests).toHaveLength(0);
  });
});

describe('Gemini specifics', () => {
  it('a bad key is 400 INVALID_ARGUMENT, as Google answers', async () => {
    const res = await fetch(`${gw.url}/v1beta/models/m-gemini:generateContent`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': 'AIza-not-a-real-key' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'x' }] }] }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: number; status: string; message: string } };
    expect(body.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
    const ai = new GoogleGenAI({ apiKey: 'AIza-not-a-real-key', httpOptions: { baseUrl: gw.url } });
    const err = await rejection(ai.models.generateContent({ model: 'm-gemini', contents: 'x' }));
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(400);
    expect((err as ApiError).message).toContain('API key not valid');
    expect(gem.requests).toHaveLength(0);
  });

  it.each(['m-gemini', 'm-anthropic'])(':streamGenerateContent without alt=sse answers one JSON array (%s)', async (model) => {
    if (model === 'm-gemini') gem.enqueue({ type: 'text', text: STREAM_TEXT, chunks: 3 });
    else anth.enqueue({ type: 'text', text: STREAM_TEXT });
    const res = await fetch(`${gw.url}/v1beta/models/${model}:streamGenerateContent`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': key },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'x' }] }] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    const arr = JSON.parse(await res.text()) as Array<{ candidates?: Array<{ content?: { parts?: Array<{ text?: string }> }; finishReason?: string }> }>;
    expect(Array.isArray(arr)).toBe(true);
    expect(arr.length).toBeGreaterThan(1);
    expect(arr.map((c) => (c.candidates?.[0]?.content?.parts ?? []).map((p) => p.text ?? '').join('')).join('')).toBe(STREAM_TEXT);
    expect(arr.at(-1)?.candidates?.[0]?.finishReason).toBe('STOP');
  });

  it("GET /v1beta/models lists the key's models in Gemini's shape", async () => {
    const res = await fetch(`${gw.url}/v1beta/models`, { headers: { 'x-goog-api-key': key } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { models: Array<{ name: string; displayName: string; inputTokenLimit: number; supportedGenerationMethods: string[] }> };
    const names = body.models.map((m) => m.name);
    for (const m of ['m-openai', 'm-azure', 'm-anthropic', 'm-gemini']) expect(names).toContain(`models/${m}`);
    const gm = body.models.find((m) => m.name === 'models/m-gemini');
    expect(gm).toMatchObject({ displayName: 'm-gemini', inputTokenLimit: 1_048_576 });
    expect(gm?.supportedGenerationMethods).toEqual(expect.arrayContaining(['generateContent', 'streamGenerateContent']));
    const ai = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: gw.url } });
    const listed: string[] = [];
    for await (const m of await ai.models.list()) listed.push(m.name ?? '');
    expect(listed).toContain('models/m-anthropic');
  });
});

describe('headers and side routes', () => {
  it('passes anthropic-beta on to the Anthropic upstream', async () => {
    const sdk = new Anthropic({ baseURL: gw.url, apiKey: key, maxRetries: 0 });
    anth.enqueue({ type: 'text', text: 'beta ok' });
    await sdk.messages.create({ model: 'm-anthropic', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }, { headers: { 'anthropic-beta': 'fmx-beta-2025-01-01' } });
    expect(anth.requests[0].headers['anthropic-beta']).toBe('fmx-beta-2025-01-01');
    // An upstream of another type never sees it.
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'fmx-beta-2025-01-01' },
      body: JSON.stringify({ model: 'm-openai', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.status).toBe(200);
    expect(oai.requests[0].headers['anthropic-beta']).toBeUndefined();
  });

  it('x-switchyard-warnings names the parameters an upstream cannot honour', async () => {
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });
    const { response } = await client.chat.completions
      .create({ model: 'm-anthropic', presence_penalty: 0.5, seed: 7, messages: [{ role: 'user', content: 'x' }] })
      .withResponse();
    const warnings = response.headers.get('x-switchyard-warnings') ?? '';
    expect(warnings).toContain('presence_penalty');
    expect(warnings).toContain('seed');
    expect(anth.requests[0].body.presence_penalty).toBeUndefined();
    expect(anth.requests[0].body.seed).toBeUndefined();
    // Streamed too: the header comes with the stream.
    const { response: streamed } = await client.chat.completions
      .create({ model: 'm-anthropic', stream: true, seed: 7, messages: [{ role: 'user', content: 'x' }] })
      .withResponse();
    expect(streamed.headers.get('x-switchyard-warnings')).toContain('seed');
    await streamed.body?.cancel();
    // Same format: nothing is dropped, so no warning.
    const { response: same } = await client.chat.completions.create({ model: 'm-openai', presence_penalty: 0.5, seed: 7, messages: [{ role: 'user', content: 'x' }] }).withResponse();
    expect(same.headers.get('x-switchyard-warnings')).toBeNull();
    expect(oai.requests[0].body).toMatchObject({ presence_penalty: 0.5, seed: 7 });
  });

  it('count_tokens: an Anthropic upstream counts, other upstreams are counted by the gateway', async () => {
    const sdk = new Anthropic({ baseURL: gw.url, apiKey: key, maxRetries: 0 });
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'Count the tokens in this sentence, please.' }];
    const exact = await sdk.messages.countTokens({ model: 'm-anthropic', messages });
    // The simulator's own count: the upstream answered.
    expect(exact.input_tokens).toBe(Math.max(1, Math.ceil(JSON.stringify({ messages }).length / 4)));
    expect(anth.requests).toHaveLength(1);
    expect(new URL(anth.requests[0].path, 'http://x').pathname).toBe('/v1/messages/count_tokens');
    expect(anth.requests[0].body.model).toBe(UPSTREAM_MODEL.anthropic);
    expect(anth.requests[0].headers['x-api-key']).toBe(KEYS.anthropic);

    const counted = await sdk.messages.countTokens({ model: 'm-openai', messages });
    expect(counted.input_tokens).toBeGreaterThan(5);
    expect(counted.input_tokens).toBeLessThan(30);
    expect(oai.requests).toHaveLength(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Mid-conversation system messages (`role: "system"` inside `messages`, as Claude Code 2.1.197
// sends on every call) and blocks and fields the gateway does not know, from the official
// Anthropic SDK. Same format, the body passes through byte for byte. Cross-format, a system
// message stays a system message at its place on OpenAI and becomes user text at its place on
// Gemini, and what canonical cannot carry is left out and named in x-switchyard-warnings.

describe('Anthropic clients: mid-conversation system messages and blocks the gateway does not know', () => {
  const OPUS = 'claude-opus-4-8';
  const GPT = 'gpt-5.5';
  const GEMINI = 'gemini-2.5-flash';
  const BETA = 'mid-conversation-system-2026-04-07';
  let up: { anthropic: AnthropicSimulator; openai: OpenAISimulator; gemini: GeminiSimulator };
  let gateway: TestGateway;
  let sdk: Anthropic;
  const sent: Sent[] = [];

  beforeAll(async () => {
    const [anthropic, openai, gemini] = await Promise.all([
      startAnthropicSimulator({ apiKey: KEYS.anthropic }),
      startOpenAISimulator({ apiKey: KEYS.openai, models: [GPT] }),
      startGeminiSimulator({ apiKey: KEYS.gemini }),
    ]);
    up = { anthropic, openai, gemini };
    // Model names served as they are: the same-format body needs no rename, so it can pass byte for byte.
    gateway = await startTestGateway({
      retry: { attempts: 1 },
      upstreams: [
        { name: 'mcs-anthropic', type: 'anthropic', base_url: anthropic.url, api_key: KEYS.anthropic, models: [OPUS], timeout: 10 },
        { name: 'mcs-openai', type: 'openai', base_url: openai.url, api_key: KEYS.openai, models: [GPT], timeout: 10 },
        { name: 'mcs-gemini', type: 'gemini', base_url: gemini.url, api_key: KEYS.gemini, models: [GEMINI], timeout: 10 },
      ],
    });
    const apiKey = (await gateway.createKey({ name: 'mid-conversation-system' })).key;
    sdk = new Anthropic({ baseURL: gateway.url, apiKey, maxRetries: 0, timeout: 10_000, fetch: capturingFetch(sent) });
  });

  afterAll(async () => {
    await gateway?.close();
    await Promise.all(Object.values(up ?? {}).map((s) => s.close()));
  });

  beforeEach(() => {
    for (const s of Object.values(up)) s.requests.length = 0;
    sent.length = 0;
  });

  /** A conversation with a document, a web search Anthropic ran, a block type from the future and two system messages. */
  function conversation(model: string): Anthropic.MessageCreateParamsNonStreaming {
    const futureBlock = { type: 'future_block_2027', payload: { anything: true } } as unknown as Anthropic.ContentBlockParam;
    return {
      model,
      max_tokens: 256,
      system: [{ type: 'text', text: 'You are a research assistant.', cache_control: { type: 'ephemeral' } }],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'Clause 9: this contract is governed by the law of England.' }, title: 'contract.txt' },
            { type: 'text', text: 'Find the governing law of this contract.' },
          ],
        },
        { role: 'system', content: 'Cite your sources.' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Searching.' },
            { type: 'server_tool_use', id: 'srvtoolu_01', name: 'web_search', input: { query: 'governing law clause' } },
            {
              type: 'web_search_tool_result',
              tool_use_id: 'srvtoolu_01',
              content: [{ type: 'web_search_result', url: 'https://example.com/law', title: 'Governing law', encrypted_content: 'EqgfCioIARgBIiQ3YTAw', page_age: null }],
            },
            { type: 'text', text: 'The law of England.' },
          ],
        },
        { role: 'user', content: [futureBlock, { type: 'text', text: 'And the notice period?' }] },
        { role: 'system', content: [{ type: 'text', text: 'Answer in one sentence.' }] },
      ],
      tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }],
    };
  }

  it('same format: forwards the body byte for byte, system messages, unknown blocks and fields included', async () => {
    const body = { ...conversation(OPUS), field_from_the_future: { on: true } } as Anthropic.MessageCreateParamsNonStreaming;
    const message = await sdk.messages.create(body, { headers: { 'anthropic-beta': BETA } });
    expect(message.content).toEqual([{ type: 'text', text: ANTHROPIC_DEFAULT_TEXT }]);
    const [received] = up.anthropic.requests;
    expect(received.rawBody).toBe(sent[0].raw);
    expect(received.headers['anthropic-beta']).toBe(BETA);
    expect((received.body.messages as Array<{ role: string }>).map((m) => m.role)).toEqual(['user', 'system', 'assistant', 'user', 'system']);

    // Streamed too: the events come back through the SDK's own stream helper.
    const text = await sdk.messages.stream({ ...body, stream: true }, { headers: { 'anthropic-beta': BETA } }).finalText();
    expect(text).toBe(ANTHROPIC_DEFAULT_TEXT);
    expect(up.anthropic.requests[1].rawBody).toBe(sent[1].raw);
  });

  it('OpenAI upstream: each system message at its place; server tool, its blocks, the document and the unknown block left out with warnings', async () => {
    up.openai.enqueue({ type: 'text', text: 'Thirty days, per clause 12.' });
    const { data, response } = await sdk.messages.create(conversation(GPT), { headers: { 'anthropic-beta': BETA } }).withResponse();
    expect(data.content).toEqual([{ type: 'text', text: 'Thirty days, per clause 12.' }]);
    const [received] = up.openai.requests.filter((r) => r.method === 'POST');
    expect(received.body.messages).toEqual([
      { role: 'system', content: 'You are a research assistant.' },
      { role: 'user', content: 'Find the governing law of this contract.' },
      { role: 'system', content: 'Cite your sources.' },
      { role: 'assistant', content: 'Searching.The law of England.' },
      { role: 'user', content: 'And the notice period?' },
      { role: 'system', content: 'Answer in one sentence.' },
    ]);
    expect(received.body.tools).toBeUndefined();
    expect(received.headers['anthropic-beta']).toBeUndefined();
    const warnings = response.headers.get('x-switchyard-warnings') ?? '';
    for (const param of [
      'messages[].content[].document',
      'messages[].content[].server_tool_use',
      'messages[].content[].web_search_tool_result',
      'messages[].content[].future_block_2027',
      'tools.0',
    ]) {
      expect(warnings).toContain(`${param}: `);
    }
  });

  it('Gemini upstream: a system message after the first turn is user text at its place, with a warning', async () => {
    up.gemini.enqueue({ type: 'text', text: 'Thirty days.' });
    const { data, response } = await sdk.messages.create(conversation(GEMINI)).withResponse();
    expect(data.content).toEqual([{ type: 'text', text: 'Thirty days.' }]);
    const [received] = up.gemini.requests.filter((r) => r.method === 'POST');
    expect(received.body.systemInstruction).toEqual({ parts: [{ text: 'You are a research assistant.' }] });
    expect(received.body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Find the governing law of this contract.' }, { text: 'Cite your sources.' }] },
      { role: 'model', parts: [{ text: 'Searching.' }, { text: 'The law of England.' }] },
      { role: 'user', parts: [{ text: 'And the notice period?' }, { text: 'Answer in one sentence.' }] },
    ]);
    const warnings = response.headers.get('x-switchyard-warnings') ?? '';
    expect(warnings).toContain('messages[].system: Gemini has no system turns');
    expect(warnings).toContain('messages[].content[].web_search_tool_result: ');
  });
});
