/**
 * A Gemini API upstream over real HTTP on 127.0.0.1, speaking generativelanguage.googleapis.com's
 * wire format, for adapter and end-to-end tests.
 *
 * Shapes follow the published API reference (GenerateContentResponse, streamGenerateContent,
 * models.list, countTokens, google.rpc error bodies) and recorded traffic:
 * - `:streamGenerateContent?alt=sse` answers `text/event-stream` events `data: {...}\r\n\r\n`
 *   (CRLF, no [DONE]); the JSON is written Google's way (`"key": value`, `,` without a space);
 * - every chunk carries a running usageMetadata; the last one also has finishReason and the
 *   final counts (candidatesTokenCount, thoughtsTokenCount);
 * - without alt=sse the same chunks come as one JSON array (`[{...}\n,\r\n{...}\n]`), and
 *   errors on that route are wrapped in an array too (`[{"error":{...}}]`);
 * - function calls arrive whole, in one chunk, with finishReason STOP; the first call of a
 *   thinking model's turn carries a thoughtSignature;
 * - thought parts (`thought: true`) appear only when thinkingConfig.includeThoughts is set;
 * - a bad key is HTTP 400 INVALID_ARGUMENT "API key not valid. Please pass a valid API key."
 *   (reason API_KEY_INVALID); no key at all is 403 PERMISSION_DENIED;
 * - `:embedContent` answers `{"embedding":{"values":[...]}}` and `:batchEmbedContents`
 *   `{"embeddings":[{"values":[...]}, ...]}`, no usage, for the embedding models only (other models
 *   404 "... or is not supported for embedContent"); values come from `embeddingValues(text, d,
 *   modelDimensions)`: unit length at the model's native size, an `outputDimensionality` below it
 *   truncated without renormalising, as Gemini does.
 */
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import {
  type BasicScenario,
  embeddingValues,
  type Exchange,
  type Pacing,
  playBasicScenario,
  randomString,
  type RecordedRequest,
  type SimulatorServer,
  sleep,
  splitWords,
  startSimulatorServer,
  write,
} from './simulator-server.ts';

export { embeddingValues };

export interface GeminiCallSpec {
  name: string;
  args?: Record<string, unknown>;
  /** Gemini 3 may send ids; older models never do. */
  id?: string;
}

export type GeminiScenario =
  | ({
      type: 'text';
      text?: string;
      /** Stream: split the text into this many chunks; default about four words per chunk. */
      chunks?: number;
      promptTokens?: number;
      /** Default: the number of chunks. */
      candidatesTokens?: number;
      cachedTokens?: number;
      finishReason?: string;
      /** modelVersion in the answer; default: the model in the URL. */
      modelVersion?: string;
      /** Stream: send finishReason in an extra chunk with no parts, as Gemini 2.5 sometimes does. */
      separateFinishChunk?: boolean;
      /** Gemini 3: an empty text part carrying this signature closes the answer. */
      thoughtSignature?: string;
    } & Pacing)
  | {
      type: 'thought';
      /** Thought-summary chunks, sent only when the request set thinkingConfig.includeThoughts. */
      thoughts?: string[];
      text?: string;
      thoughtsTokens?: number;
      promptTokens?: number;
      chunkDelayMs?: number;
      thoughtSignature?: string;
    }
  | {
      type: 'function_call';
      calls: GeminiCallSpec[];
      /** A text part before the calls. */
      text?: string;
      /** Put on the first functionCall part (thinking models do). */
      thoughtSignature?: string;
      promptTokens?: number;
      thoughtsTokens?: number;
      chunkDelayMs?: number;
    }
  | { type: 'error'; status: number; /** Sent as is (JSON-encoded unless a string); default: Google's error shape. */ body?: unknown; message?: string; rpcStatus?: string }
  /** 200 + a stream whose first event is `{"error":{...}}`, then the stream ends. */
  | { type: 'stream_error_first'; code?: number; message?: string; rpcStatus?: string }
  /** Stream: send N chunks then destroy the socket; afterChunks 0 = destroy before any response. Non-stream: part of the body. */
  | { type: 'drop'; afterChunks: number }
  | BasicScenario
  /**
   * Replays test/fixtures/gemini/<name> as is: `.sse` files event by event as text/event-stream,
   * `.json` files as the body (status: the error's code for error bodies, else 200).
   */
  | { type: 'fixture'; name: string; chunkDelayMs?: number };

