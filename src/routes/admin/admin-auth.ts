import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.ts';
import { hashSecret } from '../../metering/keys.ts';
import type { Services } from '../../services.ts';

/** onRequest hook: the admin key as `Authorization: Bearer`, compared by hash in constant time. */
export function adminAuth(services: Services) {
  const expected = services.adminKeyHash ? Buffer.from(services.adminKeyHash, 'hex') : undefined;
  return async (request: FastifyRequest): Promise<void> => {
    const m = /^Bearer\s+(.+)$/i.exec(String(request.headers.authorization ?? '').trim());
    const given = m ? Buffer.from(hashSecret(m[1].trim()), 'hex') : undefined;
    if (!expected || !given || !timingSafeEqual(expected, given)) {
      throw new GatewayError('invalid_admin_key', 'Invalid admin key: send it as "Authorization: Bearer <admin key>".', { publicCode: 'invalid_api_key' });
    }
  };
}
