/**
 * An OpenAI upstream over real HTTP on 127.0.0.1, speaking the Chat Completions wire format as
 * api.openai.com does, for adapter and end-to-end tests.
 *
 * Shapes follow the published API reference (chat completion object, chat completion chunk object,
 * `stream_options`) and recorded live traffic from 2025:
 * - every chunk carries `service_tier`, `system_fingerprint`, `logprobs: null` per choice, and an
 *   `obfuscation` padding string unless the request set `stream_options.include_obfuscation: false`;
 * - with `stream_options.include_usage` every chunk carries `"usage": null`, and one extra chunk with
 *   `choices: []` and the usage comes after the finish chunk, before `data: [DONE]`;
 * - a text stream opens with `delta: {role, content: "", refusal: null}`; a tool-call stream opens
 *   with `delta: {role, content: null, tool_calls: [<first call header>], refusal: null}` (no separate
 *   role chunk), then argument fragments, `finish_reason: "tool_calls"`;
 * - errors are `{"error":{"message","type","param","code"}}`, also as the first SSE event of a 200.
 *
 * Besides chat it serves the rest of the API under the same /v1, checked against the official SDK's
 * types (node_modules/openai/resources) and OpenAI's API reference:
 * - POST /completions (legacy text completions, stream and not);
 * - POST /embeddings (float or base64 vectors, `dimensions`; vectors come from `embeddingValues`);
 * - POST /images/generations, /images/edits, /images/variations (edits and variations multipart;
 *   every image is TINY_PNG, as b64_json or a URL this server serves under /sim-files/);
 * - POST /audio/speech (binary audio in several chunks; bytes from `speechAudio`);
 * - POST /audio/transcriptions, /audio/translations (multipart; a WAV's duration read from its header);
 * - POST /moderations (flags MODERATION_TRIGGERS words);
 * - POST /responses (the Responses API, its event stream included), GET and DELETE /responses/{id}.
 * Each checks the bearer key and validates its input with OpenAI's 400 bodies before it takes a
 * scenario from the queue, as chat does; see `Scenario` for what each scenario does where.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import {
  type BasicScenario,
  chunkText,
  embeddingValues,
  type Exchange,
  isMultipartFile,
  type MultipartFile,
  type MultipartPart,
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
import { pngSize } from './png.ts';
import { makeWav, parseWav } from './wav.ts';

export type { MultipartFile, MultipartPart, RecordedRequest };
export { embeddingValues, makeWav, parseWav };
export { makePng, PNG_SIGNATURE, pngSize } from './png.ts';

/**
 * What the simulator answers. The endpoints besides chat validate the request first, then:
 * - hang, raw, error: as on chat. stream_error_first: on a stream (completions, responses,
 *   gpt-4o transcriptions) an error first event in that stream's framing, else a 500.
 * - drop: afterChunks 0 cuts the connection before any answer; otherwise a stream (or the audio
 *   of /audio/speech) breaks off after that many pieces, and a JSON answer after half its bytes.
 * - stall: a stream goes silent after that many pieces; a JSON answer never comes (like hang).
 * - text: completions, responses and streamed transcriptions use text, chunks, tokens, finishReason,
 *   model and pacing as chat does; transcriptions/translations answer `text` as the transcript;
 *   embeddings take promptTokens (and model); images take promptTokens/completionTokens as the GPT
 *   image models' text/output tokens; speech splits its audio into `chunks` pieces (default 4)
 *   `chunkDelayMs` apart (default 25); firstByteDelayMs delays every answer.
 * - tool_call: Responses answers function_call items; other endpoints answer normally.
 */
export type Scenario =
  | ({
      type: 'text';
      text?: string;
      /** Stream: split the text into this many content chunks; default one per word (words keep their leading space, as OpenAI's tokens do). */
      chunks?: number;
      promptTokens?: number;
      /** Default: number of content chunks (plus reasoningTokens, which OpenAI counts inside completion_tokens). */
      completionTokens?: number;
      cachedTokens?: number;
      reasoningTokens?: number;
      /** Never send usage, even if asked (like OpenAI-compatible servers that ignore stream_options). */
      omitUsage?: boolean;
      finishReason?: string;
      /** Model name in the answer; default: the request's model. */
      model?: string;
    } & Pacing)
  | { type: 'tool_call'; calls: Array<{ id?: string; name: string; arguments: string }>; promptTokens?: number; completionTokens?: number; chunkDelayMs?: number }
  | {
      type: 'error';
      status: number;
      /** Sent as is (JSON-encoded unless a string); default: OpenAI error shape. */
      body?: unknown;
      message?: string;
      errorType?: string;
      code?: string | null;
      /** Extra response headers (lower-case names), e.g. `{ 'retry-after': '1' }` with a 429; they win over the defaults except content-length. */
      headers?: Record<string, string>;
    }
  /** 200 + text/event-stream whose first event is `data: {"error":{...}}`, then the stream ends. */
  | { type: 'stream_error_first'; message?: string }
  /** Stream: send N content chunks then destroy the socket (no [DONE]); afterChunks 0 = destroy before any response. Non-stream: part of the body. */
  | { type: 'drop'; afterChunks: number }
  /**
   * Stream: send the opening chunk and N content chunks, then go silent with the connection open (no
   * finish, no [DONE]) until the client aborts or close() runs, like `hang`. Non-stream: hang before the headers.
   */
  | { type: 'stall'; afterChunks: number }
  /**
   * Chat and Responses: both turns of an agent loop. While the request offers function tools and
   * carries no tool result yet (chat: no `tool` message; Responses: no `function_call_output` item),
   * answer a call to `name` (default: the first function tool) with `arguments` (default: a sample
   * object built from the tool's JSON schema); once a result is present, answer `text` (default:
   * "The tool returned: <the last result>"). Without tools (or with tool_choice "none") it answers the text.
   */
  | { type: 'tool_loop'; name?: string; arguments?: string; callId?: string; text?: string; promptTokens?: number; completionTokens?: number; chunkDelayMs?: number }
  | BasicScenario;

/**
 * `requests` holds auth failures, bad JSON, /models calls and image downloads too; the queue feeds
 * the POST endpoints (chat and the others) once their input passed validation; the default
 * `handler` answers `{ type: 'text' }`: "Hello from the simulator." on chat, the normal answer elsewhere.
 */
export interface OpenAISimulator extends SimulatorServer<Scenario> {
  /** Base URL including /v1, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
}

export const DEFAULT_TEXT = 'Hello from the simulator.';
const DEFAULT_PROMPT_TOKENS = 11;
const SYSTEM_FINGERPRINT = 'fp_5fd1a7b3c2';

type OpenAIErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };

function openAIError(message: string, type: string, param: string | null = null, code: string | null = null): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

/** The `type` OpenAI uses for each status when the scenario does not name one. */
function defaultErrorType(status: number): string {
  if (status === 429) return 'requests';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** The first `n` word tokens of DEFAULT_TEXT repeated: the content of a stream that breaks off (drop, stall). */
function fillerWords(n: number): string[] {
  const pool = splitWords(`${DEFAULT_TEXT} ${DEFAULT_TEXT} ${DEFAULT_TEXT}`);
  const words: string[] = [];
  for (let i = 0; i < n; i++) words.push(pool[i % pool.length]);
  return words;
}

/** Argument fragments the way OpenAI's tokenizer cuts JSON: `{"`, `city`, `":"`, `Paris`, `"}`. */
function splitArguments(args: string): string[] {
  const parts = args.match(/[A-Za-z0-9_]+|\s+|[^A-Za-z0-9_\s]+/g) ?? [];
  return parts.length > 0 ? parts : [args];
}

function usageObject(prompt: number, completion: number, cached: number, reasoning: number) {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

// ---------------------------------------------------------------------------------------------
// Errors in OpenAI's words
// ---------------------------------------------------------------------------------------------

/** "'a', 'b', and 'c'", as OpenAI lists supported values. */
function quotedList(values: readonly string[]): string {
  const q = values.map((v) => `'${v}'`);
  if (q.length <= 2) return q.join(' and ');
  return `${q.slice(0, -1).join(', ')}, and ${q.at(-1)}`;
}

const missingParameter = (name: string) => openAIError(`Missing required parameter: '${name}'.`, 'invalid_request_error', name, 'missing_required_parameter');
const invalidValue = (param: string, value: unknown, supported: readonly string[]) =>
  openAIError(`Invalid value: '${String(value)}'. Supported values are: ${quotedList(supported)}.`, 'invalid_request_error', param, 'invalid_value');
const unknownParameter = (name: string) => openAIError(`Unknown parameter: '${name}'.`, 'invalid_request_error', name, 'unknown_parameter');
const invalidType = (param: string, expected: string, got: unknown) =>
  openAIError(`Invalid type for '${param}': expected ${expected}, but got ${describeType(got)} instead.`, 'invalid_request_error', param, 'invalid_type');
const MODEL_REQUIRED = () => openAIError('you must provide a model parameter', 'invalid_request_error');
/** The whisper endpoints' validation error for a missing form field. */
const missingFormField = (name: string) => openAIError(`1 validation error for Request\nbody -> ${name}\n  field required (type=value_error.missing)`, 'invalid_request_error');

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a decimal';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v;
}

/** Checks an integer parameter against OpenAI's bounds; the error body, or undefined when fine. */
function integerBoundsError(param: string, value: unknown, min: number, max: number): OpenAIErrorBody | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) return invalidType(param, 'an integer', value);
  if (value < min) return openAIError(`Invalid '${param}': integer below minimum value. Expected a value >= ${min}, but got ${value} instead.`, 'invalid_request_error', param, 'integer_below_min_value');
  if (value > max) return openAIError(`Invalid '${param}': integer above maximum value. Expected a value <= ${max}, but got ${value} instead.`, 'invalid_request_error', param, 'integer_above_max_value');
  return undefined;
}

function stringTooLong(param: string, max: number, length: number): OpenAIErrorBody {
  return openAIError(
    `Invalid '${param}': string too long. Expected a string with maximum length ${max}, but got a string with length ${length} instead.`,
    'invalid_request_error',
    param,
    'string_above_max_length',
  );
}

/** A multipart text field as a number, or undefined when absent; NaN when not numeric. */
function formNumber(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.trim() === '') return Number.NaN;
  return Number(v);
}

/** Every file under one or more form field names, in order. */
function formFiles(body: Record<string, unknown>, ...names: string[]): MultipartFile[] {
  const out: MultipartFile[] = [];
  for (const name of names) {
    const v = body[name];
    for (const item of Array.isArray(v) ? v : v === undefined ? [] : [v]) if (isMultipartFile(item)) out.push(item);
  }
  return out;
}

/** A multipart field that should be text: the last value sent, or undefined. */
function formText(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  const last = Array.isArray(v) ? v.at(-1) : v;
  return typeof last === 'string' ? last : undefined;
}

/** The text values of a list field, sent as `name[]` (the SDK's way) or repeated `name`. */
function formList(body: Record<string, unknown>, name: string): string[] {
  const out: string[] = [];
  for (const key of [`${name}[]`, name]) {
    const v = body[key];
    for (const item of Array.isArray(v) ? v : v === undefined ? [] : [v]) if (typeof item === 'string') out.push(item);
  }
  return out;
}

/** Word tokens, the simulators' token count (at least 1 for non-empty text). */
function wordCount(text: string): number {
  return splitWords(text).length;
}

// ---------------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------------

/** A valid 1x1 opaque red PNG (70 bytes): what the simulator returns as every generated image. */
export const TINY_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==', 'base64');


