import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayError } from '../../core/errors.ts';
import { toGatewayError } from '../../protocols/render-error.ts';
import { MJ_CODE } from '../../wire/midjourney.ts';
import type { MjSubmitAnswer } from '../../routing/mj-relay.ts';

/** A submit's error as the Midjourney-proxy answers one (SubmitResultVO.fail): `{code, description}`, with the HTTP status that fits. */
export function encodeMjSubmitError(err: GatewayError): MjSubmitAnswer {
  const code = err.status === 404 ? MJ_CODE.NOT_FOUND : err.status >= 500 ? MJ_CODE.FAILURE : MJ_CODE.VALIDATION_ERROR;
  return { code, description: err.message, properties: {}, result: null };
}

/** Route error handler of the submit endpoints (auth, limits and validation errors included). */
export function mjSubmitErrorHandler(maxBodyMb: number) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    const gerr = toGatewayError(err, maxBodyMb);
    if (gerr.status >= 500 && gerr.code === 'internal_error') request.log.error({ err }, 'unhandled error');
    else if (gerr.status >= 500) request.log.warn({ code: gerr.code, status: gerr.status, error: gerr.message }, 'request failed');
    if (gerr.retryAfterSeconds !== undefined) reply.header('retry-after', String(gerr.retryAfterSeconds));
    void reply.code(gerr.status).send(encodeMjSubmitError(gerr));
  };
}
