import type { FastifyRequest } from 'fastify';
import type { IpMatcher } from '../core/ip-allow-list.ts';

/**
 * For writes made with a session cookie: a browser sends `Origin`, and it must name this site.
 * The site is the request's Host, or the `X-Forwarded-Host` a trusted proxy set (behind nginx
 * with `proxy_set_header Host $proxy_host` the Host is the upstream address, not the site).
 * No Origin (curl, old browsers) passes: SameSite=Strict already keeps other sites' cookies out.
 */
export function sameOrigin(request: FastifyRequest, trustedProxies: IpMatcher | undefined): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return false;
  }
  if (originHost === request.headers.host) return true;
  const forwarded = request.headers['x-forwarded-host'];
  const peer = request.socket.remoteAddress ?? '';
  if (typeof forwarded === 'string' && trustedProxies?.matches(peer)) return forwarded.split(',')[0].trim() === originHost;
  return false;
}
