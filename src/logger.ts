import type { FastifyBaseLogger } from 'fastify';
import pino, { type Logger } from 'pino';

/** Structured logs that never carry a secret: credential headers and `?key=` are redacted wherever they appear. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'switchyard' },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers["x-api-key"]',
          'req.headers["api-key"]',
          'req.headers["x-goog-api-key"]',
          'headers.authorization',
          'headers["x-api-key"]',
          'headers["api-key"]',
          'headers["x-goog-api-key"]',
          'api_key',
          '*.api_key',
          'admin_key',
          'key',
          'secret',
        ],
        censor: '[redacted]',
      },
      serializers: {
        req: (req: { method?: string; url?: string; id?: string }) => ({
          id: req.id,
          method: req.method,
          url: req.url?.replace(/([?&]key=)[^&]*/g, '$1[redacted]'),
        }),
      },
    },
    destination,
  );
}

type LogMethod = (...args: unknown[]) => void;
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * Fastify's per-request child logger, made only when the request logs something. pino's
 * `child()` serializes the bindings and sets up redaction for every request (about 0.7 KB
 * allocated each, in the allocation profile of the relay), and most requests log nothing.
 */
class LazyRequestLogger {
  #real: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: pino.Bindings,
    private readonly opts: pino.ChildLoggerOptions,
  ) {}

  private get real(): Logger {
    this.#real ??= this.parent.child(this.bindings, this.opts);
    return this.#real;
  }

  get level(): string {
    return this.#real?.level ?? this.opts.level ?? this.parent.level;
  }

  set level(level: string) {
    this.real.level = level;
  }

  private log(level: Level, args: unknown[]): void {
    if (this.#real === undefined && this.opts.level === undefined && !this.parent.isLevelEnabled(level)) return;
    (this.real[level] as LogMethod)(...args);
  }

  fatal(...args: unknown[]): void {
    this.log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.log('error', args);
  }
  warn(...args: unknown[]): void {
    this.log('warn', args);
  }
  info(...args: unknown[]): void {
    this.log('info', args);
  }
  debug(...args: unknown[]): void {
    this.log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.log('trace', args);
  }
  silent(): void {}

  child(bindings: pino.Bindings, opts?: pino.ChildLoggerOptions): Logger {
    return this.real.child(bindings, opts);
  }
}

/** For Fastify's `childLoggerFactory`: what Fastify and the routes call on request.log (the level methods, child, level). */
export function lazyChildLogger(logger: Logger, bindings: pino.Bindings, opts: pino.ChildLoggerOptions): FastifyBaseLogger {
  return new LazyRequestLogger(logger, bindings, opts) as unknown as FastifyBaseLogger;
}
