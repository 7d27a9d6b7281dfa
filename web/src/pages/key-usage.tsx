import { useEffect, useMemo, useState } from 'react';
import { get } from '../api.ts';
import { TimeChart } from '../components/time-chart.tsx';
import { Empty, ErrorBox, Field, Loading, PageHeader, TableBox, useLoad } from '../components/ui.tsx';
import { fmtDate, fmtInt, fmtUsd } from '../format.ts';
import { useI18n } from '../i18n/index.tsx';
import { alignLocal, readBuckets, toSeries, tzOffsetMinutes, type Bucket } from '../normalize.ts';
import { navigate } from '../router.ts';
import { listKeys, type ApiKey } from './keys.tsx';

function thisMonth(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

/** The month as [start, end) in local time; the server cuts its days there (tz_offset_minutes). */
function monthRange(month: string): { start: number; end: number } {
  const [y, m] = month.split('-').map(Number);
  return { start: new Date(y, m - 1, 1).getTime(), end: new Date(y, m, 1).getTime() };
}

function offsetLabel(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const a = Math.abs(minutes);
  return `${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

function csvCell(v: string | number): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The local calendar day of a time, YYYY-MM-DD. */
function isoDay(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

export function toCsv(rows: Bucket[]): string {
  const head = ['date', 'requests', 'prompt_tokens', 'completion_tokens', 'total_tokens', 'cost_usd', 'errors'];
  const lines = rows.map((r) => [isoDay(r.t), r.requests, r.inputTokens, r.outputTokens, r.tokens, Number(r.cost.toFixed(6)), r.errors].map(csvCell).join(','));
  return `${[head.join(','), ...lines].join('\r\n')}\r\n`;
}

export function KeyUsagePage({ query }: { query: URLSearchParams }) {
  const { t, locale } = useI18n();
  const keyId = query.get('key') ?? '';
  const month = /^\d{4}-\d{2}$/.test(query.get('month') ?? '') ? (query.get('month') as string) : thisMonth();
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [keysError, setKeysError] = useState<unknown>(null);

  useEffect(() => {
    listKeys(undefined, 200).then(setKeys, setKeysError);
  }, []);

  const go = (k: string, m: string) => navigate(`/usage?key=${encodeURIComponent(k)}&month=${m}`, { replace: true });
  const { start, end } = monthRange(month);
  const { data, error, loading } = useLoad(
    (signal) => (keyId ? get<unknown>(`/keys/${encodeURIComponent(keyId)}/usage`, { start: start / 1000, end: end / 1000, group_by: 'day', tz_offset_minutes: tzOffsetMinutes(start) }, signal) : Promise.resolve(null)),
    [keyId, month],
  );
  const days = useMemo(() => {
    // Several groups per day (by model, say) sum into one row per day.
    const byDay = new Map<string, Bucket>();
    for (const b of readBuckets(data)) {
      const d = isoDay(b.t);
      const e = byDay.get(d);
      if (!e) byDay.set(d, { ...b, t: alignLocal(b.t, 'day') });
      else {
        e.requests += b.requests;
        e.tokens += b.tokens;
        e.inputTokens += b.inputTokens;
        e.outputTokens += b.outputTokens;
        e.cost += b.cost;
        e.errors += b.errors;
      }
    }
    return [...byDay.values()].sort((a, b) => a.t - b.t);
  }, [data]);
  const total = days.reduce((a, d) => ({ requests: a.requests + d.requests, tokens: a.tokens + d.tokens, cost: a.cost + d.cost }), { requests: 0, tokens: 0, cost: 0 });
  const series = useMemo(() => toSeries(days, start, end, 'day'), [days, start, end]);
  const key = keys?.find((k) => k.id === keyId);
  const [csvUrl, setCsvUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!days.length) return setCsvUrl(null);
    const url = URL.createObjectURL(new Blob([toCsv(days)], { type: 'text/csv;charset=utf-8' }));
    setCsvUrl(url);
    return () => URL.revokeObjectURL(url);
  }, [days]);
  const fileName = `usage-${(key?.name ?? keyId).replace(/[^\w.-]+/g, '_')}-${month}.csv`;

  return (
    <>
      <PageHeader title={t('usage.title')}>
        {csvUrl ? (
          <a className="btn btn-primary" href={csvUrl} download={fileName} data-testid="export-csv">
            {t('usage.export')}
          </a>
        ) : (
          <button type="button" className="btn btn-primary" disabled>
            {t('usage.export')}
          </button>
        )}
      </PageHeader>
      <div className="card filters">
        <Field label={t('usage.key')}>
          <select value={keyId} onChange={(e) => go(e.target.value, month)} data-testid="usage-key">
            <option value="">{t('usage.chooseKey')}</option>
            {keyId && !key ? <option value={keyId}>{keyId}</option> : null}
            {(keys ?? []).map((k) => (
              <option key={k.id} value={k.id}>
                {k.name} ({k.id})
              </option>
            ))}
          </select>
        </Field>
        <Field label={t('usage.month')}>
          <input type="month" value={month} onChange={(e) => e.target.value && go(keyId, e.target.value)} data-testid="usage-month" />
        </Field>
      </div>
      <ErrorBox error={keysError ?? error} />
      {!keyId ? (
        <Empty>{t('usage.pickKey')}</Empty>
      ) : loading && !data ? (
        <Loading />
      ) : (
        <>
          <div className="tiles">
            <div className="tile">
              <div className="tile-label">{t('metric.requests')}</div>
              <div className="tile-value" data-testid="usage-total-requests">
                {fmtInt(total.requests, locale)}
              </div>
            </div>
            <div className="tile">
              <div className="tile-label">{t('metric.tokens')}</div>
              <div className="tile-value">{fmtInt(total.tokens, locale)}</div>
            </div>
            <div className="tile">
              <div className="tile-label">{t('metric.cost')}</div>
              <div className="tile-value">{fmtUsd(total.cost, locale)}</div>
            </div>
          </div>
          <TimeChart title={t('metric.cost')} points={series.map((p) => ({ t: p.t, v: p.cost }))} kind="bar" interval="day" locale={locale} format={(v) => fmtUsd(v, locale)} tone="ok" emptyLabel={t('overview.noData')} testId="usage-chart" />
          {days.length === 0 ? (
            <Empty>{t('usage.noUsage')}</Empty>
          ) : (
            <TableBox testId="usage-table">
              <thead>
                <tr>
                  <th>{t('field.date')}</th>
                  <th className="num">{t('metric.requests')}</th>
                  <th className="num">{t('field.prompt_tokens')}</th>
                  <th className="num">{t('field.completion_tokens')}</th>
                  <th className="num">{t('metric.tokens')}</th>
                  <th className="num">{t('metric.cost')}</th>
                </tr>
              </thead>
              <tbody>
                {days.map((d) => (
                  <tr key={d.t}>
                    <td>{fmtDate(d.t, locale)}</td>
                    <td className="num">{fmtInt(d.requests, locale)}</td>
                    <td className="num">{fmtInt(d.inputTokens, locale)}</td>
                    <td className="num">{fmtInt(d.outputTokens, locale)}</td>
                    <td className="num">{fmtInt(d.tokens, locale)}</td>
                    <td className="num">{fmtUsd(d.cost, locale)}</td>
                  </tr>
                ))}
              </tbody>
            </TableBox>
          )}
          <p className="muted small">{t('usage.tzNote', { offset: offsetLabel(tzOffsetMinutes(start)) })}</p>
        </>
      )}
    </>
  );
}
