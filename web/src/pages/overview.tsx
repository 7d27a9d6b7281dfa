import { useMemo, useState } from 'react';
import { get } from '../api.ts';
import { TimeChart } from '../components/time-chart.tsx';
import { ErrorBox, Field, PageHeader, TableBox } from '../components/ui.tsx';
import { useLoad } from '../components/ui.tsx';
import { fmtCompact, fmtInt, fmtMs, fmtPct, fmtUsd, fromLocalInput, toLocalInput } from '../format.ts';
import { useI18n, type MessageKey } from '../i18n/index.tsx';
import { alignLocal, isObj, num, readBuckets, stepLocal, toSeries, tzOffsetMinutes } from '../normalize.ts';

type Preset = '24h' | '7d' | '30d' | '90d' | 'custom';
const PRESETS: Array<{ id: Preset; label: MessageKey; hours: number; interval: 'hour' | 'day' }> = [
  { id: '24h', label: 'range.24h', hours: 24, interval: 'hour' },
  { id: '7d', label: 'range.7d', hours: 24 * 7, interval: 'hour' },
  { id: '30d', label: 'range.30d', hours: 24 * 30, interval: 'day' },
  { id: '90d', label: 'range.90d', hours: 24 * 90, interval: 'day' },
];

interface Range {
  start: number;
  end: number;
  interval: 'hour' | 'day';
}

function presetRange(p: Preset, now = Date.now()): Range {
  const def = PRESETS.find((x) => x.id === p) ?? PRESETS[0];
  // Ends with the current local hour (or day) so the newest bucket is whole and buckets match the server's.
  const end = stepLocal(alignLocal(now, def.interval), def.interval);
  let start = end;
  if (def.interval === 'hour') start = end - def.hours * 3_600_000;
  else for (let i = 0; i < def.hours / 24; i++) start = alignLocal(start - 12 * 3_600_000, 'day');
  return { start, end, interval: def.interval };
}

