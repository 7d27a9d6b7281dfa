import type { z } from 'zod';
import { GatewayError } from './errors.ts';

/**
 * Validates a JSON object body with a zod schema; the first problem becomes a
 * 400 naming the field (`Invalid 'rpm': Too small ...`), as the admin API answers.
 */
export function parseJsonBody<T>(schema: z.ZodType<T>, body: unknown, base?: Record<string, unknown>): T {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError('invalid_request_error', 'The request body must be a JSON object.', { publicCode: null });
  }
  const r = schema.safeParse(base ? { ...base, ...(body as Record<string, unknown>) } : body);
  if (!r.success) {
    const issue = r.error.issues[0];
    const param = issue.path.map(String).join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(',') : '');
    throw new GatewayError('invalid_request_error', `Invalid '${param}': ${issue.message}.`, { param: param || null, publicCode: 'invalid_value' });
  }
  return r.data;
}
