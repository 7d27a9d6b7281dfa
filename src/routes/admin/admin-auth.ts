import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.ts';
import { hashSecret } from '../../metering/keys.ts';
import type { Services } from '../../services.ts';
import { sameOrigin } from '../same-origin.ts';
import { readCookie } from '../session-cookie.ts';

/** The dashboard's session cookie. */
export const ADMIN_COOKIE = 'sy_admin';

export interface AdminSession {
  token: string;
  /** Unix ms. */
  expiresAt: number;
}

/** The session a request was let in with (none for a Bearer admin key). */
const sessionsOf = new WeakMap<FastifyRequest, AdminSession>();

export function adminSessionOf(request: FastifyRequest): AdminSession | undefined {
  return sessionsOf.get(request);
}

/** Whether `given` is the admin key, compared by hash in constant time. */
export function isAdminKey(services: Services, given: string): boolean {
  if (!services.adminKeyHash) return false;
  return timingSafeEqual(Buffer.from(services.adminKeyHash, 'hex'), Buffer.from(hashSecret(given), 'hex'));
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * onRequest hook of /admin: the admin key as `Authorization: Bearer`, or a live admin session
 * (the `sy_admin` cookie, checked against the shared session store on every request, so a
 * sign-out or expiry counts at once on every instance). Routes marked public (signing in) pass.
 */
export function adminAuth(services: Services) {
  return async (request: FastifyRequest): Promise<void> => {
    if (request.routeOptions.config?.public) return;
    const header = request.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer\s+(.+)$/i.exec(header.trim());
      if (m && isAdminKey(services, m[1].trim())) return;
      throw invalidAdminKey();
    }
    const token = readCookie(request, ADMIN_COOKIE);
    if (!token) throw invalidAdminKey();
    const session = await services.sessions.resolve('admin', token);
    // A session made with an admin key that has since been replaced ends with it.
    if (!session || session.subject !== adminSessionSubject(services)) {
      throw new GatewayError('invalid_admin_key', 'Your admin session has expired or was signed out: sign in again.', { publicCode: 'session_expired' });
    }
    // SameSite=Strict keeps other sites' requests from carrying the cookie; a browser's Origin says the same for writes.
    const origin = request.headers.origin;
    if (!SAFE_METHODS.has(request.method) && origin !== undefined && !sameOrigin(request, services.trustedProxies)) {
      throw new GatewayError('invalid_request_error', 'Cross-origin admin requests are not accepted with a session cookie.', { status: 403, publicCode: 'cross_origin' });
    }
    sessionsOf.set(request, { token, expiresAt: session.expiresAt });
  };
}

/** Admin sessions are bound to the admin key they were made with (a prefix of its hash). */
export function adminSessionSubject(services: Services): string {
  return `admin:${(services.adminKeyHash ?? '').slice(0, 16)}`;
}

function invalidAdminKey(): GatewayError {
  return new GatewayError('invalid_admin_key', 'Invalid admin key: send it as "Authorization: Bearer <admin key>", or sign in at POST /admin/session.', {
    publicCode: 'invalid_api_key',
  });
}
