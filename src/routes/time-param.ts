import { GatewayError } from '../core/errors.ts';

/** Unix seconds or ISO 8601 (a bare date is UTC midnight) to unix milliseconds. */
export function parseTimeParam(value: unknown, param: string): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return Math.round(value * 1000);
  if (typeof value === 'string') {
    if (/^-?\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return ms;
  }
  throw new GatewayError('invalid_request_error', `Invalid '${param}': expected unix seconds or an ISO 8601 time, got ${JSON.stringify(value)}.`, { param, publicCode: 'invalid_value' });
}