export function OverviewPage() {
  const { t, locale } = useI18n();
  const [preset, setPreset] = useState<Preset>('24h');
  const [range, setRange] = useState<Range>(() => presetRange('24h'));
  const [custom, setCustom] = useState(() => ({ start: toLocalInput(range.start), end: toLocalInput(range.end), interval: range.interval }));

  const { data, error, loading, reload } = useLoad(
    (signal) =>
      get<unknown>(
        '/usage',
        {
          start: Math.floor(range.start / 1000),
          end: Math.floor(range.end / 1000),
          interval: range.interval,
          group_by: 'model',
          tz_offset_minutes: tzOffsetMinutes(range.start),
        },
        signal,
      ),
    [range.start, range.end, range.interval],
  );

  const buckets = useMemo(() => readBuckets(data, 'model'), [data]);
  const series = useMemo(() => toSeries(buckets, range.start, range.end, range.interval), [buckets, range]);
  const totals = useMemo(() => {
    const server = isObj(data) && isObj(data.totals) ? data.totals : null;
    if (server) {
      return {
        requests: num(server, 'requests') ?? 0,
        tokens: num(server, 'total_tokens', 'tokens') ?? 0,
        cost: num(server, 'cost_usd', 'cost') ?? 0,
        errors: num(server, 'errors') ?? 0,
        latency: num(server, 'avg_latency_ms'),
        p95: num(server, 'p95_latency_ms'),
      };
    }
    let requests = 0;
    let tokens = 0;
    let cost = 0;
    let errors = 0;
    let latSum = 0;
    let latW = 0;
    for (const b of buckets) {
      requests += b.requests;
      tokens += b.tokens;
      cost += b.cost;
      errors += b.errors;
      if (b.latency !== null) {
        latSum += b.latency * Math.max(1, b.requests);
        latW += Math.max(1, b.requests);
      }
    }
    return { requests, tokens, cost, errors, latency: latW ? latSum / latW : null, p95: null as number | null };
  }, [buckets, data]);
  const byModel = useMemo(() => {
    const m = new Map<string, { requests: number; tokens: number; cost: number; errors: number }>();
    for (const b of buckets) {
      const k = b.group ?? '—';
      const e = m.get(k) ?? { requests: 0, tokens: 0, cost: 0, errors: 0 };
      e.requests += b.requests;
      e.tokens += b.tokens;
      e.cost += b.cost;
      e.errors += b.errors;
      m.set(k, e);
    }
    return [...m.entries()].sort((a, b) => b[1].requests - a[1].requests);
  }, [buckets]);

  const choose = (p: Preset) => {
    setPreset(p);
    if (p !== 'custom') setRange(presetRange(p));
  };
  const applyCustom = () => {
    const s = fromLocalInput(custom.start);
    const e = fromLocalInput(custom.end);
    if (s === undefined || e === undefined || e <= s) return;
    setRange({ start: s * 1000, end: e * 1000, interval: custom.interval });
  };
  const refresh = () => (preset === 'custom' ? reload() : setRange(presetRange(preset)));
  const pick = (f: (p: (typeof series)[number]) => number | null) => series.map((p) => ({ t: p.t, v: f(p) }));
  const compact = (v: number) => fmtCompact(v, locale);
  const empty = t('overview.noData');

  return (
    <>
      <PageHeader title={t('overview.title')}>
        <div className="segmented" role="group" aria-label={t('overview.range')} data-testid="range-picker">
          {PRESETS.map((p) => (
            <button key={p.id} type="button" className={preset === p.id ? 'active' : undefined} aria-pressed={preset === p.id} onClick={() => choose(p.id)} data-testid={`range-${p.id}`}>
              {t(p.label)}
            </button>
          ))}
          <button type="button" className={preset === 'custom' ? 'active' : undefined} aria-pressed={preset === 'custom'} onClick={() => choose('custom')} data-testid="range-custom">
            {t('range.custom')}
          </button>
        </div>
        <button type="button" className="btn" onClick={refresh} disabled={loading} data-testid="refresh">
          {t('common.refresh')}
        </button>
      </PageHeader>
      {preset === 'custom' ? (
        <form
          className="card filters"
          onSubmit={(e) => {
            e.preventDefault();
            applyCustom();
          }}
        >
          <Field label={t('filter.start')}>
            <input type="datetime-local" value={custom.start} onChange={(e) => setCustom({ ...custom, start: e.target.value })} />
          </Field>
          <Field label={t('filter.end')}>
            <input type="datetime-local" value={custom.end} onChange={(e) => setCustom({ ...custom, end: e.target.value })} />
          </Field>
          <Field label={t('overview.interval')}>
            <select value={custom.interval} onChange={(e) => setCustom({ ...custom, interval: e.target.value as 'hour' | 'day' })}>
              <option value="hour">{t('overview.hourly')}</option>
              <option value="day">{t('overview.daily')}</option>
            </select>
          </Field>
          <div className="filter-actions">
            <button type="submit" className="btn btn-primary">
              {t('common.apply')}
            </button>
          </div>
        </form>
      ) : null}
      <ErrorBox error={error} />
      <div className="tiles" data-testid="overview-tiles">
        <Tile label={t('metric.requests')} value={fmtInt(totals.requests, locale)} testId="tile-requests" />
        <Tile label={t('metric.tokens')} value={fmtInt(totals.tokens, locale)} testId="tile-tokens" />
        <Tile label={t('metric.cost')} value={fmtUsd(totals.cost, locale)} testId="tile-cost" />
        <Tile label={t('metric.errors')} value={`${fmtInt(totals.errors, locale)} (${fmtPct(totals.requests ? totals.errors / totals.requests : 0, locale)})`} testId="tile-errors" />
        <Tile label={t('metric.latency')} value={fmtMs(totals.latency, locale)} sub={totals.p95 !== null ? `p95 ≤ ${fmtMs(totals.p95, locale)}` : undefined} testId="tile-latency" />
      </div>
      <div className="charts">
        <TimeChart title={t('metric.requests')} points={pick((p) => p.requests)} kind="bar" interval={range.interval} locale={locale} format={compact} testId="chart-requests" emptyLabel={empty} />
        <TimeChart title={t('metric.tokens')} points={pick((p) => p.tokens)} kind="bar" interval={range.interval} locale={locale} format={compact} tone="accent" testId="chart-tokens" emptyLabel={empty} />
        <TimeChart title={t('metric.cost')} points={pick((p) => p.cost)} kind="bar" interval={range.interval} locale={locale} format={(v) => fmtUsd(v, locale)} tone="ok" testId="chart-cost" emptyLabel={empty} />
        <TimeChart title={t('metric.errors')} points={pick((p) => p.errors)} kind="bar" interval={range.interval} locale={locale} format={compact} tone="bad" testId="chart-errors" emptyLabel={empty} />
        <TimeChart
          title={t('overview.latencyMean')}
          points={pick((p) => p.latency)}
          extra={{ label: t('overview.latencyP95'), points: pick((p) => p.p95) }}
          kind="line"
          interval={range.interval}
          locale={locale}
          format={(v) => fmtMs(v, locale)}
          testId="chart-latency"
          emptyLabel={empty}
        />
      </div>
      <section className="card">
        <h2>{t('overview.byModel')}</h2>
        {byModel.length ? (
          <TableBox testId="by-model">
            <thead>
              <tr>
                <th>{t('field.model')}</th>
                <th className="num">{t('metric.requests')}</th>
                <th className="num">{t('metric.tokens')}</th>
                <th className="num">{t('metric.cost')}</th>
                <th className="num">{t('metric.errors')}</th>
              </tr>
            </thead>
            <tbody>
              {byModel.map(([model, v]) => (
                <tr key={model}>
                  <td>{model}</td>
                  <td className="num">{fmtInt(v.requests, locale)}</td>
                  <td className="num">{fmtInt(v.tokens, locale)}</td>
                  <td className="num">{fmtUsd(v.cost, locale)}</td>
                  <td className="num">{fmtInt(v.errors, locale)}</td>
                </tr>
              ))}
            </tbody>
          </TableBox>
        ) : (
          <p className="muted">{empty}</p>
        )}
      </section>
    </>
  );
}

function Tile({ label, value, sub, testId }: { label: string; value: string; sub?: string; testId: string }) {
  return (
    <div className="tile" data-testid={testId}>
      <div className="tile-label">{label}</div>
      <div className="tile-value">{value}</div>
      {sub ? <div className="tile-sub">{sub}</div> : null}
    </div>
  );
}
