import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { createLogger } from '../../src/logger.ts';

/** A real pino logger (the gateway's own settings: redaction, serializers) whose lines are parsed into `lines`. */
export function capturingLogger<T = Record<string, unknown>>(level = 'info'): { log: Logger; lines: T[] } {
  const lines: T[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as T);
      cb();
    },
  });
  return { log: createLogger(level, stream), lines };
}
