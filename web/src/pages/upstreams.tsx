import { useEffect, useState } from 'react';
import { api, get } from '../api.ts';
import { Badge, Empty, ErrorBox, Loading, PageHeader, TableBox, useLoad } from '../components/ui.tsx';
import { fmtInt, fmtMs, fmtPct } from '../format.ts';
import { useI18n, type MessageKey } from '../i18n/index.tsx';
import { isObj, listOf, num, str, type Obj } from '../normalize.ts';

/** Health refreshes this often while the page is open and visible. */
const POLL_MS = 5000;

const STATE_TONE: Record<string, 'ok' | 'warn' | 'bad' | 'off'> = { healthy: 'ok', half_open: 'warn', open: 'bad', credentials_rejected: 'bad', disabled: 'off' };

interface TestResult {
  ok: boolean;
  text: string;
}

function readTest(body: unknown, locale: string, t: (k: MessageKey, v?: Record<string, string | number>) => string): TestResult {
  if (!isObj(body)) return { ok: true, text: t('upstreams.testOk', { ms: '—' }) };
  const err = body.error;
  const ok = body.ok === true || body.success === true || (body.ok === undefined && body.success === undefined && !err && (num(body, 'status') ?? 200) < 400);
  const ms = num(body, 'latency_ms', 'duration_ms', 'elapsed_ms');
  const message = isObj(err) ? str(err, 'message') : typeof err === 'string' ? err : str(body, 'message');
  return ok
    ? { ok, text: t('upstreams.testOk', { ms: ms === null ? '—' : fmtMs(ms, locale) }) + (str(body, 'model') ? ` · ${str(body, 'model')}` : '') }
    : { ok, text: t('upstreams.testFailed', { message: message ?? String(num(body, 'status') ?? '') }) };
}

export function UpstreamsPage() {
  const { t, locale } = useI18n();
  const { data, error, loading, reload, setData } = useLoad((signal) => get<unknown>('/upstreams', undefined, signal), []);
  const [tests, setTests] = useState<Record<string, TestResult | 'running'>>({});
  const [actionError, setActionError] = useState<unknown>(null);

  useEffect(() => {
    const id = window.setInterval(() => {
      if (document.visibilityState === 'visible') get<unknown>('/upstreams').then(setData, () => undefined);
    }, POLL_MS);
    return () => window.clearInterval(id);
  }, [setData]);

  const rows = listOf(data);
  const test = async (name: string) => {
    setTests((s) => ({ ...s, [name]: 'running' }));
    try {
      const body = await api<unknown>('POST', `/upstreams/${encodeURIComponent(name)}/test`, { body: {} });
      setTests((s) => ({ ...s, [name]: readTest(body, locale, t) }));
    } catch (err) {
      setTests((s) => ({ ...s, [name]: { ok: false, text: t('upstreams.testFailed', { message: (err as Error).message }) } }));
    }
    reload();
  };
  const toggle = async (u: Obj) => {
    const name = str(u, 'name') ?? '';
    const enabled = u.enabled !== false;
    try {
      await api('POST', `/upstreams/${encodeURIComponent(name)}/${enabled ? 'disable' : 'enable'}`, { body: {} });
      setActionError(null);
      reload();
    } catch (err) {
      setActionError(err);
    }
  };

  return (
    <>
      <PageHeader title={t('upstreams.title')}>
        <span className="muted small">{t('upstreams.live')}</span>
        <button type="button" className="btn" onClick={reload}>
          {t('common.refresh')}
        </button>
      </PageHeader>
      <ErrorBox error={error ?? actionError} />
      {loading && !data ? (
        <Loading />
      ) : rows.length === 0 ? (
        <Empty>{t('upstreams.none')}</Empty>
      ) : (
        <TableBox testId="upstreams-table">
          <thead>
            <tr>
              <th>{t('field.name')}</th>
              <th>{t('field.status')}</th>
              <th className="num">{t('upstreams.requests5m')}</th>
              <th className="num">{t('upstreams.errorRate')}</th>
              <th className="num">{t('upstreams.latency')}</th>
              <th>{t('upstreams.credentials')}</th>
              <th>{t('upstreams.lastError')}</th>
              <th>{t('common.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((u) => {
              const name = str(u, 'name') ?? '';
              const state = str(u, 'state', 'health', 'status') ?? (u.enabled === false ? 'disabled' : 'healthy');
              const recent = isObj(u.recent) ? u.recent : isObj(u.stats) ? u.stats : u;
              const creds = Array.isArray(u.credentials) ? u.credentials.filter(isObj) : [];
              const bad = creds.filter((c) => str(c, 'state') !== 'closed').length;
              const lastError = isObj(u.last_error) ? (str(u.last_error, 'message', 'code') ?? JSON.stringify(u.last_error)) : str(u, 'last_error');
              const tr = tests[name];
              const stateKey = `upstreams.state.${state}` as MessageKey;
              const stateText = t(stateKey) === stateKey ? state : t(stateKey);
              return (
                <tr key={name} data-testid="upstream-row" data-upstream={name}>
                  <td>
                    <div className="strong">{name}</div>
                    <div className="muted small">
                      {str(u, 'type')} · {str(u, 'source') === 'api' ? t('upstreams.sourceApi') : t('upstreams.sourceConfig')}
                      {num(u, 'priority') !== null ? ` · P${num(u, 'priority')}` : ''}
                      {num(u, 'weight') !== null ? ` · W${num(u, 'weight')}` : ''}
                    </div>
                    <div className="muted small mono break">{str(u, 'base_url')}</div>
                  </td>
                  <td>
                    <Badge tone={STATE_TONE[state] ?? 'warn'}>{stateText}</Badge>
                  </td>
                  <td className="num">{fmtInt(num(recent, 'requests', 'request_count'), locale)}</td>
                  <td className="num">{fmtPct(num(recent, 'error_rate'), locale)}</td>
                  <td className="num small">
                    {fmtMs(num(recent, 'latency_p50_ms', 'latency_ms', 'avg_latency_ms'), locale)}
                    <div className="muted">p95 {fmtMs(num(recent, 'latency_p95_ms'), locale)}</div>
                  </td>
                  <td className="small">{creds.length ? `${creds.length - bad}/${creds.length} ${t('upstreams.credsOk')}` : '—'}</td>
                  <td className="small break">{lastError ?? '—'}</td>
                  <td className="actions">
                    <button type="button" className="btn btn-small" onClick={() => test(name)} disabled={tr === 'running'} data-testid="test-upstream">
                      {tr === 'running' ? t('upstreams.testing') : t('upstreams.test')}
                    </button>
                    <button type="button" className="btn btn-small" onClick={() => toggle(u)} data-testid="toggle-upstream">
                      {u.enabled === false ? t('upstreams.enable') : t('upstreams.disable')}
                    </button>
                    {tr && tr !== 'running' ? (
                      <div className={tr.ok ? 'test-result ok' : 'test-result bad'} data-testid="test-result">
                        {tr.text}
                      </div>
                    ) : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </TableBox>
      )}
    </>
  );
}
