import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../../core/errors.ts';
import type { Services } from '../../services.ts';
import { clearSessionCookie, readCookie, setSessionCookie } from '../session-cookie.ts';
import { ADMIN_COOKIE, adminSessionOf, adminSessionSubject, isAdminKey } from './admin-auth.ts';
import { adminRoute } from './admin-route.ts';

const sessionSchema = z.object({
  object: z.literal('admin_session'),
  expires_at: z.number().int().nullable().describe('Unix seconds; null when signed in with the admin key itself.'),
});

/**
 * /admin/session: the dashboard trades the admin key for an HttpOnly, SameSite=Strict cookie
 * (the key itself never stays in the browser). Sessions live in the shared store, so every
 * instance honours them and a sign-out ends them everywhere.
 */
export function sessionRoutes(services: Services) {
  return async function register(app: FastifyInstance): Promise<void> {
    const ttlMs = services.config.admin_session_ttl_minutes * 60_000;

    adminRoute(app, {
      method: 'POST',
      url: '/session',
      tag: 'Session',
      summary: 'Sign in: exchange the admin key for a session cookie (sy_admin)',
      public: true,
      body: z.strictObject({ admin_key: z.string().min(1) }),
      response: sessionSchema,
      handler: async ({ body, request, reply }) => {
        if (!isAdminKey(services, body.admin_key)) {
          throw new GatewayError('invalid_admin_key', 'Invalid admin key.', { param: 'admin_key', publicCode: 'invalid_api_key' });
        }
        const session = await services.sessions.create('admin', adminSessionSubject(services), ttlMs);
        setSessionCookie(request, reply, ADMIN_COOKIE, session.token, session.expiresAt, services.trustedProxies);
        reply.header('cache-control', 'no-store');
        return { object: 'admin_session', expires_at: Math.floor(session.expiresAt / 1000) };
      },
    });

    adminRoute(app, {
      method: 'GET',
      url: '/session',
      tag: 'Session',
      summary: 'The current session (401 when signed out or expired)',
      response: sessionSchema,
      handler: ({ request }) => {
        const session = adminSessionOf(request);
        return { object: 'admin_session', expires_at: session ? Math.floor(session.expiresAt / 1000) : null };
      },
    });

    adminRoute(app, {
      method: 'DELETE',
      url: '/session',
      tag: 'Session',
      summary: 'Sign out: ends the session on every instance and clears the cookie',
      public: true,
      response: z.object({ object: z.literal('admin_session'), deleted: z.literal(true) }),
      handler: async ({ request, reply }) => {
        const token = readCookie(request, ADMIN_COOKIE);
        if (token) await services.sessions.revoke(token);
        clearSessionCookie(reply, ADMIN_COOKIE);
        return { object: 'admin_session', deleted: true };
      },
    });
  };
}
