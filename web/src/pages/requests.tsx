import { useEffect, useState, type FormEvent } from 'react';
import { get } from '../api.ts';
import { Badge, Empty, ErrorBox, Field, Loading, PageHeader, TableBox, useLoad } from '../components/ui.tsx';
import { fmtDateTime, fmtInt, fmtMs, fmtUsd, fromLocalInput, toLocalInput } from '../format.ts';
import { useI18n, type MessageKey } from '../i18n/index.tsx';
import { isObj, listOf, nextCursor, num, str, type Obj } from '../normalize.ts';
import { cameFrom, href, linkHandler, navigate } from '../router.ts';

const PAGE = 50;
const FILTERS = ['start', 'end', 'key_id', 'model', 'upstream', 'status'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

function statusTone(s: number | null): 'ok' | 'warn' | 'bad' | 'off' {
  if (s === null) return 'off';
  if (s < 400) return 'ok';
  if (s === 429 || s < 500) return 'warn';
  return 'bad';
}

/** The filters live in the URL, so a filtered view can be reloaded, shared and gone back to. */
function filtersFrom(q: URLSearchParams): Filters {
  const f = {} as Filters;
  for (const k of FILTERS) f[k] = q.get(k) ?? '';
  return f;
}

function toQuery(f: Filters): Record<string, string | number | undefined> {
  return {
    start: fromLocalInput(f.start),
    end: fromLocalInput(f.end),
    key_id: f.key_id.trim() || undefined,
    model: f.model.trim() || undefined,
    upstream: f.upstream.trim() || undefined,
    status: f.status.trim() || undefined,
  };
}

export function RequestsPage({ query }: { query: URLSearchParams }) {
  const { t, locale } = useI18n();
  const applied = filtersFrom(query);
  const appliedKey = FILTERS.map((k) => applied[k]).join('\u0000');
  const [form, setForm] = useState<Filters>(applied);
  const [rows, setRows] = useState<Obj[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);

  // appliedKey stands for the URL's filters: the form and the page follow them, not the query object's identity.
  useEffect(() => setForm(filtersFrom(query)), [appliedKey]);

  useEffect(() => {
    const ctrl = new AbortController();
    setLoading(true);
    get<unknown>('/requests', { ...toQuery(applied), limit: PAGE }, ctrl.signal).then(
      (body) => {
        const list = listOf(body);
        setRows(list);
        setCursor(nextCursor(body, list, 'request_id'));
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (ctrl.signal.aborted) return;
        setError(err);
        setLoading(false);
      },
    );
    return () => ctrl.abort();
  }, [appliedKey, tick]);

  const more = async () => {
    if (!cursor) return;
    try {
      const body = await get<unknown>('/requests', { ...toQuery(applied), limit: PAGE, cursor });
      const list = listOf(body);
      setRows((r) => [...r, ...list]);
      setCursor(nextCursor(body, list, 'request_id'));
    } catch (err) {
      setError(err);
    }
  };

  const apply = (e: FormEvent) => {
    e.preventDefault();
    const params = new URLSearchParams();
    for (const k of FILTERS) if (form[k].trim()) params.set(k, form[k].trim());
    const qs = params.toString();
    const to = `/requests${qs ? `?${qs}` : ''}`;
    if (qs === query.toString()) setTick((n) => n + 1);
    else navigate(to);
  };
  const clear = () => navigate('/requests');
  const set = (k: keyof Filters) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const active = FILTERS.filter((k) => applied[k]).length;
  // Phones start with the filters folded away; laptops show them open.
  const [wide] = useState(() => window.matchMedia('(min-width: 761px)').matches);
  const lastHour = () => setForm({ ...form, start: toLocalInput(Date.now() - 3_600_000), end: '' });

  return (
    <>
      <PageHeader title={t('requests.title')}>
        <button type="button" className="btn" onClick={() => setTick((n) => n + 1)} data-testid="refresh">
          {t('common.refresh')}
        </button>
      </PageHeader>
      <details className="card filter-box" open={wide} data-testid="request-filters">
        <summary>
          {t('requests.filters')}
          {active ? ` (${active})` : ''}
        </summary>
        <form className="filters" onSubmit={apply}>
          <Field label={t('filter.start')}>
            <input type="datetime-local" value={form.start} onChange={set('start')} />
          </Field>
          <Field label={t('filter.end')}>
            <input type="datetime-local" value={form.end} onChange={set('end')} />
          </Field>
          <Field label={t('field.key_id')}>
            <input value={form.key_id} onChange={set('key_id')} placeholder="key_…" data-testid="filter-key" />
          </Field>
          <Field label={t('field.model')}>
            <input value={form.model} onChange={set('model')} data-testid="filter-model" />
          </Field>
          <Field label={t('field.upstream')}>
            <input value={form.upstream} onChange={set('upstream')} />
          </Field>
          <Field label={t('field.status')} hint={t('requests.statusHint')}>
            <input value={form.status} onChange={set('status')} data-testid="filter-status" />
          </Field>
          <div className="filter-actions">
            <button type="submit" className="btn btn-primary" data-testid="apply-filters">
              {t('common.apply')}
            </button>
            <button type="button" className="btn" onClick={lastHour}>
              {t('requests.lastHour')}
            </button>
            <button type="button" className="btn" onClick={clear}>
              {t('common.clear')}
            </button>
          </div>
        </form>
      </details>
      <ErrorBox error={error} />
      {loading && !rows.length ? (
        <Loading />
      ) : rows.length === 0 ? (
        <Empty>{t('requests.none')}</Empty>
      ) : (
        <TableBox testId="requests-table">
          <thead>
            <tr>
              <th>{t('field.time')}</th>
              <th>{t('field.request_id')}</th>
              <th className="opt">{t('field.key_id')}</th>
              <th className="opt">{t('field.endpoint')}</th>
              <th>{t('field.model')}</th>
              <th className="opt">{t('field.upstream')}</th>
              <th>{t('field.status')}</th>
              <th className="num">{t('metric.tokens')}</th>
              <th className="num">{t('metric.cost')}</th>
              <th className="num">{t('metric.latency')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => {
              const id = str(r, 'request_id', 'id') ?? '';
              const status = num(r, 'status', 'status_code');
              const to = `/requests/${encodeURIComponent(id)}`;
              return (
                <tr key={id} data-testid="request-row" data-request-id={id}>
                  <td className="small nowrap">{fmtDateTime(r.created_at ?? r.time, locale)}</td>
                  <td className="mono small">
                    <a href={href(to)} onClick={linkHandler(to)}>
                      {id}
                    </a>
                  </td>
                  <td className="small opt">
                    {str(r, 'key_name') ? <div>{str(r, 'key_name')}</div> : null}
                    <div className="mono muted">{str(r, 'key_id') ?? '—'}</div>
                  </td>
                  <td className="small opt">{str(r, 'endpoint') ?? '—'}</td>
                  <td>{str(r, 'model') ?? '—'}</td>
                  <td className="opt">{str(r, 'upstream') ?? '—'}</td>
                  <td>
                    <Badge tone={statusTone(status)}>{status ?? '—'}</Badge>
                    {str(r, 'error_code') ? <div className="muted small">{str(r, 'error_code')}</div> : null}
                  </td>
                  <td className="num">{fmtInt(num(r, 'total_tokens') ?? (num(r, 'prompt_tokens') ?? 0) + (num(r, 'completion_tokens') ?? 0), locale)}</td>
                  <td className="num">{fmtUsd(num(r, 'cost_usd', 'cost'), locale)}</td>
                  <td className="num">{fmtMs(num(r, 'latency_ms'), locale)}</td>
                </tr>
              );
            })}
          </tbody>
        </TableBox>
      )}
      {cursor ? (
        <button type="button" className="btn more" onClick={more} data-testid="load-more">
          {t('common.loadMore')}
        </button>
      ) : null}
    </>
  );
}

