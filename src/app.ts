import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { lazyChildLogger } from './logger.ts';
import { GatewayError } from './core/errors.ts';
import './http-types.ts';
import { protocolForUrl, renderError, toGatewayError } from './protocols/render-error.ts';
import { adminRoutes } from './routes/admin/index.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { geminiRoutes } from './routes/gemini/index.ts';
import { midjourneyRoutes } from './routes/mj/index.ts';
import { portalRoutes } from './routes/portal/index.ts';
import { v1Routes } from './routes/v1/index.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { accessLogHook } from './observability/access-log.ts';
import type { Services } from './services.ts';

const MIB = 1024 * 1024;

let idCounter = 0;
const idPrefix = randomBytes(6).toString('hex');

/** `req_` + a per-process random prefix + a counter: unique, cheap, and never reused within a process. */
function newRequestId(): string {
  idCounter = (idCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `req_${idPrefix}${idCounter.toString(36).padStart(8, '0')}`;
}

/** Builds the HTTP app (no listen, no globals): main.ts and tests call it with their own services. */
export async function buildApp(services: Services): Promise<FastifyInstance> {
  const maxBodyMb = services.config.limits.max_body_mb;
  const app = Fastify({
    loggerInstance: services.log as FastifyBaseLogger,
    // One usage record per request is the access log; Fastify's two log lines per request would cost CPU on the hot path.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: Math.floor(maxBodyMb * MIB),
    // Always the gateway's own: the id keys the usage record, so a client's x-request-id (reused, or
    // another customer's) must never decide which record a request's charge lands in.
    genReqId: () => newRequestId(),
    return503OnClosing: true,
    keepAliveTimeout: 75_000,
    routerOptions: { ignoreTrailingSlash: true },
  });

  // The request's child logger is made the first time the request logs (most never do).
  app.setChildLoggerFactory((logger, bindings, opts) => lazyChildLogger(logger as Logger, bindings, opts));
  app.decorateRequest('apiKey', null);
  app.decorateRequest('rawBody', undefined);
  app.decorateRequest('batch', null);

  // Keep the raw bytes: same-protocol traffic is forwarded as received.
  const parseJson = (req: { rawBody: Buffer | undefined }, body: Buffer, done: (err: Error | null, value?: unknown) => void): void => {
    req.rawBody = body;
    if (body.length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(body.toString('utf8')));
    } catch (err) {
      done(new GatewayError('invalid_json', `We could not parse the JSON body of your request: ${(err as Error).message}.`, { publicCode: null }));
    }
  };
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, parseJson);
  // Uploads stay unread here: the upload routes stream them to disk with their own size limit.
  app.addContentTypeParser('multipart/form-data', (_request, _payload, done) => done(null));
  // Clients that forget the content type (curl -d) still mean JSON.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, parseJson);

  // A callback hook, not an async one: no promise per request for a header.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });

  app.setErrorHandler((err, request, reply) => {
    const gerr = toGatewayError(err, maxBodyMb);
    if (gerr.code === 'rate_limit_exceeded' || gerr.code === 'insufficient_quota') services.metrics?.rejected(gerr.code);
    if (gerr.status >= 500 && gerr.code === 'internal_error') request.log.error({ err }, 'unhandled error');
    else if (gerr.status >= 500) request.log.warn({ code: gerr.code, status: gerr.status, error: gerr.message }, 'request failed');
    const protocol = request.routeOptions.config?.protocol ?? protocolForUrl(request.url);
    const { status, body } = renderError(protocol, gerr);
    if (gerr.retryAfterSeconds !== undefined) reply.header('retry-after', String(gerr.retryAfterSeconds));
    void reply.code(status).send(body);
  });

  app.setNotFoundHandler((request, reply) => {
    const err = new GatewayError('unknown_url', `Invalid URL (${request.method} ${request.url.split('?')[0]})`, { publicCode: null });
    const { status, body } = renderError(protocolForUrl(request.url), err);
    void reply.code(status).send(body);
  });

  // Only when asked for: a hook per request costs on the hot path.
  if (services.config.log_requests) app.addHook('onResponse', accessLogHook());

  app.get('/health', { config: { public: true } }, async () => ({ status: 'ok' }));
  await app.register(metricsRoutes(services));
  await app.register(adminRoutes(services), { prefix: '/admin' });
  await app.register(dashboardRoutes());
  await app.register(portalRoutes(services), { prefix: '/portal' });
  // Every /v1 route also answers under /v1-openai (relay services publish both).
  await app.register(v1Routes(services), { prefix: '/v1' });
  await app.register(v1Routes(services), { prefix: '/v1-openai' });
  await app.register(geminiRoutes(services), { prefix: '/v1beta' });
  // The Midjourney-proxy task API: /mj/... and /mj-fast/mj/..., /mj-relax/mj/..., /mj-turbo/mj/...
  await app.register(midjourneyRoutes(services));
  // Batch lines run through this same app, with every stage a client request gets.
  services.batchRunner.setExecutor(async (req) => {
    const res = await app.inject({ method: req.method, url: req.url, headers: req.headers, payload: req.payload });
    return { statusCode: res.statusCode, headers: res.headers, body: res.body };
  });
  return app;
}

/**
 * Closes the app: in-flight requests and streams finish, idle connections close at
 * once, and after `drainMs` whatever is left is cut (a client that opened a
 * connection and never sent a request would otherwise hold the close until Node's
 * headers timeout).
 */
export async function closeApp(app: FastifyInstance, drainMs: number): Promise<void> {
  const force = setTimeout(() => app.server.closeAllConnections(), drainMs);
  force.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(force);
  }
}
