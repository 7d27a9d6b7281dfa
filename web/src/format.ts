/** Display helpers; every one takes the UI's locale so numbers and dates follow the language. */

/** Unix seconds, unix ms or an ISO string, as ms (null when absent or unreadable). */
export function toMs(v: unknown): number | null {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'number' && Number.isFinite(v)) return v < 1e11 ? v * 1000 : v;
  if (typeof v === 'string') {
    if (/^\d+(\.\d+)?$/.test(v)) return toMs(Number(v));
    const ms = Date.parse(v);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

export function fmtDateTime(v: unknown, locale: string): string {
  const ms = toMs(v);
  if (ms === null) return '—';
  return new Intl.DateTimeFormat(locale, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(ms);
}

export function fmtDate(v: unknown, locale: string): string {
  const ms = toMs(v);
  if (ms === null) return '—';
  return new Intl.DateTimeFormat(locale, { year: 'numeric', month: '2-digit', day: '2-digit' }).format(ms);
}

/** A chart's x label: hour and minute for hourly buckets, month and day for daily ones. */
export function fmtBucket(ms: number, interval: 'hour' | 'day', locale: string): string {
  return interval === 'hour'
    ? new Intl.DateTimeFormat(locale, { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit' }).format(ms)
    : new Intl.DateTimeFormat(locale, { month: 'numeric', day: 'numeric' }).format(ms);
}

export function fmtInt(v: unknown, locale: string): string {
  const n = Number(v);
  if (v === null || v === undefined || !Number.isFinite(n)) return '—';
  return new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }).format(n);
}

export function fmtCompact(v: number, locale: string): string {
  return new Intl.NumberFormat(locale, { notation: 'compact', maximumFractionDigits: 1 }).format(v);
}

export function fmtUsd(v: unknown, locale: string): string {
  const n = Number(v);
  if (v === null || v === undefined || !Number.isFinite(n)) return '—';
  const digits = n !== 0 && Math.abs(n) < 0.01 ? 6 : 2;
  return new Intl.NumberFormat(locale, { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: digits }).format(n);
}

export function fmtMs(v: unknown, locale: string): string {
  const n = Number(v);
  if (v === null || v === undefined || !Number.isFinite(n)) return '—';
  return `${new Intl.NumberFormat(locale, { maximumFractionDigits: n < 10 ? 1 : 0 }).format(n)} ms`;
}

export function fmtPct(v: unknown, locale: string): string {
  const n = Number(v);
  if (v === null || v === undefined || !Number.isFinite(n)) return '—';
  return new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 }).format(n);
}

export function fmtBytes(v: unknown, locale: string): string {
  const n = Number(v);
  if (v === null || v === undefined || !Number.isFinite(n)) return '—';
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${new Intl.NumberFormat(locale, { maximumFractionDigits: i ? 1 : 0 }).format(x)} ${units[i]}`;
}

/** A `datetime-local` input's value for a time (local time, minutes). */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Unix seconds from a `datetime-local` or `date` input's value, or undefined. */
export function fromLocalInput(v: string): number | undefined {
  if (!v) return undefined;
  const ms = new Date(v.length === 10 ? `${v}T00:00` : v).getTime();
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}
