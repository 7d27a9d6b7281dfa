import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Usage } from '../../core/canonical.ts';
import { countTextTokens } from '../../core/tokens.ts';
import type { RequestMeter } from '../../metering/request-meter.ts';
import { validateImageGenerationBody } from '../../protocols/openai/openai-api-bodies.ts';
import { dispatchCall } from '../../routing/dispatch.ts';
import { bodyForModel, isOpenAIType, openAICall } from '../../routing/openai-api-call.ts';
import { type ApiAnswer, apiAttempt, parseUpstreamJson } from '../../routing/relay-api-call.ts';
import type { Services } from '../../services.ts';
import { type MultipartUpload, readMultipart, requireFile, requireFormField } from './multipart-upload.ts';

/** OpenAI's default image size when the request names none. */
const DEFAULT_SIZE = '1024x1024';

/**
 * Meters an images answer: per image at the model's price for its size and quality,
 * plus tokens where the upstream reports them (gpt-image-1).
 */
function settleImages(size: unknown, quality: unknown, upstreamName: string) {
  return (text: string, contentType: string, meter: RequestMeter): ApiAnswer => {
    const json = parseUpstreamJson(text, upstreamName) as { data?: unknown[]; usage?: Record<string, unknown> };
    const count = Array.isArray(json?.data) ? json.data.length : 0;
    meter.units = {
      unit: 'images',
      quantity: count,
      size: typeof size === 'string' && size !== 'auto' ? size : DEFAULT_SIZE,
      quality: typeof quality === 'string' ? quality : undefined,
    };
    meter.usage = imageTokenUsage(json?.usage);
    return { body: text, contentType };
  };
}

/** gpt-image-1's `usage` (input_tokens, output_tokens, input_tokens_details); none for DALL·E. */
function imageTokenUsage(u: Record<string, unknown> | undefined): Usage {
  const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return { inputTokens: n(u?.input_tokens), outputTokens: n(u?.output_tokens) };
}

/** POST /v1/images/generations on OpenAI-compatible upstreams (DALL·E, gpt-image-1, Flux behind compatible servers). */
export function imageGenerationsHandler(services: Services) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const body = validateImageGenerationBody(request.body);
    // Without a model the client's bytes lack the default the gateway routed by.
    const raw = request.rawBody && (request.body as { model?: unknown }).model === body.model ? request.rawBody : Buffer.from(JSON.stringify(body));
    await dispatchCall(services, request, reply, {
      endpoint: 'images.generations',
      path: '/v1/images/generations',
      model: body.model,
      stream: false,
      maxTokens: 0,
      countPrompt: () => countTextTokens(body.prompt),
      serves: isOpenAIType,
      attempt: apiAttempt((target) => ({
        ...openAICall(target, '/images/generations', bodyForModel(raw, body, target.upstreamModel)),
        settle: settleImages(body.size, body.quality, target.upstream.name),
      })),
    });
  };
}

/**
 * POST /v1/images/edits and /v1/images/variations: multipart with `image` (or
 * several `image[]`) and an optional `mask`, spooled to disk and sent again per
 * attempt with the upstream's model name.
 */
export function imageUploadHandler(services: Services, kind: 'edits' | 'variations') {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const upload = await readMultipart(request, services.config.limits.max_upload_mb);
    try {
      await relayImageUpload(services, request, reply, upload, kind);
    } finally {
      await upload.dispose();
    }
  };
}

async function relayImageUpload(services: Services, request: FastifyRequest, reply: FastifyReply, upload: MultipartUpload, kind: 'edits' | 'variations'): Promise<void> {
  requireFile(upload, 'image', 'image[]');
  const prompt = kind === 'edits' ? requireFormField(upload, 'prompt') : '';
  const model = upload.field('model') || 'dall-e-2';
  await dispatchCall(services, request, reply, {
    endpoint: `images.${kind}`,
    path: `/v1/images/${kind}`,
    model,
    stream: false,
    maxTokens: 0,
    countPrompt: () => countTextTokens(prompt),
    serves: isOpenAIType,
    attempt: apiAttempt(async (target) => ({
      ...openAICall(target, `/images/${kind}`, await upload.form({ model: target.upstreamModel }), null),
      settle: settleImages(upload.field('size'), upload.field('quality'), target.upstream.name),
    })),
  });
}
