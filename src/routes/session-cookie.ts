import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IpMatcher } from '../core/ip-allow-list.ts';

/** The portal's session cookie (users signed in to /portal). */
export const PORTAL_COOKIE = 'sy_session';

/** One cookie from the Cookie header (no attributes to parse on the way in). */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Secure when the client reached us over TLS: directly, or per the x-forwarded-proto of a trusted proxy. */
function overTls(request: FastifyRequest, trustedProxies: IpMatcher | undefined): boolean {
  if (request.protocol === 'https') return true;
  const peer = request.socket.remoteAddress ?? '';
  const proto = request.headers['x-forwarded-proto'];
  return trustedProxies !== undefined && trustedProxies.matches(peer) && typeof proto === 'string' && proto.split(',')[0].trim().toLowerCase() === 'https';
}

/** A session cookie: HttpOnly, SameSite=Strict, whole-site path, lasting as long as the session. */
export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, name: string, token: string, expiresAtMs: number, trustedProxies?: IpMatcher): void {
  const maxAge = Math.max(0, Math.floor((expiresAtMs - Date.now()) / 1000));
  const attrs = [`${name}=${encodeURIComponent(token)}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${maxAge}`];
  if (overTls(request, trustedProxies)) attrs.push('Secure');
  reply.header('set-cookie', attrs.join('; '));
}

export function clearSessionCookie(reply: FastifyReply, name: string): void {
  reply.header('set-cookie', `${name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
}