export type GeminiRecordedRequest = RecordedRequest;

/**
 * `requests` holds auth failures and models/countTokens calls too; the queue feeds generateContent /
 * streamGenerateContent and embedContent / batchEmbedContents calls (once their input passed
 * validation); the default `handler` answers a text. An embedding call plays hang, raw, error,
 * stream_error_first (as an error answer), drop (afterChunks 0: no answer; otherwise half the body)
 * and a text scenario's firstByteDelayMs / chunkDelayMs; any other scenario answers the vectors.
 */
export interface GeminiSimulator extends SimulatorServer<GeminiScenario> {
  /** Host root, e.g. http://127.0.0.1:PORT (clients add /v1beta/models/...). */
  url: string;
}

export const GEMINI_DEFAULT_TEXT = 'Hello from the Gemini simulator.';
export const GEMINI_DEFAULT_MODELS = ['gemini-2.5-flash', 'gemini-2.5-pro', 'gemini-2.0-flash', 'gemini-3-flash-preview'];
/** The models :embedContent and :batchEmbedContents accept by default, with their native vector length. */
export const GEMINI_EMBEDDING_DIMENSIONS: Record<string, number> = { 'gemini-embedding-001': 3072, 'text-embedding-004': 768, 'embedding-001': 768 };
export const GEMINI_EMBEDDING_MODELS = Object.keys(GEMINI_EMBEDDING_DIMENSIONS);
export const GEMINI_TASK_TYPES = [
  'TASK_TYPE_UNSPECIFIED',
  'RETRIEVAL_QUERY',
  'RETRIEVAL_DOCUMENT',
  'SEMANTIC_SIMILARITY',
  'CLASSIFICATION',
  'CLUSTERING',
  'QUESTION_ANSWERING',
  'FACT_VERIFICATION',
  'CODE_RETRIEVAL_QUERY',
];
const DEFAULT_PROMPT_TOKENS = 8;

type GoogleError = { error: { code: number; message: string; status: string; details?: unknown[] } };

function googleError(code: number, message: string, status: string, details?: unknown[]): GoogleError {
  return { error: details ? { code, message, status, details } : { code, message, status } };
}

/** The google.rpc status for an HTTP status when the scenario does not name one. */
function defaultRpcStatus(status: number): string {
  switch (status) {
    case 400:
      return 'INVALID_ARGUMENT';
    case 401:
      return 'UNAUTHENTICATED';
    case 403:
      return 'PERMISSION_DENIED';
    case 404:
      return 'NOT_FOUND';
    case 429:
      return 'RESOURCE_EXHAUSTED';
    case 503:
      return 'UNAVAILABLE';
    case 504:
      return 'DEADLINE_EXCEEDED';
    default:
      return status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION';
  }
}

