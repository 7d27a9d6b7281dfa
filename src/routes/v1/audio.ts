import type { FastifyReply, FastifyRequest } from 'fastify';
import { countTextTokens } from '../../core/tokens.ts';
import type { RequestMeter } from '../../metering/request-meter.ts';
import { validateSpeechBody } from '../../protocols/openai/openai-api-bodies.ts';
import { dispatchCall } from '../../routing/dispatch.ts';
import { bodyForModel, isOpenAIType, openAICall } from '../../routing/openai-api-call.ts';
import { type ApiAnswer, apiAttempt } from '../../routing/relay-api-call.ts';
import type { Services } from '../../services.ts';
import { type MultipartUpload, readMultipart, requireFile, requireFormField, wavDurationSeconds } from './multipart-upload.ts';

/**
 * POST /v1/audio/speech: JSON in, the audio bytes streamed back as they arrive with
 * the upstream's content type. Metered per input character.
 */
export function speechHandler(services: Services) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const body = validateSpeechBody(request.body);
    const raw = request.rawBody ?? Buffer.from(JSON.stringify(body));
    const characters = [...body.input].length;
    await dispatchCall(services, request, reply, {
      endpoint: 'audio.speech',
      path: '/v1/audio/speech',
      model: body.model,
      stream: false,
      maxTokens: 0,
      countPrompt: () => countTextTokens(body.input),
      serves: isOpenAIType,
      attempt: apiAttempt((target, io) => {
        io.meter.units = { unit: 'characters', quantity: characters };
        return { ...openAICall(target, '/audio/speech', bodyForModel(raw, body, target.upstreamModel)), mode: 'stream' };
      }),
    });
  };
}

/**
 * POST /v1/audio/transcriptions and /v1/audio/translations: the upload spooled to
 * disk, sent per attempt with the upstream's model name; the answer (json, text,
 * srt, vtt, verbose_json) passed back untouched with its content type. Metered in
 * seconds of audio as the upstream reports them, else from the file itself; in
 * tokens where the model bills tokens (gpt-4o-transcribe).
 */
export function transcriptionHandler(services: Services, kind: 'transcriptions' | 'translations') {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const upload = await readMultipart(request, services.config.limits.max_upload_mb);
    try {
      await relayTranscription(services, request, reply, upload, kind);
    } finally {
      await upload.dispose();
    }
  };
}

async function relayTranscription(services: Services, request: FastifyRequest, reply: FastifyReply, upload: MultipartUpload, kind: 'transcriptions' | 'translations'): Promise<void> {
  const [file] = requireFile(upload, 'file');
  const model = requireFormField(upload, 'model');
  const fileSeconds = await wavDurationSeconds(file.path).catch(() => undefined);
  await dispatchCall(services, request, reply, {
    endpoint: `audio.${kind}`,
    path: `/v1/audio/${kind}`,
    model,
    stream: false,
    maxTokens: 0,
    countPrompt: () => countTextTokens(upload.field('prompt') ?? ''),
    serves: isOpenAIType,
    attempt: apiAttempt(async (target) => ({
      ...openAICall(target, `/audio/${kind}`, await upload.form({ model: target.upstreamModel }), null),
      settle: (text: string, contentType: string, meter: RequestMeter): ApiAnswer => {
        meterTranscription(text, contentType, fileSeconds, meter);
        return { body: text, contentType };
      },
    })),
  });
}

/** Seconds (or tokens) of a transcription answer: the upstream's figure, then the file's duration, then the subtitles' last timestamp. */
function meterTranscription(text: string, contentType: string, fileSeconds: number | undefined, meter: RequestMeter): void {
  let seconds: number | undefined;
  if (contentType.includes('json')) {
    try {
      const json = JSON.parse(text) as { duration?: unknown; usage?: Record<string, unknown> };
      const u = json.usage;
      if (u?.type === 'tokens' && typeof u.input_tokens === 'number') {
        meter.usage = { inputTokens: u.input_tokens, outputTokens: typeof u.output_tokens === 'number' ? u.output_tokens : 0 };
      }
      if (u?.type === 'duration' && typeof u.seconds === 'number') seconds = u.seconds;
      else if (typeof json.duration === 'number') seconds = json.duration;
    } catch {
      // Not JSON after all: metered from the file.
    }
  }
  seconds ??= fileSeconds ?? lastSubtitleSeconds(text);
  meter.units = { unit: 'seconds', quantity: Math.round((seconds ?? 0) * 1000) / 1000 };
}

/** End time of the last cue of an SRT or WebVTT text (00:01:02,500 or 00:01:02.500). */
function lastSubtitleSeconds(text: string): number | undefined {
  let last: number | undefined;
  for (const m of text.matchAll(/-->\s*(?:(\d+):)?(\d{2}):(\d{2})[.,](\d{3})/g)) {
    last = Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]) / 1000;
  }
  return last;
}
