import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RequestMeter } from '../metering/request-meter.ts';

/** The meter of a routed request, for its access line (set only when `log_requests` is on). */
export const requestMeters = new WeakMap<FastifyRequest, RequestMeter>();

/**
 * `log_requests: true`: one structured line per request when its response ends. Paths without
 * their query (a Gemini key may travel as `?key=`), no headers, no bodies, no prompt text.
 */
export function accessLogHook() {
  return (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    const meter = requestMeters.get(request);
    const status = reply.raw.statusCode;
    request.log.info(
      {
        requestId: request.id,
        method: request.method,
        path: request.url.split('?')[0],
        route: request.routeOptions.url ?? null,
        status,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        keyId: request.apiKey?.id ?? null,
        ...(meter
          ? {
              endpoint: meter.endpoint,
              model: meter.model,
              upstream: meter.upstream,
              stream: meter.stream,
              attempts: meter.attempts,
              promptTokens: meter.usage?.inputTokens ?? null,
              completionTokens: meter.usage?.outputTokens ?? null,
              upstreamMs: Math.round(meter.upstreamWaitMs * 10) / 10,
            }
          : {}),
        aborted: !reply.raw.writableFinished,
      },
      'request',
    );
    done();
  };
}