function defaultMessage(status: number): string {
  switch (status) {
    case 429:
      return 'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.';
    case 503:
      return 'The model is overloaded. Please try again later.';
    case 500:
      return 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting';
    default:
      return 'Simulated error';
  }
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const responseId = () => randomString(22, ID_CHARS);

/** Google's compact JSON in SSE events: `"key": value`, `,` between members without a space. */
export function googleCompactJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => googleCompactJson(v)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}: ${googleCompactJson(v)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

function splitText(text: string, chunks: number | undefined): string[] {
  const words = splitWords(text);
  if (words.length === 0) return [text];
  const n = chunks !== undefined && chunks > 0 ? Math.min(chunks, words.length) : Math.max(1, Math.ceil(words.length / 4));
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(words.slice(Math.floor((i * words.length) / n), Math.floor(((i + 1) * words.length) / n)).join(''));
  return out;
}

function countTextTokens(body: any): number {
  let chars = 0;
  const visit = (contents: any) => {
    if (!Array.isArray(contents)) return;
    for (const c of contents) for (const p of c?.parts ?? []) if (typeof p?.text === 'string') chars += p.text.length;
  };
  visit(body?.contents);
  visit(body?.generateContentRequest?.contents);
  return Math.max(1, Math.ceil(chars / 4));
}

export async function startGeminiSimulator(opts: { apiKey?: string; models?: string[]; /** Default GEMINI_EMBEDDING_MODELS. */ embeddingModels?: string[] } = {}): Promise<GeminiSimulator> {
  const models = opts.models ?? GEMINI_DEFAULT_MODELS;
  const embeddingModels = opts.embeddingModels ?? GEMINI_EMBEDDING_MODELS;

  function baseHeaders(): Record<string, string> {
    return {
      vary: 'Origin, X-Origin, Referer',
      server: 'scaffolding on HTTPServer2',
      'x-xss-protection': '0',
      'x-frame-options': 'SAMEORIGIN',
      'x-content-type-options': 'nosniff',
      'server-timing': 'gfet4t7; dur=412',
    };
  }

  function sendJson(res: ServerResponse, status: number, payload: unknown) {
    if (res.destroyed) return;
    const text = typeof payload === 'string' ? payload : JSON.stringify(payload, null, 2);
    res.writeHead(status, { ...baseHeaders(), 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  async function handle(ex: Exchange<GeminiScenario>) {
    const { req, res, rec, parseFailed } = ex;
    const url = new URL(rec.path, 'http://localhost');
    const method = rec.method.toUpperCase();
    const m = /^\/(v1beta|v1|v1alpha)\/(models(?:\/(.+))?)$/.exec(url.pathname.replace(/\/+$/, ''));
    if (!m) {
      sendJson(res, 404, googleError(404, `Requested entity was not found.`, 'NOT_FOUND'));
      return;
    }
    const version = m[1];
    const rest = m[3];
    const action = rest && rest.includes(':') ? rest.slice(rest.lastIndexOf(':') + 1) : undefined;
    const model = rest ? (action ? rest.slice(0, rest.lastIndexOf(':')) : rest) : undefined;
    const jsonArray = action === 'streamGenerateContent' && url.searchParams.get('alt') !== 'sse';
    const sendError = (status: number, body: GoogleError) => sendJson(res, status, jsonArray ? [body] : body);

    if (opts.apiKey !== undefined) {
      const header = req.headers['x-goog-api-key'];
      const key = (typeof header === 'string' ? header : undefined) ?? url.searchParams.get('key') ?? '';
      if (!key) {
        sendError(
          403,
          googleError(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            'PERMISSION_DENIED',
          ),
        );
        return;
      }
      if (key !== opts.apiKey) {
        const message = 'API key not valid. Please pass a valid API key.';
        sendError(
          400,
          googleError(400, message, 'INVALID_ARGUMENT', [
            { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
            { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message },
          ]),
        );
        return;
      }
    }

    if (method === 'GET' && !action) {
      if (model === undefined) {
        sendJson(res, 200, { models: models.map(modelObject) });
        return;
      }
      const id = model.replace(/^models\//, '');
      if (models.includes(id)) sendJson(res, 200, modelObject(id));
      else if (embeddingModels.includes(id)) sendJson(res, 200, embeddingModelObject(id));
      else sendJson(res, 404, googleError(404, `models/${id} is not found for API version ${version}, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.`, 'NOT_FOUND'));
      return;
    }

    const embedAction = action === 'embedContent' || action === 'batchEmbedContents';
    if (method !== 'POST' || !model || (action !== 'generateContent' && action !== 'streamGenerateContent' && action !== 'countTokens' && !embedAction)) {
      sendJson(res, 404, googleError(404, 'Requested entity was not found.', 'NOT_FOUND'));
      return;
    }
    if (embedAction ? !embeddingModels.includes(model) : !models.includes(model)) {
      sendError(
        404,
        googleError(404, `models/${model} is not found for API version ${version}, or is not supported for ${action}. Call ListModels to see the list of available models and their supported methods.`, 'NOT_FOUND'),
      );
      return;
    }
    if (parseFailed || rec.body === undefined || rec.body === null || typeof rec.body !== 'object' || Array.isArray(rec.body)) {
      sendError(400, googleError(400, 'Invalid JSON payload received. Unexpected token.', 'INVALID_ARGUMENT'));
      return;
    }
    if (embedAction) {
      await embed(ex, model, action, version);
      return;
    }
    if (action === 'countTokens') {
      const n = countTextTokens(rec.body);
      sendJson(res, 200, { totalTokens: n, promptTokensDetails: [{ modality: 'TEXT', tokenCount: n }] });
      return;
    }
    const contents = rec.body.contents;
    if (!Array.isArray(contents) || contents.length === 0) {
      sendError(400, googleError(400, '* GenerateContentRequest.contents: contents is not specified\n', 'INVALID_ARGUMENT'));
      return;
    }
    for (const [i, c] of contents.entries()) {
      if (c?.role !== undefined && c.role !== 'user' && c.role !== 'model' && c.role !== 'function') {
        sendError(400, googleError(400, 'Please use a valid role: user, model.', 'INVALID_ARGUMENT'));
        return;
      }
      if (!Array.isArray(c?.parts) || c.parts.length === 0) {
        sendError(400, googleError(400, `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.\n`, 'INVALID_ARGUMENT'));
        return;
      }
    }

    await answer(ex, ex.nextScenario(), { model, stream: action === 'streamGenerateContent', jsonArray });
  }

  function embeddingModelObject(id: string) {
    return {
      name: `models/${id}`,
      version: '001',
      displayName: id,
      description: `Simulated ${id} embedding model.`,
      inputTokenLimit: 2048,
      outputTokenLimit: 1,
      supportedGenerationMethods: ['embedContent', 'countTextTokens', 'countTokens', 'asyncBatchEmbedContent'],
    };
  }

  /** One embedding request (embedContent's body, or one of batchEmbedContents' requests): its text and length, or the error message. */
  function embedRequest(r: any, model: string, field: string, batch: boolean, version: string): { text: string; dims: number } | string {
    const full = GEMINI_EMBEDDING_DIMENSIONS[model] ?? 768;
    const where = batch ? `BatchEmbedContentsRequest.${field}` : 'EmbedContentRequest';
    if (r === null || typeof r !== 'object' || Array.isArray(r)) return `Invalid JSON payload received. Unknown name "${field}": Proto field is not repeating, cannot start list.`;
    if (batch && r.model !== `models/${model}`) {
      return r.model === undefined ? `* ${where}.model: model is not specified\n` : `* ${where}.model: the model in the request (${String(r.model)}) does not match the model in the URL (models/${model})\n`;
    }
    const parts = r.content?.parts;
    if (r.content === undefined) return `* ${where}.content: content is not specified\n`;
    if (!Array.isArray(parts) || parts.length === 0) return `* ${where}.content.parts: contents.parts must not be empty.\n`;
    const texts = parts.map((p: any) => p?.text).filter((t: unknown): t is string => typeof t === 'string');
    if (texts.length === 0 || texts.join('').length === 0) return `* ${where}.content.parts[0].text: text must not be empty.\n`;
    if (r.taskType !== undefined && !GEMINI_TASK_TYPES.includes(r.taskType)) {
      return `Invalid value at '${batch ? `${field}.` : ''}task_type' (type.googleapis.com/google.ai.generativelanguage.${version}.TaskType), "${String(r.taskType)}"`;
    }
    const d = r.outputDimensionality;
    if (d !== undefined && (!Number.isInteger(d) || d < 1 || d > full)) return `* ${where}.output_dimensionality: output_dimensionality must be between 1 and ${full}, got ${String(d)}.\n`;
    return { text: texts.join(' '), dims: d ?? full };
  }

  async function embed(ex: Exchange<GeminiScenario>, model: string, action: 'embedContent' | 'batchEmbedContents', version: string) {
    const { res, rec } = ex;
    const full = GEMINI_EMBEDDING_DIMENSIONS[model] ?? 768;
    const jobs: Array<{ text: string; dims: number }> = [];
    if (action === 'embedContent') {
      const job = embedRequest(rec.body, model, 'request', false, version);
      if (typeof job === 'string') return sendJson(res, 400, googleError(400, job, 'INVALID_ARGUMENT'));
      jobs.push(job);
    } else {
      const requests = rec.body.requests;
      if (!Array.isArray(requests) || requests.length === 0) return sendJson(res, 400, googleError(400, '* BatchEmbedContentsRequest.requests: requests is not specified\n', 'INVALID_ARGUMENT'));
      if (requests.length > 100) return sendJson(res, 400, googleError(400, '* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n', 'INVALID_ARGUMENT'));
      for (const [i, r] of requests.entries()) {
        const job = embedRequest(r, model, `requests[${i}]`, true, version);
        if (typeof job === 'string') return sendJson(res, 400, googleError(400, job, 'INVALID_ARGUMENT'));
        jobs.push(job);
      }
    }
    const scenario = ex.nextScenario();
    if (playBasicScenario(ex, scenario)) return;
    if (scenario.type === 'error' || scenario.type === 'stream_error_first') {
      const code = scenario.type === 'error' ? scenario.status : (scenario.code ?? 500);
      const payload = scenario.type === 'error' && scenario.body !== undefined ? scenario.body : googleError(code, scenario.message ?? defaultMessage(code), scenario.rpcStatus ?? defaultRpcStatus(code));
      return sendJson(res, code, payload);
    }
    if (scenario.type === 'drop' && scenario.afterChunks <= 0) return ex.destroy();
    if (scenario.type === 'text' && scenario.firstByteDelayMs) await sleep(scenario.firstByteDelayMs);
    if (scenario.type === 'text' && scenario.chunkDelayMs) await sleep(scenario.chunkDelayMs);
    if (ex.closed) return;
    const vectors = jobs.map((j) => ({ values: embeddingValues(j.text, j.dims, full) }));
    const payload = action === 'embedContent' ? { embedding: vectors[0] } : { embeddings: vectors };
    if (scenario.type === 'drop') {
      const text = JSON.stringify(payload, null, 2);
      res.writeHead(200, { ...baseHeaders(), 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
      await write(res, text.slice(0, Math.floor(text.length / 2)));
      return ex.destroy();
    }
    sendJson(res, 200, payload);
  }

  function modelObject(id: string) {
    return {
      name: `models/${id}`,
      version: '001',
      displayName: id,
      description: `Simulated ${id}.`,
      inputTokenLimit: 1048576,
      outputTokenLimit: 65536,
      supportedGenerationMethods: ['generateContent', 'countTokens', 'createCachedContent', 'batchGenerateContent'],
      temperature: 1,
      topP: 0.95,
      topK: 64,
      maxTemperature: 2,
      thinking: true,
    };
  }

  async function answer(ex: Exchange<GeminiScenario>, scenario: GeminiScenario, call: { model: string; stream: boolean; jsonArray: boolean }) {
    if (playBasicScenario(ex, scenario)) return;
    const { res, rec } = ex;
    const id = responseId();
    const includeThoughts = rec.body?.generationConfig?.thinkingConfig?.includeThoughts === true;

    /** Opens the stream answer; returns a writer for one chunk. */
    const openStream = () => {
      if (call.jsonArray) {
        res.writeHead(200, { ...baseHeaders(), 'content-type': 'application/json; charset=UTF-8' });
      } else {
        res.writeHead(200, { ...baseHeaders(), 'content-type': 'text/event-stream', 'content-disposition': 'attachment', 'cache-control': 'no-cache' });
      }
      res.flushHeaders();
      let first = true;
      return {
        chunk: (payload: unknown) => {
          if (!call.jsonArray) return write(res, `data: ${googleCompactJson(payload)}\r\n\r\n`);
          const text = (first ? '[' : '\n,\r\n') + JSON.stringify(payload, null, 2);
          first = false;
          return write(res, text);
        },
        end: async () => {
          if (call.jsonArray) await write(res, first ? '[]' : '\n]');
          res.end();
        },
      };
    };

    const responseOf = (candidate: Record<string, unknown>, usage: Record<string, unknown>, modelVersion = call.model) => ({
      candidates: [candidate],
      usageMetadata: usage,
      modelVersion,
      responseId: id,
    });
    const runningUsage = (prompt: number, thoughts: number) => ({
      promptTokenCount: prompt,
      totalTokenCount: prompt + thoughts,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
      ...(thoughts > 0 ? { thoughtsTokenCount: thoughts } : {}),
    });
    const finalUsage = (prompt: number, candidates: number, thoughts: number, cached: number) => ({
      promptTokenCount: prompt,
      candidatesTokenCount: candidates,
      totalTokenCount: prompt + candidates + thoughts,
      ...(cached > 0 ? { cachedContentTokenCount: cached } : {}),
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
      ...(thoughts > 0 ? { thoughtsTokenCount: thoughts } : {}),
    });

    switch (scenario.type) {
      case 'fixture': {
        const text = readFileSync(new URL(`../fixtures/gemini/${scenario.name}`, import.meta.url), 'utf8');
        if (ex.closed) return;
        if (!scenario.name.endsWith('.sse')) {
          const json = JSON.parse(text) as { error?: { code?: number } };
          sendJson(res, json.error?.code ?? 200, text);
          return;
        }
        res.writeHead(200, { ...baseHeaders(), 'content-type': 'text/event-stream', 'content-disposition': 'attachment', 'cache-control': 'no-cache' });
        res.flushHeaders();
        for (const event of text.split('\r\n\r\n').filter((e) => e.trim() !== '')) {
          if (scenario.chunkDelayMs) await sleep(scenario.chunkDelayMs);
          if (ex.closed) return;
          await write(res, `${event}\r\n\r\n`);
        }
        res.end();
        return;
      }

      case 'error': {
        if (ex.closed) return;
        const payload = scenario.body !== undefined ? scenario.body : googleError(scenario.status, scenario.message ?? defaultMessage(scenario.status), scenario.rpcStatus ?? defaultRpcStatus(scenario.status));
        if (typeof payload === 'string') sendJson(res, scenario.status, payload);
        else sendJson(res, scenario.status, call.jsonArray && scenario.body === undefined ? [payload] : payload);
        return;
      }

      case 'stream_error_first': {
        if (ex.closed) return;
        const code = scenario.code ?? 500;
        const err = googleError(code, scenario.message ?? defaultMessage(code), scenario.rpcStatus ?? defaultRpcStatus(code));
        if (!call.stream) {
          sendJson(res, code, err);
          return;
        }
        const s = openStream();
        await s.chunk(err);
        await s.end();
        return;
      }

      case 'drop': {
        if (scenario.afterChunks <= 0) {
          ex.destroy();
          return;
        }
        const pieces = splitText(`${GEMINI_DEFAULT_TEXT} ${GEMINI_DEFAULT_TEXT} ${GEMINI_DEFAULT_TEXT}`, 12).slice(0, scenario.afterChunks);
        if (!call.stream) {
          const full = JSON.stringify(responseOf({ content: { parts: [{ text: pieces.join('') }], role: 'model' }, finishReason: 'STOP', index: 0 }, finalUsage(DEFAULT_PROMPT_TOKENS, pieces.length, 0, 0)), null, 2);
          res.writeHead(200, { ...baseHeaders(), 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(full) });
          await write(res, full.slice(0, Math.floor(full.length / 2)));
          ex.destroy();
          return;
        }
        const s = openStream();
        for (const piece of pieces) {
          if (ex.closed) return;
          await s.chunk(responseOf({ content: { parts: [{ text: piece }], role: 'model' }, index: 0 }, runningUsage(DEFAULT_PROMPT_TOKENS, 0)));
        }
        ex.destroy();
        return;
      }

      case 'text':
      case 'thought': {
        const text = scenario.text ?? GEMINI_DEFAULT_TEXT;
        const pieces = splitText(text, scenario.type === 'text' ? scenario.chunks : undefined);
        const prompt = scenario.promptTokens ?? DEFAULT_PROMPT_TOKENS;
        const thoughtTexts = scenario.type === 'thought' ? (scenario.thoughts ?? ['**Thinking it through**\n\nThe user greets me; a short greeting back will do.']) : [];
        const thoughts = scenario.type === 'thought' ? (scenario.thoughtsTokens ?? 42) : 0;
        const candidates = scenario.type === 'text' ? (scenario.candidatesTokens ?? pieces.length) : pieces.length;
        const cached = scenario.type === 'text' ? (scenario.cachedTokens ?? 0) : 0;
        const finishReason = scenario.type === 'text' ? (scenario.finishReason ?? 'STOP') : 'STOP';
        const modelVersion = scenario.type === 'text' ? (scenario.modelVersion ?? call.model) : call.model;
        const delay = scenario.chunkDelayMs ?? 0;
        const signature = scenario.thoughtSignature;
        const separateFinish = scenario.type === 'text' && scenario.separateFinishChunk === true;
        if (scenario.type === 'text' && scenario.firstByteDelayMs) await sleep(scenario.firstByteDelayMs);
        if (ex.closed) return;

        if (!call.stream) {
          if (delay > 0) await sleep(delay * pieces.length);
          if (ex.closed) return;
          const parts: Record<string, unknown>[] = [];
          if (includeThoughts) for (const t of thoughtTexts) parts.push({ text: t, thought: true });
          parts.push(signature ? { text, thoughtSignature: signature } : { text });
          sendJson(res, 200, responseOf({ content: { parts, role: 'model' }, finishReason, index: 0 }, finalUsage(prompt, candidates, thoughts, cached), modelVersion));
          return;
        }

        const s = openStream();
        if (includeThoughts) {
          for (const t of thoughtTexts) {
            if (delay > 0) await sleep(delay);
            if (ex.closed) return;
            await s.chunk(responseOf({ content: { parts: [{ text: t, thought: true }], role: 'model' }, index: 0 }, runningUsage(prompt, thoughts), modelVersion));
          }
        }
        for (const [i, piece] of pieces.entries()) {
          if (delay > 0) await sleep(delay);
          if (ex.closed) return;
          const last = i === pieces.length - 1 && !separateFinish && !signature;
          const candidate: Record<string, unknown> = { content: { parts: [{ text: piece }], role: 'model' } };
          if (last) candidate.finishReason = finishReason;
          candidate.index = 0;
          await s.chunk(responseOf(candidate, last ? finalUsage(prompt, candidates, thoughts, cached) : runningUsage(prompt, thoughts), modelVersion));
        }
        if (separateFinish || signature) {
          if (delay > 0) await sleep(delay);
          if (ex.closed) return;
          const content = signature ? { parts: [{ text: '', thoughtSignature: signature }], role: 'model' } : { role: 'model' };
          await s.chunk(responseOf({ content, finishReason, index: 0 }, finalUsage(prompt, candidates, thoughts, cached), modelVersion));
        }
        await s.end();
        return;
      }

      case 'function_call': {
        const prompt = scenario.promptTokens ?? DEFAULT_PROMPT_TOKENS;
        const thoughts = scenario.thoughtsTokens ?? 0;
        const callParts = scenario.calls.map((c, i) => {
          const fc: Record<string, unknown> = c.id ? { id: c.id, name: c.name, args: c.args ?? {} } : { name: c.name, args: c.args ?? {} };
          return i === 0 && scenario.thoughtSignature ? { functionCall: fc, thoughtSignature: scenario.thoughtSignature } : { functionCall: fc };
        });
        const candidates = scenario.calls.length * 9 + (scenario.text ? 5 : 0);
        const delay = scenario.chunkDelayMs ?? 0;
        if (ex.closed) return;
        const finalCandidate = (parts: unknown[]) => ({ content: { parts, role: 'model' }, finishReason: 'STOP', index: 0, finishMessage: 'Model generated function call(s).' });
        if (!call.stream) {
          if (delay > 0) await sleep(delay);
          if (ex.closed) return;
          const parts = [...(scenario.text ? [{ text: scenario.text }] : []), ...callParts];
          sendJson(res, 200, responseOf(finalCandidate(parts), finalUsage(prompt, candidates, thoughts, 0)));
          return;
        }
        const s = openStream();
        if (scenario.text) {
          await s.chunk(responseOf({ content: { parts: [{ text: scenario.text }], role: 'model' }, index: 0 }, runningUsage(prompt, thoughts)));
          if (delay > 0) await sleep(delay);
        }
        if (ex.closed) return;
        await s.chunk(responseOf(finalCandidate(callParts), finalUsage(prompt, candidates, thoughts, 0)));
        await s.end();
        return;
      }
    }
  }

  return startSimulatorServer<GeminiScenario>({
    handle,
    internalError: (res) => sendJson(res, 500, googleError(500, defaultMessage(500), 'INTERNAL')),
    handler: () => ({ type: 'text' }),
  });
}