/** Field labels the detail view knows; any other field shows under its own name. */
const DETAIL_LABELS: Record<string, MessageKey> = {
  request_id: 'field.request_id',
  created_at: 'field.time',
  key_id: 'field.key_id',
  key_name: 'field.key_name',
  endpoint: 'field.endpoint',
  model: 'field.model',
  requested_model: 'field.requested_model',
  upstream: 'field.upstream',
  upstream_model: 'field.upstream_model',
  status: 'field.status',
  error_code: 'field.error_code',
  stream: 'field.stream',
  prompt_tokens: 'field.prompt_tokens',
  cached_tokens: 'field.cached_tokens',
  completion_tokens: 'field.completion_tokens',
  reasoning_tokens: 'field.reasoning_tokens',
  total_tokens: 'field.total_tokens',
  cost_usd: 'metric.cost',
  latency_ms: 'metric.latency',
  ttft_ms: 'field.ttft_ms',
  attempts: 'field.attempts',
  estimated: 'field.estimated',
  charged: 'field.charged',
  unit: 'field.unit',
  quantity: 'field.quantity',
};

export function RequestDetailPage({ id }: { id: string }) {
  const { t, locale } = useI18n();
  const { data, error, loading } = useLoad((signal) => get<unknown>(`/requests/${encodeURIComponent(id)}`, undefined, signal), [id]);
  const rec: Obj | null = isObj(data) ? (isObj(data.data) ? data.data : data) : null;

  const show = (k: string, v: unknown): string => {
    if (v === null || v === undefined || v === '') return '—';
    if (k === 'created_at' || k.endsWith('_at')) return fmtDateTime(v, locale);
    if (k === 'cost_usd') return fmtUsd(v, locale);
    if (k.endsWith('_ms')) return fmtMs(v, locale);
    if (k === 'stream' || k === 'estimated' || k === 'charged') return v === true || v === 1 ? t('common.yes') : t('common.no');
    if (typeof v === 'number') return Number.isInteger(v) ? fmtInt(v, locale) : String(v);
    if (typeof v === 'object') return JSON.stringify(v, null, 2);
    return String(v);
  };
  const keys = rec ? [...Object.keys(DETAIL_LABELS).filter((k) => k in rec), ...Object.keys(rec).filter((k) => !(k in DETAIL_LABELS) && k !== 'object')] : [];

  return (
    <>
      <PageHeader title={t('requests.detailTitle')}>
        <a
          className="btn"
          href={href('/requests')}
          onClick={(e) => {
            if (cameFrom()?.startsWith('/requests') && !e.metaKey && !e.ctrlKey) {
              e.preventDefault();
              window.history.back();
            } else linkHandler('/requests')(e);
          }}
          data-testid="back-to-log"
        >
          {t('requests.back')}
        </a>
      </PageHeader>
      <ErrorBox error={error} />
      {loading && !rec ? <Loading /> : null}
      {rec ? (
        <section className="card" data-testid="request-detail">
          <dl className="detail">
            {keys.map((k) => (
              <div key={k} className="detail-row">
                <dt>{DETAIL_LABELS[k] ? t(DETAIL_LABELS[k]) : k}</dt>
                <dd className={typeof rec[k] === 'object' && rec[k] !== null ? 'mono pre' : k.endsWith('_id') ? 'mono' : undefined}>
                  {k === 'key_id' && typeof rec[k] === 'string' ? (
                    <a href={href(`/usage?key=${encodeURIComponent(rec[k] as string)}`)} onClick={linkHandler(`/usage?key=${encodeURIComponent(rec[k] as string)}`)}>
                      {rec[k] as string}
                    </a>
                  ) : (
                    show(k, rec[k])
                  )}
                </dd>
              </div>
            ))}
          </dl>
        </section>
      ) : null}
    </>
  );
}