const isGptImageModel = (model: string) => /^(gpt-image|chatgpt-image)/.test(model);
/** Request fields only the GPT image models know; their presence makes gpt-image-1 the default model of /images/generations. */
const GPT_IMAGE_ONLY_FIELDS = ['background', 'moderation', 'output_compression', 'output_format', 'partial_images', 'stream'];
const IMAGE_SIZES: Record<string, readonly string[]> = {
  'dall-e-2': ['256x256', '512x512', '1024x1024'],
  'dall-e-3': ['1024x1024', '1792x1024', '1024x1792'],
  gpt: ['1024x1024', '1536x1024', '1024x1536', 'auto'],
};
/** Output tokens per image of the GPT image models, by quality and size. */
const GPT_IMAGE_OUTPUT_TOKENS: Record<string, Record<string, number>> = {
  low: { square: 272, oblong: 408 },
  medium: { square: 1056, oblong: 1584 },
  high: { square: 4160, oblong: 6240 },
};
/** Input tokens counted per uploaded image by the GPT image models' edits. */
export const IMAGE_INPUT_TOKENS_PER_IMAGE = 194;

// ---------------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------------

/** Native vector length per OpenAI embedding model; other model names get 1536. */
export const OPENAI_EMBEDDING_DIMENSIONS: Record<string, number> = {
  'text-embedding-3-small': 1536,
  'text-embedding-3-large': 3072,
  'text-embedding-ada-002': 1536,
};

/** Float32 little-endian bytes of a vector, base64: OpenAI's `encoding_format: "base64"`. */
export function embeddingToBase64(values: readonly number[]): string {
  const buf = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => buf.writeFloatLE(v, i * 4));
  return buf.toString('base64');
}

