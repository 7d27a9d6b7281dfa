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
