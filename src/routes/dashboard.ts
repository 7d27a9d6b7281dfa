import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Where `npm run build -w web` puts the dashboard: web/dist beside src/ (and beside dist/ once compiled). */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('../../web/dist/', import.meta.url));

/**
 * No inline script or style, nothing from another origin, no framing, no plugins. The app
 * only ever fetches /admin on its own origin and draws its charts as SVG.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "worker-src 'none'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Vite names what it emits under assets/ by content hash, so those never change under one URL. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Everything else (index.html above all) is revalidated on every load, by ETag. */
const REVALIDATE = 'no-cache';

interface StaticFile {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
  etag: string;
  cache: string;
}

/** Every file of the build, read once into memory (the build is a few hundred KB). */
function loadBuild(root: string): Map<string, StaticFile> | null {
  if (!existsSync(join(root, 'index.html'))) return null;
  const files = new Map<string, StaticFile>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && statSync(full).isFile()) {
        const rel = relative(root, full).split(sep).join('/');
        const body = readFileSync(full);
        const type = TYPES[extname(rel).toLowerCase()] ?? 'application/octet-stream';
        const compressible = /^(text\/|application\/(json|manifest)|image\/svg)/.test(type) && body.length > 1024;
        files.set(rel, {
          body,
          gzip: compressible ? gzipSync(body, { level: 9 }) : null,
          type,
          etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
          cache: rel.startsWith('assets/') ? IMMUTABLE : REVALIDATE,
        });
      }
    }
  };
  walk(root);
  return files;
}

/**
 * The path below /dashboard/ as a key of the build, or null when it could name anything
 * outside it. Only files found in the build at load time are ever served, so a path cannot
 * reach the disk; this refuses the tricks anyway so they answer 404 rather than the app.
 */
export function dashboardPath(url: string): string | null {
  const raw = url.split('?')[0].replace(/^\/dashboard\/?/, '');
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    return null;
  }
  if (/[\0\\]/.test(path)) return null;
  const parts = path.split('/');
  if (parts.some((p) => p === '..' || p === '.')) return null;
  return parts.filter(Boolean).join('/');
}

export interface DashboardOptions {
  /** The built dashboard; web/dist by default. */
  root?: string;
}

/**
 * GET /dashboard and /dashboard/*: the dashboard's static build under a strict CSP.
 * Client routes (no file extension, outside assets/) fall back to index.html.
 */
export function dashboardRoutes(opts: DashboardOptions = {}) {
  const root = opts.root ?? DEFAULT_DASHBOARD_DIR;
  return async function register(app: FastifyInstance): Promise<void> {
    let build = loadBuild(root);

    const send = (request: FastifyRequest, reply: FastifyReply, file: StaticFile, status = 200): FastifyReply => {
      reply.headers(SECURITY_HEADERS).header('cache-control', file.cache).header('etag', file.etag).header('vary', 'accept-encoding');
      if (status === 200 && request.headers['if-none-match'] === file.etag) return reply.code(304).send();
      reply.code(status).type(file.type);
      if (file.gzip && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) {
        return reply.header('content-encoding', 'gzip').header('content-length', String(file.gzip.length)).send(file.gzip);
      }
      return reply.header('content-length', String(file.body.length)).send(file.body);
    };

    const notFound = (reply: FastifyReply, message: string): FastifyReply =>
      reply.code(404).headers(SECURITY_HEADERS).header('cache-control', REVALIDATE).type('text/plain; charset=utf-8').send(message);

    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      // A gateway started before the first build picks the build up once it appears.
      build ??= loadBuild(root);
      if (!build) {
        return reply
          .code(503)
          .headers(SECURITY_HEADERS)
          .header('cache-control', 'no-store')
          .type('text/plain; charset=utf-8')
          .send('The dashboard has not been built. Run `npm run build:web` (npm install does it) and reload.\n');
      }
      const path = dashboardPath(request.url);
      if (path === null) return notFound(reply, 'Not found.\n');
      const file = path ? build.get(path) : undefined;
      if (file) return send(request, reply, file);
      // A missing asset is a 404, never the app's HTML in its place.
      if (path.startsWith('assets/') || extname(path) !== '') return notFound(reply, 'Not found.\n');
      return send(request, reply, build.get('index.html')!);
    };

    app.get('/dashboard', { config: { public: true } }, handler);
    app.get('/dashboard/*', { config: { public: true } }, handler);
  };
}