/** Decodes `encoding_format: "base64"` back into numbers. */
export function embeddingFromBase64(b64: string): number[] {
  const buf = Buffer.from(b64, 'base64');
  const out: number[] = [];
  for (let i = 0; i + 4 <= buf.length; i += 4) out.push(buf.readFloatLE(i));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Moderations
// ---------------------------------------------------------------------------------------------

export const MODERATION_CATEGORIES = [
  'harassment',
  'harassment/threatening',
  'hate',
  'hate/threatening',
  'illicit',
  'illicit/violent',
  'self-harm',
  'self-harm/instructions',
  'self-harm/intent',
  'sexual',
  'sexual/minors',
  'violence',
  'violence/graphic',
] as const;
export type ModerationCategory = (typeof MODERATION_CATEGORIES)[number];
/** The categories omni-moderation also scores images for. */
const IMAGE_MODERATION_CATEGORIES = new Set<ModerationCategory>(['self-harm', 'self-harm/instructions', 'self-harm/intent', 'sexual', 'violence', 'violence/graphic']);

/**
 * Trigger words: an input (text, or an image URL) holding a word that starts with one of these keys
 * (case-insensitive: "killing" matches "kill") is flagged for the listed categories.
 */
export const MODERATION_TRIGGERS: Record<string, ModerationCategory[]> = {
  kill: ['violence'],
  gore: ['violence', 'violence/graphic'],
  hate: ['hate', 'harassment'],
  threaten: ['harassment', 'harassment/threatening'],
  suicide: ['self-harm', 'self-harm/intent'],
  bomb: ['illicit', 'illicit/violent', 'violence'],
  nsfw: ['sexual'],
};

function moderationHits(text: string): Set<ModerationCategory> {
  const hits = new Set<ModerationCategory>();
  for (const [word, categories] of Object.entries(MODERATION_TRIGGERS)) {
    if (new RegExp(`(^|[^a-z])${word}`, 'i').test(text)) for (const c of categories) hits.add(c);
  }
  return hits;
}

/** A small deterministic score in [0, 1) from a key, scaled. */
function hashScore(key: string, scale: number): number {
  return (createHash('sha256').update(key).digest().readUInt32LE(0) / 0x100000000) * scale;
}

// ---------------------------------------------------------------------------------------------
// Audio
// ---------------------------------------------------------------------------------------------

export const SPEECH_VOICES = ['alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'onyx', 'nova', 'sage', 'shimmer', 'verse', 'marin', 'cedar'] as const;
export const SPEECH_CONTENT_TYPES: Record<string, string> = {
  mp3: 'audio/mpeg',
  opus: 'audio/opus',
  aac: 'audio/aac',
  flac: 'audio/flac',
  wav: 'audio/wav',
  pcm: 'audio/pcm',
};
/** OpenAI's speech output rate: 24 kHz, 16-bit, mono (pcm is exactly these samples, raw). */
export const SPEECH_SAMPLE_RATE = 24_000;

export interface SpeechRequest {
  model: string;
  input: string;
  voice: string | { id: string };
  response_format?: string;
  speed?: number;
  instructions?: string;
}

/** Seconds of speech the simulator makes for a request: 0.4 s per word, divided by speed, at least 0.25 s, in 10 ms steps. */
export function speechSeconds(req: Pick<SpeechRequest, 'input' | 'speed'>): number {
  return Math.max(0.25, Math.round(((Math.max(1, wordCount(req.input)) * 0.4) / (req.speed ?? 1)) * 100) / 100);
}

/**
 * The bytes /audio/speech answers for a request: a function of every field, so tests can predict
 * them. wav is a real PCM WAV file and pcm its raw samples (a tone whose pitch depends on the
 * request); mp3, opus, aac and flac start with their format's magic bytes (MPEG frame sync, OggS,
 * ADTS sync, fLaC) followed by deterministic filler at a plausible bit rate, not decodable audio.
 */
export function speechAudio(req: SpeechRequest): Buffer {
  const format = req.response_format ?? 'mp3';
  const voice = typeof req.voice === 'string' ? req.voice : req.voice.id;
  const seed = createHash('sha256')
    .update(JSON.stringify([req.model, req.input, voice, format, req.speed ?? 1, req.instructions ?? '']))
    .digest();
  const seconds = speechSeconds(req);
  const frequency = 180 + (seed.readUInt16LE(0) % 420);
  if (format === 'wav') return makeWav(seconds, SPEECH_SAMPLE_RATE, { frequency });
  if (format === 'pcm') return Buffer.from(makeWav(seconds, SPEECH_SAMPLE_RATE, { frequency }).subarray(44));
  const bytesPerSecond: Record<string, number> = { mp3: 16_000, opus: 4_000, aac: 12_000, flac: 30_000 };
  const magic: Record<string, Buffer> = {
    mp3: Buffer.from([0xff, 0xf3, 0x64, 0xc4]),
    opus: Buffer.from('OggS\0\x02', 'latin1'),
    aac: Buffer.from([0xff, 0xf1, 0x60, 0x40]),
    flac: Buffer.from('fLaC', 'latin1'),
  };
  const length = Math.max(64, Math.round(seconds * (bytesPerSecond[format] ?? 16_000)));
  const out = Buffer.alloc(length);
  const head = magic[format] ?? magic.mp3;
  head.copy(out, 0);
  for (let offset = head.length, block = 0; offset < length; block++) {
    const bytes = createHash('sha256').update(seed).update(String(block)).digest();
    offset += bytes.copy(out, offset);
  }
  return out;
}

export const DEFAULT_TRANSCRIPT = 'The quick brown fox jumps over the lazy dog. It was a sunny day in the park.';
export const TRANSCRIPTION_FORMATS = ['json', 'text', 'srt', 'verbose_json', 'vtt'] as const;
/** The audio file extensions the whisper endpoints accept. */
export const AUDIO_EXTENSIONS = ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm'];
const LANGUAGE_NAMES: Record<string, string> = {
  en: 'english',
  de: 'german',
  fr: 'french',
  es: 'spanish',
  it: 'italian',
  pt: 'portuguese',
  nl: 'dutch',
  ja: 'japanese',
  zh: 'chinese',
  ko: 'korean',
  ru: 'russian',
  pl: 'polish',
};

export interface TranscriptSegment {
  id: number;
  seek: number;
  start: number;
  end: number;
  text: string;
  tokens: number[];
  temperature: number;
  avg_logprob: number;
  compression_ratio: number;
  no_speech_prob: number;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** Sentences spread over the duration in proportion to their length, as verbose_json segments. */
export function transcriptSegments(text: string, duration: number, temperature = 0): TranscriptSegment[] {
  const sentences = (text.match(/[^.!?]+[.!?]*/g) ?? [text]).map((s) => s.trim()).filter((s) => s.length > 0);
  const total = sentences.reduce((n, s) => n + s.length, 0) || 1;
  let done = 0;
  return sentences.map((s, id) => {
    const start = round2((duration * done) / total);
    done += s.length;
    const end = round2((duration * done) / total);
    const tokens = [50364, ...splitWords(s).map((w) => 100 + (createHash('sha256').update(w).digest().readUInt16LE(0) % 50_000)), 50364 + Math.round(end * 50)];
    return { id, seek: 0, start, end, text: ` ${s}`, tokens, temperature, avg_logprob: -0.25, compression_ratio: 1.2, no_speech_prob: 0.001 };
  });
}

/** Words spread evenly over the duration (timestamp_granularities[]=word). */
export function transcriptWords(text: string, duration: number): Array<{ word: string; start: number; end: number }> {
  const words = text.split(/\s+/).map((w) => w.replace(/^[^\p{L}\p{N}']+|[^\p{L}\p{N}']+$/gu, '')).filter((w) => w.length > 0);
  return words.map((word, i) => ({ word, start: round2((duration * i) / words.length), end: round2((duration * (i + 1)) / words.length) }));
}

function timestamp(seconds: number, separator: ',' | '.'): string {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms % 1000, 3)}`;
}

/** The srt body the whisper endpoints answer. */
export function toSrt(segments: readonly TranscriptSegment[]): string {
  return segments.map((s, i) => `${i + 1}\n${timestamp(s.start, ',')} --> ${timestamp(s.end, ',')}\n${s.text.trim()}\n\n`).join('');
}

/** The vtt body the whisper endpoints answer. */
export function toVtt(segments: readonly TranscriptSegment[]): string {
  return `WEBVTT\n\n${segments.map((s) => `${timestamp(s.start, '.')} --> ${timestamp(s.end, '.')}\n${s.text.trim()}\n\n`).join('')}`;
}

/**
 * An upload's duration in seconds: from the header of a WAV file (data chunk size / byte rate),
 * else estimated at 128 kbit/s; null when a .wav upload has no readable WAV header.
 */
export function audioDuration(file: MultipartFile): number | null {
  const wav = parseWav(file.data);
  if (wav) return wav.duration;
  if (/\.wav$/i.test(file.filename) || file.contentType === 'audio/wav' || file.contentType === 'audio/x-wav') return null;
  return file.data.length / 16_000;
}

// ---------------------------------------------------------------------------------------------
// Responses API
// ---------------------------------------------------------------------------------------------

/** A JSON value that fits a JSON schema, for tool_loop call arguments. */
function sampleValue(schema: any): unknown {
  if (!schema || typeof schema !== 'object') return null;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type.find((t: unknown) => t !== 'null') : schema.type;
  switch (type) {
    case 'string':
      return 'sample';
    case 'number':
    case 'integer':
      return 1;
    case 'boolean':
      return true;
    case 'array':
      return [];
    case 'object':
      return sampleObject(schema);
    default:
      return schema.properties ? sampleObject(schema) : null;
  }
}

function sampleObject(schema: any): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((schema?.properties ?? {}) as Record<string, unknown>)) out[k] = sampleValue(v);
  return out;
}

/** Text of a tool result: a string, or the text parts of a content array. */
function toolResultText(output: unknown): string {
  if (typeof output === 'string') return output;
  if (Array.isArray(output)) return output.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('');
  return JSON.stringify(output ?? null);
}

/** Tools as the Response object echoes them: function tools gain `description: null` and `strict: true` when absent. */
function echoTools(tools: unknown): unknown[] {
  if (!Array.isArray(tools)) return [];
  return tools.map((t) =>
    t && typeof t === 'object' && (t as any).type === 'function'
      ? { type: 'function', description: (t as any).description ?? null, name: (t as any).name, parameters: (t as any).parameters ?? null, strict: (t as any).strict ?? true }
      : t,
  );
}

const RESPONSES_ROLES = ['assistant', 'system', 'developer', 'user'];

/** The Responses API's output_text content part. */
function outputText(text: string) {
  return { type: 'output_text', annotations: [], logprobs: [], text };
}

/** Legacy completion prompts with their token counts (word tokens of a string, the length of a token array); null when malformed. */
function completionPrompts(prompt: unknown): Array<{ text: string; tokens: number }> | null {
  const isTokens = (x: unknown): x is number[] => Array.isArray(x) && x.length > 0 && x.every((t) => Number.isInteger(t));
  if (prompt === null) return [{ text: '', tokens: 1 }]; // <|endoftext|>
  if (typeof prompt === 'string') return [{ text: prompt, tokens: Math.max(1, wordCount(prompt)) }];
  if (!Array.isArray(prompt) || prompt.length === 0) return null;
  if (prompt.every((p) => typeof p === 'string')) return prompt.map((p: string) => ({ text: p, tokens: Math.max(1, wordCount(p)) }));
  if (isTokens(prompt)) return [{ text: '', tokens: prompt.length }];
  if (prompt.every(isTokens)) return prompt.map((p: number[]) => ({ text: '', tokens: p.length }));
  return null;
}

/** Embedding inputs: strings and token arrays, one per vector; null when malformed or empty. */
function embeddingInputs(input: unknown): Array<string | number[]> | null {
  const isTokens = (x: unknown): x is number[] => Array.isArray(x) && x.length > 0 && x.every((t) => Number.isInteger(t) && (t as number) >= 0);
  if (typeof input === 'string') return input.length > 0 ? [input] : null;
  if (!Array.isArray(input) || input.length === 0) return null;
  if (input.every((x) => typeof x === 'string')) return input.every((x) => x.length > 0) ? input : null;
  if (isTokens(input)) return [input];
  if (input.every(isTokens)) return input;
  return null;
}

type TextScenario = Extract<Scenario, { type: 'text' }>;
type ToolLoopScenario = Extract<Scenario, { type: 'tool_loop' }>;

/** A tool_loop turn: a call while tools are offered and no result came back yet, else the closing text. */
function resolveToolLoop(s: ToolLoopScenario, tools: Array<{ name: string; parameters: unknown }>, results: unknown[]): Scenario {
  if (tools.length > 0 && results.length === 0) {
    const name = s.name ?? tools[0].name;
    const tool = tools.find((t) => t.name === name);
    return {
      type: 'tool_call',
      calls: [{ id: s.callId, name, arguments: s.arguments ?? JSON.stringify(sampleObject(tool?.parameters)) }],
      promptTokens: s.promptTokens,
      completionTokens: s.completionTokens,
      chunkDelayMs: s.chunkDelayMs,
    };
  }
  const text = s.text ?? (results.length > 0 ? `The tool returned: ${toolResultText(results.at(-1))}` : DEFAULT_TEXT);
  return { type: 'text', text, promptTokens: s.promptTokens, completionTokens: s.completionTokens, chunkDelayMs: s.chunkDelayMs };
}

type Endpoint =
  | 'completions'
  | 'embeddings'
  | 'images.generations'
  | 'images.edits'
  | 'images.variations'
  | 'audio.speech'
  | 'audio.transcriptions'
  | 'audio.translations'
  | 'moderations'
  | 'responses';

/** POST routes besides chat, by path. */
const ENDPOINTS = new Map<string, Endpoint>([
  ['/v1/completions', 'completions'],
  ['/v1/embeddings', 'embeddings'],
  ['/v1/images/generations', 'images.generations'],
  ['/v1/images/edits', 'images.edits'],
  ['/v1/images/variations', 'images.variations'],
  ['/v1/audio/speech', 'audio.speech'],
  ['/v1/audio/transcriptions', 'audio.transcriptions'],
  ['/v1/audio/translations', 'audio.translations'],
  ['/v1/moderations', 'moderations'],
  ['/v1/responses', 'responses'],
]);

export async function startOpenAISimulator(opts: { apiKey?: string; models?: string[] } = {}): Promise<OpenAISimulator> {
  const models = opts.models ?? ['gpt-4o-mini'];
  /** Host root (http://127.0.0.1:PORT), known once the server listens; image URLs point at it. */
  let host = '';
  /** Images served at /sim-files/<name> for `response_format: "url"`. */
  const files = new Map<string, { contentType: string; data: Buffer }>();
  /** Stored Responses (store !== false), for GET /responses/{id} and previous_response_id. */
  const storedResponses = new Map<string, { response: Record<string, any>; input: unknown[] }>();

  async function handle(ex: Exchange<Scenario>) {
    const { req, res, rec } = ex;
    const method = rec.method.toUpperCase();
    const pathname = new URL(rec.path, 'http://localhost').pathname.replace(/\/+$/, '');

    // Azure OpenAI: /openai/deployments/{deployment}/chat/completions?api-version=..., key in `api-key`.
    const azure = method === 'POST' && /^\/openai\/deployments\/[^/]+\/chat\/completions$/.test(pathname);
    if (azure && !new URL(rec.path, 'http://localhost').searchParams.get('api-version')) {
      sendJson(res, 404, { error: { code: '404', message: 'Resource not found' } });
      return;
    }
    // Generated images behind `url`: public, like the signed blob-storage URLs OpenAI hands out.
    const fileMatch = method === 'GET' ? /^\/sim-files\/([^/]+)$/.exec(pathname) : null;
    if (fileMatch) {
      const file = files.get(fileMatch[1]);
      if (!file) {
        const text = '<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.</Message></Error>';
        res.writeHead(404, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      res.writeHead(200, { 'content-type': file.contentType, 'content-length': file.data.length, 'x-ms-blob-type': 'BlockBlob' });
      res.end(file.data);
      return;
    }
    const isChat = (method === 'POST' && pathname === '/v1/chat/completions') || azure;
    const isModels = method === 'GET' && pathname === '/v1/models';
    const modelMatch = method === 'GET' ? /^\/v1\/models\/(.+)$/.exec(pathname) : null;
    const endpoint = method === 'POST' ? ENDPOINTS.get(pathname) : undefined;
    const responseMatch = method === 'GET' || method === 'DELETE' ? /^\/v1\/responses\/([^/]+)$/.exec(pathname) : null;
    if (!isChat && !isModels && !modelMatch && !endpoint && !responseMatch) {
      sendJson(res, 404, openAIError(`Invalid URL (${method} ${pathname || '/'})`, 'invalid_request_error'));
      return;
    }

    if (opts.apiKey !== undefined) {
      const auth = req.headers.authorization;
      const azureKey = req.headers['api-key'];
      const token = azure
        ? (typeof azureKey === 'string' ? azureKey : '')
        : typeof auth === 'string' && /^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, '').trim() : '';
      if (!token) {
        sendJson(
          res,
          401,
          openAIError(
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
            'invalid_request_error',
          ),
        );
        return;
      }
      if (token !== opts.apiKey) {
        // Quotes the whole presented key on purpose: gateways must scrub upstream messages.
        sendJson(res, 401, openAIError(`Incorrect API key provided: ${token}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', null, 'invalid_api_key'));
        return;
      }
    }

    if (isModels) {
      sendJson(res, 200, { object: 'list', data: models.map(modelObject) });
      return;
    }
    if (modelMatch) {
      const id = decodeURIComponent(modelMatch[1]);
      if (models.includes(id)) sendJson(res, 200, modelObject(id));
      else sendJson(res, 404, openAIError(`The model '${id}' does not exist`, 'invalid_request_error', 'model', 'model_not_found'));
      return;
    }
    if (responseMatch) {
      const id = decodeURIComponent(responseMatch[1]);
      const stored = storedResponses.get(id);
      if (!stored) sendJson(res, 404, openAIError(`Response with id '${id}' not found.`, 'invalid_request_error'));
      else if (method === 'DELETE') {
        storedResponses.delete(id);
        sendJson(res, 200, { id, object: 'response', deleted: true });
      } else sendJson(res, 200, stored.response);
      return;
    }
    if (endpoint) {
      await endpointHandlers[endpoint](ex);
      return;
    }

    // POST /v1/chat/completions
    const body = requireJsonObject(ex);
    if (!body) return;
    if (typeof body.model !== 'string' || body.model.length === 0) {
      sendJson(res, 400, openAIError('you must provide a model parameter', 'invalid_request_error'));
      return;
    }
    if (!Array.isArray(body.messages)) {
      sendJson(res, 400, openAIError("Missing required parameter: 'messages'.", 'invalid_request_error', 'messages', 'missing_required_parameter'));
      return;
    }

    await answerChat(ex, ex.nextScenario());
  }

  /** The body of a JSON endpoint, or undefined once the 400 OpenAI answers for a missing, broken or non-object body has gone out. */
  function requireJsonObject(ex: Exchange<Scenario>): Record<string, any> | undefined {
    const { res, rec, parseFailed } = ex;
    if (parseFailed || rec.body === undefined || rec.multipart !== undefined) {
      sendJson(
        res,
        400,
        openAIError(
          "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
          'invalid_request_error',
        ),
      );
      return undefined;
    }
    const body = rec.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      sendJson(res, 400, openAIError(`Invalid type for request body: expected an object, but got ${Array.isArray(body) ? 'an array' : typeof body} instead.`, 'invalid_request_error', null, 'invalid_type'));
      return undefined;
    }
    return body as Record<string, any>;
  }

  /** The fields of a multipart endpoint, or undefined once the 400 for another content type or a broken form has gone out. */
  function requireMultipart(ex: Exchange<Scenario>): Record<string, any> | undefined {
    const { res, rec, req } = ex;
    const type = req.headers['content-type'];
    if (typeof type !== 'string' || !/^\s*multipart\/form-data\s*(;|$)/i.test(type)) {
      sendJson(res, 400, openAIError(`Invalid Content-Type header (${type ?? 'none'}), expected multipart/form-data.`, 'invalid_request_error'));
      return undefined;
    }
    if (rec.multipart === undefined) {
      sendJson(res, 400, openAIError('Could not parse multipart form', 'invalid_request_error'));
      return undefined;
    }
    return rec.body as Record<string, any>;
  }

  function modelObject(id: string) {
    return { id, object: 'model', created: 1721172741, owned_by: 'system' };
  }

  function baseHeaders(): Record<string, string> {
    return {
      'x-request-id': `req_${randomBytes(16).toString('hex')}`,
      'openai-version': '2020-10-01',
      'openai-processing-ms': '42',
    };
  }

  function sendJson(res: ServerResponse, status: number, payload: unknown) {
    if (res.destroyed) return;
    const text = JSON.stringify(payload);
    res.writeHead(status, { ...baseHeaders(), 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  async function answerChat(ex: Exchange<Scenario>, scenario: Scenario) {
    if (playBasicScenario(ex, scenario)) return;
    const { res, rec } = ex;
    const body = rec.body as Record<string, any>;
    if (scenario.type === 'tool_loop') {
      const tools = (Array.isArray(body.tools) && body.tool_choice !== 'none' ? body.tools : [])
        .filter((t: any) => t?.type === 'function' && typeof t.function?.name === 'string')
        .map((t: any) => ({ name: t.function.name as string, parameters: t.function.parameters }));
      const results = body.messages.filter((m: any) => m?.role === 'tool').map((m: any) => m.content);
      scenario = resolveToolLoop(scenario, tools, results);
    }
    const stream = body.stream === true;
    const includeUsage = stream && body.stream_options?.include_usage === true;
    const obfuscate = stream && body.stream_options?.include_obfuscation !== false;
    const id = `chatcmpl-${randomString(29)}`;
    const created = Math.floor(Date.now() / 1000);

    switch (scenario.type) {
      case 'error': {
        sendScenarioError(ex, scenario);
        return;
      }

      case 'stream_error_first': {
        if (ex.closed) return;
        res.writeHead(200, { ...baseHeaders(), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
        const err = openAIError(scenario.message ?? 'The server had an error while processing your request. Sorry about that!', 'server_error');
        await write(res, `data: ${JSON.stringify(err)}\n\n`);
        res.end();
        return;
      }

      case 'drop': {
        if (scenario.afterChunks <= 0) {
          ex.destroy();
          return;
        }
        const words = fillerWords(scenario.afterChunks);
        if (!stream) {
          // Headers promise a whole body; only part of it arrives.
          const full = JSON.stringify(completionObject(id, created, body.model, words.join(''), undefined, 'stop', usageObject(DEFAULT_PROMPT_TOKENS, words.length, 0, 0)));
          res.writeHead(200, { ...baseHeaders(), 'content-type': 'application/json', 'content-length': Buffer.byteLength(full) });
          await write(res, full.slice(0, Math.floor(full.length / 2)));
          ex.destroy();
          return;
        }
        const chunk = makeChunker(id, created, body.model, includeUsage, obfuscate);
        res.writeHead(200, { ...baseHeaders(), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
        await write(res, chunk({ role: 'assistant', content: '', refusal: null }, null));
        for (const w of words) {
          if (ex.closed) return;
          await write(res, chunk({ content: w }, null));
        }
        ex.destroy();
        return;
      }

      case 'stall': {
        // Non-stream: nothing at all, as `hang`; the request stays open until the client gives up.
        if (!stream || ex.closed) return;
        const chunk = makeChunker(id, created, body.model, includeUsage, obfuscate);
        res.writeHead(200, { ...baseHeaders(), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
        res.flushHeaders();
        await write(res, chunk({ role: 'assistant', content: '', refusal: null }, null));
        for (const w of fillerWords(scenario.afterChunks)) {
          if (ex.closed) return;
          await write(res, chunk({ content: w }, null));
        }
        // Then silence: the response is left open (no end, no destroy), so only the client's abort or close() settles it.
        return;
      }

      case 'text': {
        const text = scenario.text ?? DEFAULT_TEXT;
        const pieces = chunkText(text, scenario.chunks);
        const reasoning = scenario.reasoningTokens ?? 0;
        const usage = scenario.omitUsage
          ? undefined
          : usageObject(scenario.promptTokens ?? DEFAULT_PROMPT_TOKENS, scenario.completionTokens ?? pieces.length + reasoning, scenario.cachedTokens ?? 0, reasoning);
        const model = scenario.model ?? body.model;
        const finish = scenario.finishReason ?? 'stop';
        const delay = scenario.chunkDelayMs ?? 0;
        if (scenario.firstByteDelayMs) await sleep(scenario.firstByteDelayMs);
        if (ex.closed) return;

        if (!stream) {
          if (delay > 0) await sleep(delay * pieces.length);
          if (ex.closed) return;
          sendJson(res, 200, completionObject(id, created, model, text, undefined, finish, usage));
          return;
        }

        const chunk = makeChunker(id, created, model, includeUsage && usage !== undefined, obfuscate);
        res.writeHead(200, { ...baseHeaders(), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
        res.flushHeaders();
        await write(res, chunk({ role: 'assistant', content: '', refusal: null }, null));
        for (const piece of pieces) {
          if (delay > 0) await sleep(delay);
          if (ex.closed) return;
          await write(res, chunk({ content: piece }, null));
        }
        if (delay > 0) await sleep(delay);
        if (ex.closed) return;
        await write(res, chunk({}, finish));
        if (includeUsage && usage) await write(res, chunk(null, null, usage));
        if (ex.closed) return;
        await write(res, 'data: [DONE]\n\n');
        res.end();
        return;
      }

      case 'tool_call': {
        const calls = scenario.calls.map((c) => ({ id: c.id ?? `call_${randomString(24)}`, name: c.name, arguments: c.arguments, fragments: splitArguments(c.arguments) }));
        const fragmentCount = calls.reduce((n, c) => n + c.fragments.length, 0);
        const usage = usageObject(scenario.promptTokens ?? DEFAULT_PROMPT_TOKENS, scenario.completionTokens ?? fragmentCount + calls.length * 5, 0, 0);
        const delay = scenario.chunkDelayMs ?? 0;
        if (ex.closed) return;

        if (!stream) {
          if (delay > 0) await sleep(delay * fragmentCount);
          if (ex.closed) return;
          const toolCalls = calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
          sendJson(res, 200, completionObject(id, created, body.model, null, toolCalls, 'tool_calls', usage));
          return;
        }

        const chunk = makeChunker(id, created, body.model, includeUsage, obfuscate);
        res.writeHead(200, { ...baseHeaders(), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
        res.flushHeaders();
        for (const [index, c] of calls.entries()) {
          const header = { index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } };
          // OpenAI folds the role into the first tool-call chunk instead of sending a role-only chunk.
          const delta = index === 0 ? { role: 'assistant', content: null, tool_calls: [header], refusal: null } : { tool_calls: [header] };
          if (index > 0 && delay > 0) await sleep(delay);
          if (ex.closed) return;
          await write(res, chunk(delta, null));
          for (const fragment of c.fragments) {
            if (delay > 0) await sleep(delay);
            if (ex.closed) return;
            await write(res, chunk({ tool_calls: [{ index, function: { arguments: fragment } }] }, null));
          }
        }
        if (calls.length === 0) await write(res, chunk({ role: 'assistant', content: null, refusal: null }, null));
        if (delay > 0) await sleep(delay);
        if (ex.closed) return;
        await write(res, chunk({}, 'tool_calls'));
        if (includeUsage) await write(res, chunk(null, null, usage));
        if (ex.closed) return;
        await write(res, 'data: [DONE]\n\n');
        res.end();
        return;
      }
    }
  }

  function completionObject(
    id: string,
    created: number,
    model: string,
    content: string | null,
    toolCalls: unknown[] | undefined,
    finishReason: string,
    usage: ReturnType<typeof usageObject> | undefined,
  ) {
    const message: Record<string, unknown> = { role: 'assistant', content };
    if (toolCalls) message.tool_calls = toolCalls;
    message.refusal = null;
    message.annotations = [];
    return {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
      ...(usage ? { usage } : {}),
      service_tier: 'default',
      system_fingerprint: SYSTEM_FINGERPRINT,
    };
  }

  /**
   * Builds `data: <chunk>\n\n`. `delta === null` makes the usage-only chunk (`choices: []`).
   * With include_usage every other chunk carries `"usage": null`, as OpenAI sends.
   */
  function makeChunker(id: string, created: number, model: string, includeUsage: boolean, obfuscate: boolean) {
    return (delta: Record<string, unknown> | null, finishReason: string | null, usage?: ReturnType<typeof usageObject>): string => {
      const chunk: Record<string, unknown> = {
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        service_tier: 'default',
        system_fingerprint: SYSTEM_FINGERPRINT,
        choices: delta === null ? [] : [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      };
      if (includeUsage) chunk.usage = usage ?? null;
      if (obfuscate) chunk.obfuscation = randomString(1 + (randomBytes(1)[0] % 14));
      return `data: ${JSON.stringify(chunk)}\n\n`;
    };
  }


  // -------------------------------------------------------------------------------------------
  // What the endpoints besides chat share
  // -------------------------------------------------------------------------------------------

  function sendScenarioError(ex: Exchange<Scenario>, scenario: Extract<Scenario, { type: 'error' }>) {
    if (ex.closed) return;
    const payload =
      scenario.body !== undefined
        ? scenario.body
        : openAIError(
            scenario.message ?? (scenario.status >= 500 ? 'The server had an error while processing your request. Sorry about that!' : 'Simulated error'),
            scenario.errorType ?? defaultErrorType(scenario.status),
            null,
            scenario.code === undefined ? (scenario.status === 429 ? 'rate_limit_exceeded' : null) : scenario.code,
          );
    const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
    ex.res.writeHead(scenario.status, { ...baseHeaders(), 'content-type': 'application/json', ...scenario.headers, 'content-length': Buffer.byteLength(text) });
    ex.res.end(text);
  }

  /**
   * Plays what every endpoint besides chat answers alike, and says whether the answer is done:
   * hang, raw, error; drop with afterChunks 0; stall and stream_error_first when the answer is not
   * a stream (stall: nothing at all; stream_error_first: a 500); a text scenario's firstByteDelayMs.
   */
  async function playCommon(ex: Exchange<Scenario>, scenario: Scenario, streaming: boolean): Promise<boolean> {
    if (playBasicScenario(ex, scenario)) return true;
    switch (scenario.type) {
      case 'error':
        sendScenarioError(ex, scenario);
        return true;
      case 'stream_error_first':
        if (streaming) return false;
        sendJson(ex.res, 500, openAIError(scenario.message ?? 'The server had an error while processing your request. Sorry about that!', 'server_error'));
        return true;
      case 'drop':
        if (scenario.afterChunks > 0) return false;
        ex.destroy();
        return true;
      case 'stall':
        return !streaming;
      case 'text':
        if (scenario.firstByteDelayMs) await sleep(scenario.firstByteDelayMs);
        return ex.closed;
      default:
        return ex.closed;
    }
  }

  /** Headers promising the whole JSON body, half of it, then the connection cut (a drop mid-body). */
  async function sendHalfJson(ex: Exchange<Scenario>, payload: unknown) {
    const full = JSON.stringify(payload);
    ex.res.writeHead(200, { ...baseHeaders(), 'content-type': 'application/json', 'content-length': Buffer.byteLength(full) });
    await write(ex.res, full.slice(0, Math.floor(full.length / 2)));
    ex.destroy();
  }

  /** The final JSON answer of a non-stream endpoint: after a text scenario's chunkDelayMs, cut in half by a drop. */
  async function finishJson(ex: Exchange<Scenario>, scenario: Scenario, payload: unknown) {
    if (scenario.type === 'text' && scenario.chunkDelayMs) await sleep(scenario.chunkDelayMs);
    if (ex.closed) return;
    if (scenario.type === 'drop') await sendHalfJson(ex, payload);
    else sendJson(ex.res, 200, payload);
  }

  function sendText(res: ServerResponse, status: number, text: string, contentType: string) {
    if (res.destroyed) return;
    res.writeHead(status, { ...baseHeaders(), 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  function openSse(res: ServerResponse) {
    res.writeHead(200, { ...baseHeaders(), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.flushHeaders();
  }

  const textScenarioOf = (s: Scenario): TextScenario | undefined => (s.type === 'text' ? s : undefined);

  // -------------------------------------------------------------------------------------------
  // POST /v1/completions
  // -------------------------------------------------------------------------------------------

  async function completions(ex: Exchange<Scenario>) {
    const body = requireJsonObject(ex);
    if (!body) return;
    if (typeof body.model !== 'string' || body.model.length === 0) return sendJson(ex.res, 400, MODEL_REQUIRED());
    if (body.prompt === undefined) return sendJson(ex.res, 400, missingParameter('prompt'));
    const prompts = completionPrompts(body.prompt);
    if (!prompts) return sendJson(ex.res, 400, invalidType('prompt', 'one of a string, array of strings, array of integers, or array of arrays of integers', body.prompt));
    const nError = integerBoundsError('n', body.n, 1, 128);
    if (nError) return sendJson(ex.res, 400, nError);
    await answerCompletions(ex, ex.nextScenario(), body, prompts);
  }

  async function answerCompletions(ex: Exchange<Scenario>, scenario: Scenario, body: Record<string, any>, prompts: Array<{ text: string; tokens: number }>) {
    const { res } = ex;
    const stream = body.stream === true;
    const includeUsage = stream && body.stream_options?.include_usage === true;
    if (await playCommon(ex, scenario, stream)) return;
    if (scenario.type === 'stream_error_first') {
      openSse(res);
      await write(res, `data: ${JSON.stringify(openAIError(scenario.message ?? 'The server had an error while processing your request. Sorry about that!', 'server_error'))}\n\n`);
      res.end();
      return;
    }
    const t = textScenarioOf(scenario);
    const cut = scenario.type === 'drop' || scenario.type === 'stall' ? scenario : undefined;
    let pieces = cut ? fillerWords(cut.afterChunks) : chunkText(t?.text ?? DEFAULT_TEXT, t?.chunks);
    let finish = t?.finishReason ?? 'stop';
    if (!cut && typeof body.max_tokens === 'number' && body.max_tokens >= 0 && pieces.length > body.max_tokens) {
      pieces = pieces.slice(0, body.max_tokens);
      finish = t?.finishReason ?? 'length';
    }
    const generated = pieces.join('');
    const n = typeof body.n === 'number' ? body.n : 1;
    const choiceCount = prompts.length * n;
    const echoed = (index: number) => (body.echo === true ? prompts[Math.floor(index / n)].text : '');
    const promptTokens = t?.promptTokens ?? prompts.reduce((sum, p) => sum + p.tokens, 0);
    const completionTokens = t?.completionTokens ?? pieces.length * choiceCount;
    const usage = t?.omitUsage ? undefined : { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
    const model = t?.model ?? body.model;
    const id = `cmpl-${randomString(29)}`;
    const created = Math.floor(Date.now() / 1000);
    const delay = t?.chunkDelayMs ?? 0;
    const indexes = Array.from({ length: choiceCount }, (_, i) => i);

    if (!stream) {
      const payload = {
        id,
        object: 'text_completion',
        created,
        model,
        choices: indexes.map((index) => ({ text: echoed(index) + generated, index, logprobs: null, finish_reason: finish })),
        ...(usage ? { usage } : {}),
      };
      if (delay > 0) await sleep(delay * pieces.length);
      if (ex.closed) return;
      if (scenario.type === 'drop') await sendHalfJson(ex, payload);
      else sendJson(res, 200, payload);
      return;
    }

    const withUsage = includeUsage && usage !== undefined;
    const chunk = (choices: unknown[], finalUsage?: unknown) =>
      `data: ${JSON.stringify({ id, object: 'text_completion', created, choices, model, ...(withUsage ? { usage: finalUsage ?? null } : {}) })}\n\n`;
    openSse(res);
    if (body.echo === true) {
      for (const index of indexes) if (echoed(index)) await write(res, chunk([{ text: echoed(index), index, logprobs: null, finish_reason: null }]));
    }
    for (const piece of pieces) {
      if (delay > 0) await sleep(delay);
      for (const index of indexes) {
        if (ex.closed) return;
        await write(res, chunk([{ text: piece, index, logprobs: null, finish_reason: null }]));
      }
    }
    if (scenario.type === 'drop') return ex.destroy();
    if (scenario.type === 'stall') return; // silence, the connection left open
    if (delay > 0) await sleep(delay);
    for (const index of indexes) {
      if (ex.closed) return;
      await write(res, chunk([{ text: '', index, logprobs: null, finish_reason: finish }]));
    }
    if (withUsage) await write(res, chunk([], usage));
    if (ex.closed) return;
    await write(res, 'data: [DONE]\n\n');
    res.end();
  }

  // -------------------------------------------------------------------------------------------
  // POST /v1/embeddings
  // -------------------------------------------------------------------------------------------

  async function embeddings(ex: Exchange<Scenario>) {
    const body = requireJsonObject(ex);
    if (!body) return;
    if (typeof body.model !== 'string' || body.model.length === 0) return sendJson(ex.res, 400, MODEL_REQUIRED());
    if (body.input === undefined) return sendJson(ex.res, 400, missingParameter('input'));
    const inputs = embeddingInputs(body.input);
    if (!inputs) return sendJson(ex.res, 400, openAIError("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", 'invalid_request_error'));
    if (inputs.length > 2048) return sendJson(ex.res, 400, openAIError(`'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.`, 'invalid_request_error'));
    const format = body.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64') return sendJson(ex.res, 400, invalidValue('encoding_format', format, ['float', 'base64']));
    const native = OPENAI_EMBEDDING_DIMENSIONS[body.model] ?? 1536;
    if (body.dimensions !== undefined && body.dimensions !== null) {
      if (body.model === 'text-embedding-ada-002') return sendJson(ex.res, 400, openAIError('This model does not support specifying dimensions.', 'invalid_request_error'));
      const dimError = integerBoundsError('dimensions', body.dimensions, 1, native);
      if (dimError) return sendJson(ex.res, 400, dimError);
    }
    const dims = typeof body.dimensions === 'number' ? body.dimensions : native;

    const scenario = ex.nextScenario();
    if (await playCommon(ex, scenario, false)) return;
    const t = textScenarioOf(scenario);
    const promptTokens = t?.promptTokens ?? inputs.reduce((sum, x) => sum + (typeof x === 'string' ? wordCount(x) : x.length), 0);
    const data = inputs.map((x, index) => {
      const values = embeddingValues(x, dims);
      return { object: 'embedding', index, embedding: format === 'base64' ? embeddingToBase64(values) : values };
    });
    const model = t?.model ?? (body.model === 'text-embedding-ada-002' ? 'text-embedding-ada-002-v2' : body.model);
    await finishJson(ex, scenario, { object: 'list', data, model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } });
  }

  // -------------------------------------------------------------------------------------------
  // POST /v1/images/generations, /v1/images/edits, /v1/images/variations
  // -------------------------------------------------------------------------------------------

  interface ImageJob {
    kind: 'generation' | 'edit' | 'variation';
    model: string;
    prompt: string;
    n: number;
    size: string;
    quality: string;
    responseFormat: 'url' | 'b64_json';
    stream: boolean;
    partialImages: number;
    background: string;
    outputFormat: string;
    inputImages: number;
  }

  /** Checks the options every image endpoint shares; the error, or the job. */
  function imageOptions(
    body: Record<string, any>,
    kind: ImageJob['kind'],
    model: string,
    fields: { n: unknown; size: unknown; quality: unknown; responseFormat: unknown; stream: unknown; partialImages: unknown },
    inputImages: number,
  ): OpenAIErrorBody | ImageJob {
    const gpt = isGptImageModel(model);
    const family = gpt ? 'gpt' : model === 'dall-e-3' ? 'dall-e-3' : 'dall-e-2';
    const prompt = typeof body.prompt === 'string' ? body.prompt : '';
    const maxPrompt = family === 'gpt' ? 32_000 : family === 'dall-e-3' ? 4000 : 1000;
    if (prompt.length > maxPrompt) return stringTooLong('prompt', maxPrompt, prompt.length);
    const n = fields.n === undefined || fields.n === null ? 1 : fields.n;
    const nError = integerBoundsError('n', n, 1, family === 'dall-e-3' ? 1 : 10);
    if (nError) return nError;
    if (gpt && fields.responseFormat !== undefined && fields.responseFormat !== null) return unknownParameter('response_format');
    const responseFormat = (fields.responseFormat ?? (gpt ? 'b64_json' : 'url')) as string;
    if (responseFormat !== 'url' && responseFormat !== 'b64_json') return invalidValue('response_format', responseFormat, ['url', 'b64_json']);
    const size = (fields.size ?? (gpt ? 'auto' : '1024x1024')) as string;
    const sizes = IMAGE_SIZES[family];
    const freeSize = /^gpt-image-2/.test(model) && /^(\d+)x(\d+)$/.test(size) && size.split('x').every((d) => Number(d) % 16 === 0);
    if (!sizes.includes(size) && !freeSize) return invalidValue('size', size, sizes);
    const qualities = family === 'gpt' ? ['low', 'medium', 'high', 'auto'] : family === 'dall-e-3' ? ['standard', 'hd', 'auto'] : ['standard', 'auto'];
    const quality = (fields.quality ?? 'auto') as string;
    if (!qualities.includes(quality)) return invalidValue('quality', quality, qualities);
    if (family === 'dall-e-3' && body.style !== undefined && body.style !== null && body.style !== 'vivid' && body.style !== 'natural') return invalidValue('style', body.style, ['vivid', 'natural']);
    const stream = fields.stream === true || fields.stream === 'true';
    if (stream && !gpt) return openAIError(`Streaming is not supported for model '${model}'.`, 'invalid_request_error', 'stream', 'unsupported_value');
    const partialImages = Number(fields.partialImages ?? 0);
    const partialError = integerBoundsError('partial_images', partialImages, 0, 3);
    if (partialError) return partialError;
    return {
      kind,
      model,
      prompt,
      n: n as number,
      size: size === 'auto' ? '1024x1024' : size,
      quality: quality === 'auto' ? (gpt ? 'medium' : 'standard') : quality,
      responseFormat,
      stream,
      partialImages,
      background: typeof body.background === 'string' && body.background !== 'auto' ? body.background : 'opaque',
      outputFormat: typeof body.output_format === 'string' ? body.output_format : 'png',
      inputImages,
    };
  }

  async function imagesGenerations(ex: Exchange<Scenario>) {
    const body = requireJsonObject(ex);
    if (!body) return;
    if (typeof body.prompt !== 'string' || body.prompt.length === 0) return sendJson(ex.res, 400, missingParameter('prompt'));
    const model = typeof body.model === 'string' ? body.model : GPT_IMAGE_ONLY_FIELDS.some((f) => body[f] !== undefined && body[f] !== null) ? 'gpt-image-1' : 'dall-e-2';
    const job = imageOptions(body, 'generation', model, { n: body.n, size: body.size, quality: body.quality, responseFormat: body.response_format, stream: body.stream, partialImages: body.partial_images }, 0);
    if ('error' in job) return sendJson(ex.res, 400, job);
    await answerImages(ex, ex.nextScenario(), job);
  }

  /** Multipart image options arrive as text; numbers are parsed like OpenAI parses them. */
  function formImageFields(body: Record<string, any>) {
    const n = formNumber(formText(body, 'n'));
    const partial = formNumber(formText(body, 'partial_images'));
    return {
      n: n === undefined ? undefined : Number.isNaN(n) ? formText(body, 'n') : n,
      size: formText(body, 'size'),
      quality: formText(body, 'quality'),
      responseFormat: formText(body, 'response_format'),
      stream: formText(body, 'stream'),
      partialImages: partial,
      fields: {
        prompt: formText(body, 'prompt'),
        style: formText(body, 'style'),
        background: formText(body, 'background'),
        output_format: formText(body, 'output_format'),
      },
    };
  }

  async function imagesEdits(ex: Exchange<Scenario>) {
    const body = requireMultipart(ex);
    if (!body) return;
    const images = formFiles(body, 'image', 'image[]');
    if (images.length === 0) return sendJson(ex.res, 400, missingParameter('image'));
    const prompt = formText(body, 'prompt');
    if (!prompt) return sendJson(ex.res, 400, missingParameter('prompt'));
    const model = formText(body, 'model') ?? 'gpt-image-1.5';
    const mask = formFiles(body, 'mask')[0];
    if (mask && !pngSize(mask.data)) return sendJson(ex.res, 400, openAIError('Invalid mask image format - mask image must be a PNG.', 'invalid_request_error', 'mask', 'invalid_image_format'));
    if (isGptImageModel(model)) {
      if (images.length > 16) return sendJson(ex.res, 400, openAIError(`Invalid 'image': array too long. Expected an array with maximum length 16, but got an array with length ${images.length} instead.`, 'invalid_request_error', 'image', 'array_above_max_length'));
      for (const img of images) {
        if (!['image/png', 'image/jpeg', 'image/webp'].includes(img.contentType ?? '')) {
          return sendJson(
            ex.res,
            400,
            openAIError(`Invalid file 'image': unsupported mimetype ('${img.contentType ?? 'application/octet-stream'}'). Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'.`, 'invalid_request_error', 'image', 'unsupported_file'),
          );
        }
      }
    } else {
      if (images.length > 1) return sendJson(ex.res, 400, openAIError(`Model '${model}' only supports a single image.`, 'invalid_request_error', 'image', 'invalid_value'));
      const err = dallE2ImageError(images[0]);
      if (err) return sendJson(ex.res, 400, err);
    }
    const f = formImageFields(body);
    const job = imageOptions(f.fields, 'edit', model, f, images.length);
    if ('error' in job) return sendJson(ex.res, 400, job);
    await answerImages(ex, ex.nextScenario(), job);
  }

  async function imagesVariations(ex: Exchange<Scenario>) {
    const body = requireMultipart(ex);
    if (!body) return;
    const image = formFiles(body, 'image')[0];
    if (!image) return sendJson(ex.res, 400, missingParameter('image'));
    const model = formText(body, 'model') ?? 'dall-e-2';
    if (model !== 'dall-e-2') return sendJson(ex.res, 400, invalidValue('model', model, ['dall-e-2']));
    const err = dallE2ImageError(image);
    if (err) return sendJson(ex.res, 400, err);
    const f = formImageFields(body);
    const job = imageOptions({}, 'variation', model, { ...f, quality: undefined, stream: undefined, partialImages: undefined }, 1);
    if ('error' in job) return sendJson(ex.res, 400, job);
    await answerImages(ex, ex.nextScenario(), job);
  }

  /** dall-e-2 takes one square PNG under 4 MB. */
  function dallE2ImageError(file: MultipartFile): OpenAIErrorBody | undefined {
    const size = pngSize(file.data);
    if (!size || file.size >= 4 * 1024 * 1024) return openAIError('Uploaded image must be a PNG and less than 4 MB.', 'invalid_request_error', 'image', 'invalid_image_format');
    if (size.width !== size.height) return openAIError('Uploaded image must be square.', 'invalid_request_error', 'image', 'invalid_image_format');
    return undefined;
  }

  async function answerImages(ex: Exchange<Scenario>, scenario: Scenario, job: ImageJob) {
    const { res } = ex;
    if (await playCommon(ex, scenario, job.stream)) return;
    if (scenario.type === 'stream_error_first') {
      openSse(res);
      const error = openAIError(scenario.message ?? 'The server had an error while processing your request. Sorry about that!', 'server_error').error;
      await write(res, `event: error\ndata: ${JSON.stringify({ type: 'error', error })}\n\n`);
      res.end();
      return;
    }
    const created = Math.floor(Date.now() / 1000);
    const gpt = isGptImageModel(job.model);
    const image = (): Record<string, string> => {
      if (job.responseFormat === 'b64_json') return { b64_json: TINY_PNG.toString('base64') };
      const name = `img-${randomString(24)}.png`;
      files.set(name, { contentType: 'image/png', data: TINY_PNG });
      const now = new Date();
      const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
      const query = `st=${encodeURIComponent(iso(now))}&se=${encodeURIComponent(iso(new Date(now.getTime() + 3_600_000)))}&sp=r&sv=2024-08-04&sr=b&rscd=inline&rsct=image/png&sig=${randomString(43)}%3D`;
      return { url: `${host}/sim-files/${name}?${query}` };
    };
    const data = Array.from({ length: job.n }, () => {
      const img = image();
      // dall-e-3 rewrites the prompt and says how; dall-e-2 and the GPT image models do not.
      return job.model === 'dall-e-3' ? { revised_prompt: `${job.prompt.trim()}, rendered in rich detail.`, ...img } : img;
    });
    if (!gpt) {
      await finishJson(ex, scenario, { created, data });
      return;
    }
    const t = textScenarioOf(scenario);
    const textTokens = t?.promptTokens ?? wordCount(job.prompt);
    const imageTokens = job.inputImages * IMAGE_INPUT_TOKENS_PER_IMAGE;
    const [w, h] = job.size.split('x').map(Number);
    const outputTokens = t?.completionTokens ?? (GPT_IMAGE_OUTPUT_TOKENS[job.quality] ?? GPT_IMAGE_OUTPUT_TOKENS.medium)[w === h ? 'square' : 'oblong'] * job.n;
    const usage = { input_tokens: textTokens + imageTokens, input_tokens_details: { image_tokens: imageTokens, text_tokens: textTokens }, output_tokens: outputTokens, total_tokens: textTokens + imageTokens + outputTokens };
    if (!job.stream) {
      await finishJson(ex, scenario, { created, background: job.background, data, output_format: job.outputFormat, quality: job.quality, size: job.size, usage });
      return;
    }
    // Stream: partial images, then one completed event per image.
    const prefix = job.kind === 'edit' ? 'image_edit' : 'image_generation';
    const common = { created_at: created, size: job.size, quality: job.quality, background: job.background, output_format: job.outputFormat };
    const b64 = TINY_PNG.toString('base64');
    openSse(res);
    let sent = 0;
    const delay = t?.chunkDelayMs ?? 0;
    for (let i = 0; i < job.partialImages; i++) {
      if (delay > 0) await sleep(delay);
      if (ex.closed) return;
      if ((scenario.type === 'drop' || scenario.type === 'stall') && sent >= scenario.afterChunks) break;
      const type = `${prefix}.partial_image`;
      await write(res, `event: ${type}\ndata: ${JSON.stringify({ type, b64_json: b64, ...common, partial_image_index: i })}\n\n`);
      sent++;
    }
    if (scenario.type === 'drop') return ex.destroy();
    if (scenario.type === 'stall') return;
    for (let i = 0; i < job.n; i++) {
      if (delay > 0) await sleep(delay);
      if (ex.closed) return;
      const type = `${prefix}.completed`;
      await write(res, `event: ${type}\ndata: ${JSON.stringify({ type, b64_json: b64, ...common, usage })}\n\n`);
    }
    res.end();
  }

  // -------------------------------------------------------------------------------------------
  // POST /v1/audio/speech
  // -------------------------------------------------------------------------------------------

  async function audioSpeech(ex: Exchange<Scenario>) {
    const body = requireJsonObject(ex);
    if (!body) return;
    if (typeof body.model !== 'string' || body.model.length === 0) return sendJson(ex.res, 400, MODEL_REQUIRED());
    if (body.input === undefined) return sendJson(ex.res, 400, missingParameter('input'));
    if (typeof body.input !== 'string') return sendJson(ex.res, 400, invalidType('input', 'a string', body.input));
    if (body.input.length > 4096) return sendJson(ex.res, 400, stringTooLong('input', 4096, body.input.length));
    if (body.voice === undefined) return sendJson(ex.res, 400, missingParameter('voice'));
    const customVoice = body.voice !== null && typeof body.voice === 'object' && typeof body.voice.id === 'string';
    if (!customVoice && !(SPEECH_VOICES as readonly string[]).includes(body.voice)) return sendJson(ex.res, 400, invalidValue('voice', typeof body.voice === 'string' ? body.voice : JSON.stringify(body.voice), SPEECH_VOICES));
    const format = body.response_format ?? 'mp3';
    if (!(format in SPEECH_CONTENT_TYPES)) return sendJson(ex.res, 400, invalidValue('response_format', format, Object.keys(SPEECH_CONTENT_TYPES)));
    if (body.speed !== undefined && (typeof body.speed !== 'number' || body.speed < 0.25 || body.speed > 4)) {
      return sendJson(ex.res, 400, openAIError(`Invalid 'speed': must be between 0.25 and 4.0, but got ${String(body.speed)} instead.`, 'invalid_request_error', 'speed', 'invalid_value'));
    }
    const streamFormat = body.stream_format ?? 'audio';
    if (streamFormat !== 'audio' && streamFormat !== 'sse') return sendJson(ex.res, 400, invalidValue('stream_format', streamFormat, ['sse', 'audio']));
    if (streamFormat === 'sse' && /^tts-1/.test(body.model)) return sendJson(ex.res, 400, openAIError(`stream_format 'sse' is not supported for model '${body.model}'.`, 'invalid_request_error', 'stream_format', 'unsupported_value'));

    const scenario = ex.nextScenario();
    if (await playCommon(ex, scenario, true)) return;
    const { res } = ex;
    if (scenario.type === 'stream_error_first') {
      sendJson(res, 500, openAIError(scenario.message ?? 'The server had an error while processing your request. Sorry about that!', 'server_error'));
      return;
    }
    const t = textScenarioOf(scenario);
    const audio = speechAudio(body as SpeechRequest);
    const pieceCount = Math.max(1, Math.min(t?.chunks ?? 4, audio.length));
    const pieces = Array.from({ length: pieceCount }, (_, i) => audio.subarray(Math.floor((i * audio.length) / pieceCount), Math.floor(((i + 1) * audio.length) / pieceCount)));
    const delay = t?.chunkDelayMs ?? 25;
    const cut = scenario.type === 'drop' || scenario.type === 'stall' ? scenario.afterChunks : Infinity;
    if (streamFormat === 'sse') {
      openSse(res);
      for (const [i, piece] of pieces.entries()) {
        if (i >= cut) break;
        if (i > 0 && delay > 0) await sleep(delay);
        if (ex.closed) return;
        await write(res, `data: ${JSON.stringify({ type: 'speech.audio.delta', audio: piece.toString('base64') })}\n\n`);
      }
    } else {
      // Chunked transfer, no content-length, as OpenAI streams audio while it is generated.
      res.writeHead(200, { ...baseHeaders(), 'content-type': SPEECH_CONTENT_TYPES[format] });
      res.flushHeaders();
      for (const [i, piece] of pieces.entries()) {
        if (i >= cut) break;
        if (i > 0 && delay > 0) await sleep(delay);
        if (ex.closed) return;
        await write(res, piece);
      }
    }
    if (scenario.type === 'drop') return ex.destroy();
    if (scenario.type === 'stall') return;
    if (ex.closed) return;
    if (streamFormat === 'sse') {
      const inputTokens = t?.promptTokens ?? wordCount(body.input);
      const outputTokens = t?.completionTokens ?? Math.ceil(speechSeconds(body as SpeechRequest) * 20);
      await write(res, `data: ${JSON.stringify({ type: 'speech.audio.done', usage: { input_tokens: inputTokens, output_tokens: outputTokens, total_tokens: inputTokens + outputTokens } })}\n\n`);
    }
    res.end();
  }

  // -------------------------------------------------------------------------------------------
  // POST /v1/audio/transcriptions, /v1/audio/translations
  // -------------------------------------------------------------------------------------------

  async function audioText(ex: Exchange<Scenario>, task: 'transcribe' | 'translate') {
    const body = requireMultipart(ex);
    if (!body) return;
    const file = formFiles(body, 'file')[0];
    if (!file) return sendJson(ex.res, 400, missingFormField('file'));
    const model = formText(body, 'model');
    if (!model) return sendJson(ex.res, 400, missingFormField('model'));
    const whisper = model === 'whisper-1';
    if (task === 'translate' && !whisper) return sendJson(ex.res, 400, invalidValue('model', model, ['whisper-1']));
    const format = formText(body, 'response_format') ?? 'json';
    if (!(TRANSCRIPTION_FORMATS as readonly string[]).includes(format) && !(format === 'diarized_json' && /diarize/.test(model))) {
      return sendJson(ex.res, 400, invalidValue('response_format', format, TRANSCRIPTION_FORMATS));
    }
    if (!whisper && format !== 'json' && format !== 'text' && format !== 'diarized_json') {
      return sendJson(ex.res, 400, openAIError(`response_format '${format}' is not compatible with model '${model}'. Use 'json' or 'text' instead.`, 'invalid_request_error', 'response_format', 'unsupported_value'));
    }
    const extension = /\.([A-Za-z0-9]+)$/.exec(file.filename)?.[1]?.toLowerCase();
    if (!extension || !AUDIO_EXTENSIONS.includes(extension)) {
      return sendJson(ex.res, 400, openAIError(`Invalid file format. Supported formats: [${AUDIO_EXTENSIONS.map((e) => `'${e}'`).join(', ')}]`, 'invalid_request_error'));
    }
    const duration = audioDuration(file);
    if (duration === null) return sendJson(ex.res, 400, openAIError('Audio file might be corrupted or unsupported', 'invalid_request_error', 'file', 'invalid_value'));
    const temperature = formNumber(formText(body, 'temperature'));
    if (temperature !== undefined && (Number.isNaN(temperature) || temperature < 0 || temperature > 1)) {
      return sendJson(ex.res, 400, openAIError(`Invalid 'temperature': must be between 0 and 1, but got ${formText(body, 'temperature')} instead.`, 'invalid_request_error', 'temperature', 'invalid_value'));
    }
    const granularities = formList(body, 'timestamp_granularities');
    const stream = !whisper && formText(body, 'stream') === 'true'; // whisper-1 ignores stream

    const scenario = ex.nextScenario();
    if (await playCommon(ex, scenario, stream)) return;
    const { res } = ex;
    const t = textScenarioOf(scenario);
    const text = (t?.text ?? DEFAULT_TRANSCRIPT).trim();
    const seconds = Math.fround(duration);
    const language = task === 'translate' ? 'english' : (LANGUAGE_NAMES[formText(body, 'language') ?? 'en'] ?? formText(body, 'language') ?? 'english');
    const promptWords = wordCount(formText(body, 'prompt') ?? '');
    const tokenUsage = () => {
      const audioTokens = t?.promptTokens ?? Math.max(1, Math.ceil(duration * 10));
      const outputTokens = t?.completionTokens ?? wordCount(text);
      return {
        type: 'tokens',
        input_tokens: audioTokens + promptWords,
        input_token_details: { text_tokens: promptWords, audio_tokens: audioTokens },
        output_tokens: outputTokens,
        total_tokens: audioTokens + promptWords + outputTokens,
      };
    };
    const usage = task === 'translate' ? undefined : whisper ? { type: 'duration', seconds: Math.ceil(duration) } : tokenUsage();

    if (stream) {
      if (scenario.type === 'stream_error_first') {
        openSse(res);
        await write(res, `data: ${JSON.stringify(openAIError(scenario.message ?? 'The server had an error while processing your request. Sorry about that!', 'server_error'))}\n\n`);
        res.end();
        return;
      }
      const pieces = chunkText(text, t?.chunks);
      const delay = t?.chunkDelayMs ?? 0;
      openSse(res);
      for (const [i, delta] of pieces.entries()) {
        if ((scenario.type === 'drop' || scenario.type === 'stall') && i >= scenario.afterChunks) break;
        if (delay > 0) await sleep(delay);
        if (ex.closed) return;
        await write(res, `data: ${JSON.stringify({ type: 'transcript.text.delta', delta })}\n\n`);
      }
      if (scenario.type === 'drop') return ex.destroy();
      if (scenario.type === 'stall' || ex.closed) return;
      await write(res, `data: ${JSON.stringify({ type: 'transcript.text.done', text, usage })}\n\n`);
      res.end();
      return;
    }

    const segments = transcriptSegments(text, seconds, temperature ?? 0);
    if (t?.chunkDelayMs) await sleep(t.chunkDelayMs);
    if (ex.closed) return;
    if (format === 'text' || format === 'srt' || format === 'vtt') {
      const out = format === 'text' ? `${text}\n` : format === 'srt' ? toSrt(segments) : toVtt(segments);
      if (scenario.type === 'drop') {
        res.writeHead(200, { ...baseHeaders(), 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(out) });
        await write(res, out.slice(0, Math.floor(out.length / 2)));
        return ex.destroy();
      }
      sendText(res, 200, out, 'text/plain; charset=utf-8');
      return;
    }
    let payload: Record<string, unknown>;
    if (format === 'verbose_json') {
      payload = { task, language, duration: seconds, text };
      if (granularities.length === 0 || granularities.includes('segment')) payload.segments = segments;
      if (granularities.includes('word') && task === 'transcribe') payload.words = transcriptWords(text, seconds);
      if (usage) payload.usage = usage;
    } else if (format === 'diarized_json') {
      payload = {
        task,
        duration: seconds,
        text,
        segments: segments.map((s, i) => ({ type: 'transcript.text.segment', id: `seg_${i}`, start: s.start, end: s.end, text: s.text.trim(), speaker: 'A' })),
        ...(usage ? { usage } : {}),
      };
    } else {
      payload = { text };
      const include = formList(body, 'include');
      if (!whisper && include.includes('logprobs')) payload.logprobs = splitWords(text).map((token) => ({ token, logprob: -0.01, bytes: [...Buffer.from(token, 'utf8')] }));
      if (usage) payload.usage = usage;
    }
    if (scenario.type === 'drop') await sendHalfJson(ex, payload);
    else sendJson(res, 200, payload);
  }

  // -------------------------------------------------------------------------------------------
  // POST /v1/moderations
  // -------------------------------------------------------------------------------------------

  async function moderations(ex: Exchange<Scenario>) {
    const body = requireJsonObject(ex);
    if (!body) return;
    if (body.input === undefined) return sendJson(ex.res, 400, missingParameter('input'));
    const model = typeof body.model === 'string' ? body.model : 'omni-moderation-latest';
    // Each string is one result; a multimodal array (text and image_url parts) is one result for all its parts.
    let subjects: Array<{ texts: string[]; images: string[] }>;
    const input = body.input;
    if (typeof input === 'string') subjects = [{ texts: [input], images: [] }];
    else if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'string')) subjects = input.map((x: string) => ({ texts: [x], images: [] }));
    else if (Array.isArray(input) && input.length > 0 && input.every((x) => x && typeof x === 'object')) {
      const texts: string[] = [];
      const images: string[] = [];
      for (const [i, part] of input.entries()) {
        if (part.type === 'text' && typeof part.text === 'string') texts.push(part.text);
        else if (part.type === 'image_url' && typeof part.image_url?.url === 'string') images.push(part.image_url.url);
        else return sendJson(ex.res, 400, invalidValue(`input[${i}].type`, part.type, ['text', 'image_url']));
      }
      if (images.length > 0 && !model.startsWith('omni-moderation')) return sendJson(ex.res, 400, openAIError(`Model '${model}' does not support image inputs.`, 'invalid_request_error', 'input', 'invalid_value'));
      subjects = [{ texts, images }];
    } else {
      return sendJson(ex.res, 400, invalidType('input', 'one of a string, array of strings, or array of objects', input));
    }

    const scenario = ex.nextScenario();
    if (await playCommon(ex, scenario, false)) return;
    const legacy = model.startsWith('text-moderation');
    const results = subjects.map(({ texts, images }) => {
      const textHits = moderationHits(texts.join('\n'));
      const imageHits = new Set([...moderationHits(images.join('\n'))].filter((c) => IMAGE_MODERATION_CATEGORIES.has(c)));
      const key = JSON.stringify([texts, images]);
      const categories: Record<string, boolean | null> = {};
      const scores: Record<string, number> = {};
      const applied: Record<string, string[]> = {};
      for (const c of MODERATION_CATEGORIES) {
        const hit = textHits.has(c) || imageHits.has(c);
        categories[c] = legacy && c.startsWith('illicit') ? null : hit;
        scores[c] = hit ? 0.9 + hashScore(`${key}:${c}`, 0.09) : hashScore(`${key}:${c}`, 0.0005);
        applied[c] = [...(texts.length > 0 ? ['text'] : []), ...(images.length > 0 && IMAGE_MODERATION_CATEGORIES.has(c) ? ['image'] : [])];
      }
      return { flagged: Object.values(categories).some((v) => v === true), categories, category_scores: scores, category_applied_input_types: applied };
    });
    await finishJson(ex, scenario, { id: `modr-${randomBytes(16).toString('hex')}`, model, results });
  }

  // -------------------------------------------------------------------------------------------
  // POST /v1/responses
  // -------------------------------------------------------------------------------------------

  async function responses(ex: Exchange<Scenario>) {
    const body = requireJsonObject(ex);
    if (!body) return;
    if (typeof body.model !== 'string' || body.model.length === 0) return sendJson(ex.res, 400, missingParameter('model'));
    const input = body.input;
    if (input === undefined && body.previous_response_id === undefined && body.conversation === undefined && body.prompt === undefined) return sendJson(ex.res, 400, missingParameter('input'));
    if (input !== undefined && typeof input !== 'string' && !Array.isArray(input)) return sendJson(ex.res, 400, invalidType('input', 'one of a string or array of input items', input));
    const items: any[] = Array.isArray(input) ? input : [];
    for (const [i, item] of items.entries()) {
      if (item === null || typeof item !== 'object') return sendJson(ex.res, 400, invalidType(`input[${i}]`, 'an object', item));
      if ((item.type === undefined || item.type === 'message') && !RESPONSES_ROLES.includes(item.role)) {
        return sendJson(ex.res, 400, item.role === undefined ? missingParameter(`input[${i}].role`) : invalidValue(`input[${i}].role`, item.role, RESPONSES_ROLES));
      }
      if ((item.type === 'function_call_output' || item.type === 'function_call') && typeof item.call_id !== 'string') return sendJson(ex.res, 400, missingParameter(`input[${i}].call_id`));
    }
    // Earlier turns: what previous_response_id chains to.
    const history: unknown[] = [];
    if (body.previous_response_id !== undefined && body.previous_response_id !== null) {
      let id: string | null = body.previous_response_id;
      if (!storedResponses.has(id as string)) {
        return sendJson(ex.res, 400, openAIError(`Previous response with id '${id}' not found.`, 'invalid_request_error', 'previous_response_id', 'previous_response_not_found'));
      }
      while (id && storedResponses.has(id)) {
        const stored: { response: Record<string, any>; input: unknown[] } = storedResponses.get(id) as { response: Record<string, any>; input: unknown[] };
        history.unshift(...stored.input, ...(stored.response.output as unknown[]));
        id = stored.response.previous_response_id;
      }
    }
    // Every function_call_output must answer a function_call of this conversation.
    const callIds = new Set([...history, ...items].filter((x: any) => x?.type === 'function_call').map((x: any) => x.call_id));
    for (const item of items) {
      if (item.type === 'function_call_output' && !callIds.has(item.call_id)) {
        return sendJson(ex.res, 400, openAIError(`No tool call found for function call output with call_id ${item.call_id}.`, 'invalid_request_error', 'input'));
      }
    }
    await answerResponses(ex, ex.nextScenario(), body, items);
  }

  async function answerResponses(ex: Exchange<Scenario>, scenario: Scenario, body: Record<string, any>, inputItems: any[]) {
    const { res } = ex;
    const stream = body.stream === true;
    const obfuscate = stream && body.stream_options?.include_obfuscation !== false;
    if (scenario.type === 'tool_loop') scenario = resolveToolLoop(scenario, responsesTools(body), inputItems.filter((x) => x?.type === 'function_call_output').map((x) => x.output));
    if (await playCommon(ex, scenario, stream)) return;
    const id = `resp_${randomBytes(24).toString('hex')}`;
    const createdAt = Math.floor(Date.now() / 1000);
    if (scenario.type === 'stream_error_first') {
      openSse(res);
      const message = scenario.message ?? 'The server had an error while processing your request. Sorry about that!';
      await write(res, `event: error\ndata: ${JSON.stringify({ type: 'error', sequence_number: 0, code: 'server_error', message, param: null })}\n\n`);
      res.end();
      return;
    }

    // What the answer holds: an optional reasoning item, then a message or function calls.
    type Planned =
      | { kind: 'reasoning'; id: string }
      | { kind: 'message'; id: string; pieces: string[] }
      | { kind: 'function_call'; id: string; callId: string; name: string; arguments: string; fragments: string[] };
    const planned: Planned[] = [];
    let status: 'completed' | 'incomplete' = 'completed';
    let incompleteReason: string | undefined;
    let promptTokens = DEFAULT_PROMPT_TOKENS;
    let outputTokens: number;
    let cachedTokens = 0;
    let reasoningTokens = 0;
    let delay = 0;
    let model = body.model as string;
    if (scenario.type === 'tool_call') {
      for (const c of scenario.calls) {
        planned.push({ kind: 'function_call', id: `fc_${randomBytes(24).toString('hex')}`, callId: c.id ?? `call_${randomString(24)}`, name: c.name, arguments: c.arguments, fragments: splitArguments(c.arguments) });
      }
      promptTokens = scenario.promptTokens ?? DEFAULT_PROMPT_TOKENS;
      outputTokens = scenario.completionTokens ?? planned.reduce((n, p) => n + (p.kind === 'function_call' ? p.fragments.length + 5 : 0), 0);
      delay = scenario.chunkDelayMs ?? 0;
    } else {
      const t = textScenarioOf(scenario);
      const cut = scenario.type === 'drop' || scenario.type === 'stall' ? scenario : undefined;
      let pieces = cut ? fillerWords(cut.afterChunks) : chunkText(t?.text ?? DEFAULT_TEXT, t?.chunks);
      reasoningTokens = t?.reasoningTokens ?? 0;
      if (!cut && typeof body.max_output_tokens === 'number' && pieces.length + reasoningTokens > body.max_output_tokens) {
        pieces = pieces.slice(0, Math.max(0, body.max_output_tokens - reasoningTokens));
        status = 'incomplete';
        incompleteReason = 'max_output_tokens';
      }
      if (t?.finishReason === 'length' || t?.finishReason === 'content_filter') {
        status = 'incomplete';
        incompleteReason = t.finishReason === 'length' ? 'max_output_tokens' : 'content_filter';
      }
      if (reasoningTokens > 0) planned.push({ kind: 'reasoning', id: `rs_${randomBytes(24).toString('hex')}` });
      planned.push({ kind: 'message', id: `msg_${randomBytes(24).toString('hex')}`, pieces });
      promptTokens = t?.promptTokens ?? DEFAULT_PROMPT_TOKENS;
      outputTokens = t?.completionTokens ?? pieces.length + reasoningTokens;
      cachedTokens = t?.cachedTokens ?? 0;
      delay = t?.chunkDelayMs ?? 0;
      model = t?.model ?? model;
    }
    const omitUsage = scenario.type === 'text' && scenario.omitUsage === true;
    const usage = omitUsage
      ? null
      : {
          input_tokens: promptTokens,
          input_tokens_details: { cached_tokens: cachedTokens },
          output_tokens: outputTokens,
          output_tokens_details: { reasoning_tokens: reasoningTokens },
          total_tokens: promptTokens + outputTokens,
        };
    const itemStatus = status === 'incomplete' ? 'incomplete' : 'completed';
    const finalItem = (p: Planned): Record<string, unknown> => {
      if (p.kind === 'reasoning') return { id: p.id, type: 'reasoning', summary: [] };
      if (p.kind === 'message') return { id: p.id, type: 'message', status: itemStatus, content: [outputText(p.pieces.join(''))], role: 'assistant' };
      return { id: p.id, type: 'function_call', status: 'completed', arguments: p.arguments, call_id: p.callId, name: p.name };
    };
    const responseObject = (state: 'in_progress' | 'completed' | 'incomplete', output: unknown[], withUsage: boolean) => ({
      id,
      object: 'response',
      created_at: createdAt,
      status: state,
      background: body.background ?? false,
      completed_at: state === 'in_progress' ? null : Math.floor(Date.now() / 1000),
      error: null,
      incomplete_details: state === 'incomplete' ? { reason: incompleteReason ?? 'max_output_tokens' } : null,
      instructions: body.instructions ?? null,
      max_output_tokens: body.max_output_tokens ?? null,
      max_tool_calls: body.max_tool_calls ?? null,
      model,
      output,
      parallel_tool_calls: body.parallel_tool_calls ?? true,
      previous_response_id: body.previous_response_id ?? null,
      prompt_cache_key: body.prompt_cache_key ?? null,
      reasoning: { effort: body.reasoning?.effort ?? null, summary: body.reasoning?.summary ?? null },
      safety_identifier: body.safety_identifier ?? null,
      service_tier: state === 'in_progress' ? (body.service_tier ?? 'auto') : 'default',
      store: body.store ?? true,
      temperature: body.temperature ?? 1,
      text: { format: body.text?.format ?? { type: 'text' }, verbosity: body.text?.verbosity ?? 'medium' },
      tool_choice: body.tool_choice ?? 'auto',
      tools: echoTools(body.tools),
      top_logprobs: body.top_logprobs ?? 0,
      top_p: body.top_p ?? 1,
      truncation: body.truncation ?? 'disabled',
      usage: withUsage ? usage : null,
      user: body.user ?? null,
      metadata: body.metadata ?? {},
    });
    const store = (final: Record<string, any>) => {
      if (body.store !== false) storedResponses.set(id, { response: final, input: typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : inputItems });
    };
    const deltaCount = planned.reduce((n, p) => n + (p.kind === 'message' ? p.pieces.length : p.kind === 'function_call' ? p.fragments.length : 0), 0);

    if (!stream) {
      if (delay > 0) await sleep(delay * deltaCount);
      if (ex.closed) return;
      const final = responseObject(status, planned.map(finalItem), true);
      if (scenario.type === 'drop') return sendHalfJson(ex, final);
      store(final);
      sendJson(res, 200, final);
      return;
    }

    openSse(res);
    let seq = 0;
    const emit = (type: string, fields: Record<string, unknown>) => write(res, `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...fields })}\n\n`);
    const pad = () => (obfuscate ? { obfuscation: randomString(1 + (randomBytes(1)[0] % 14)) } : {});
    await emit('response.created', { response: responseObject('in_progress', [], false) });
    await emit('response.in_progress', { response: responseObject('in_progress', [], false) });
    let deltasSent = 0;
    const cutAt = scenario.type === 'drop' || scenario.type === 'stall' ? scenario.afterChunks : Infinity;
    for (const [outputIndex, p] of planned.entries()) {
      if (ex.closed) return;
      if (p.kind === 'reasoning') {
        await emit('response.output_item.added', { output_index: outputIndex, item: finalItem(p) });
        await emit('response.output_item.done', { output_index: outputIndex, item: finalItem(p) });
        continue;
      }
      if (p.kind === 'message') {
        await emit('response.output_item.added', { output_index: outputIndex, item: { id: p.id, type: 'message', status: 'in_progress', content: [], role: 'assistant' } });
        await emit('response.content_part.added', { item_id: p.id, output_index: outputIndex, content_index: 0, part: outputText('') });
        for (const delta of p.pieces) {
          if (deltasSent >= cutAt) break;
          if (delay > 0) await sleep(delay);
          if (ex.closed) return;
          await emit('response.output_text.delta', { item_id: p.id, output_index: outputIndex, content_index: 0, delta, logprobs: [], ...pad() });
          deltasSent++;
        }
        if (scenario.type === 'drop') return ex.destroy();
        if (scenario.type === 'stall') return; // silence, the connection left open
        const text = p.pieces.join('');
        await emit('response.output_text.done', { item_id: p.id, output_index: outputIndex, content_index: 0, text, logprobs: [] });
        await emit('response.content_part.done', { item_id: p.id, output_index: outputIndex, content_index: 0, part: outputText(text) });
        await emit('response.output_item.done', { output_index: outputIndex, item: finalItem(p) });
        continue;
      }
      await emit('response.output_item.added', { output_index: outputIndex, item: { id: p.id, type: 'function_call', status: 'in_progress', arguments: '', call_id: p.callId, name: p.name } });
      for (const delta of p.fragments) {
        if (delay > 0) await sleep(delay);
        if (ex.closed) return;
        await emit('response.function_call_arguments.delta', { item_id: p.id, output_index: outputIndex, delta, ...pad() });
      }
      await emit('response.function_call_arguments.done', { item_id: p.id, output_index: outputIndex, name: p.name, arguments: p.arguments });
      await emit('response.output_item.done', { output_index: outputIndex, item: finalItem(p) });
    }
    if (delay > 0) await sleep(delay);
    if (ex.closed) return;
    const final = responseObject(status, planned.map(finalItem), true);
    store(final);
    await emit(status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: final });
    res.end();
  }

  /** Function tools of a Responses request: name and JSON schema. */
  function responsesTools(body: Record<string, any>): Array<{ name: string; parameters: unknown }> {
    if (body.tool_choice === 'none') return [];
    return (Array.isArray(body.tools) ? body.tools : []).filter((t: any) => t?.type === 'function' && typeof t.name === 'string').map((t: any) => ({ name: t.name, parameters: t.parameters }));
  }

  const endpointHandlers: Record<Endpoint, (ex: Exchange<Scenario>) => Promise<void>> = {
    completions,
    embeddings,
    'images.generations': imagesGenerations,
    'images.edits': imagesEdits,
    'images.variations': imagesVariations,
    'audio.speech': audioSpeech,
    'audio.transcriptions': (ex) => audioText(ex, 'transcribe'),
    'audio.translations': (ex) => audioText(ex, 'translate'),
    moderations,
    responses,
  };

  const sim = await startSimulatorServer<Scenario>({
    handle,
    internalError: (res) => sendJson(res, 500, openAIError('The server had an error while processing your request.', 'server_error')),
    handler: () => ({ type: 'text' }),
  });
  host = sim.url;
  sim.url += '/v1';
  return sim;
}
