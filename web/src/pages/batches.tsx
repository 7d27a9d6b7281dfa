import { useEffect, useState } from 'react';
import { adminUrl, get } from '../api.ts';
import { Badge, Empty, ErrorBox, Loading, PageHeader, TableBox } from '../components/ui.tsx';
import { fmtDateTime, fmtInt } from '../format.ts';
import { useI18n, type MessageKey } from '../i18n/index.tsx';
import { isObj, listOf, nextCursor, num, str, type Obj } from '../normalize.ts';

const PAGE = 50;
const POLL_MS = 5000;
const ACTIVE = new Set(['validating', 'in_progress', 'finalizing', 'cancelling']);
const TONE: Record<string, 'ok' | 'warn' | 'bad' | 'off'> = {
  completed: 'ok',
  in_progress: 'warn',
  validating: 'warn',
  finalizing: 'warn',
  cancelling: 'warn',
  failed: 'bad',
  expired: 'bad',
  cancelled: 'off',
};

function FileLink({ id, label }: { id: string | null; label: string }) {
  if (!id) return null;
  // A plain link: the browser sends the session cookie and saves what the admin API answers.
  return (
    <a className="file-link" href={adminUrl(`/files/${encodeURIComponent(id)}/content`)} download={`${id}.jsonl`} data-testid="batch-file">
      {label}
    </a>
  );
}

export function BatchesPage() {
  const { t, locale } = useI18n();
  const [rows, setRows] = useState<Obj[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    const ctrl = new AbortController();
    get<unknown>('/batches', { limit: PAGE }, ctrl.signal).then(
      (body) => {
        const list = listOf(body);
        // Keep pages loaded beyond the first; refresh the first in place.
        setRows((old) => {
          const fresh = new Map(list.map((b) => [str(b, 'id'), b]));
          const tail = old.slice(PAGE).filter((b) => !fresh.has(str(b, 'id')));
          return [...list, ...tail];
        });
        setCursor((c) => c ?? nextCursor(body, list));
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
  }, [tick]);

  // Poll while any batch on the page is still running.
  const running = rows.some((b) => ACTIVE.has(str(b, 'status') ?? ''));
  useEffect(() => {
    if (!running) return;
    const id = window.setInterval(() => document.visibilityState === 'visible' && setTick((n) => n + 1), POLL_MS);
    return () => window.clearInterval(id);
  }, [running]);

  const more = async () => {
    if (!cursor) return;
    try {
      const body = await get<unknown>('/batches', { limit: PAGE, after: cursor });
      const list = listOf(body);
      setRows((r) => [...r, ...list]);
      setCursor(nextCursor(body, list));
    } catch (err) {
      setError(err);
    }
  };

  return (
    <>
      <PageHeader title={t('batches.title')}>
        <button type="button" className="btn" onClick={() => setTick((n) => n + 1)}>
          {t('common.refresh')}
        </button>
      </PageHeader>
      <ErrorBox error={error} />
      {loading && !rows.length ? (
        <Loading />
      ) : rows.length === 0 ? (
        <Empty>{t('batches.none')}</Empty>
      ) : (
        <TableBox testId="batches-table">
          <thead>
            <tr>
              <th>{t('field.id')}</th>
              <th>{t('field.status')}</th>
              <th>{t('batches.progress')}</th>
              <th className="opt">{t('field.endpoint')}</th>
              <th className="opt">{t('field.key_id')}</th>
              <th className="opt">{t('field.created')}</th>
              <th>{t('batches.files')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((b) => {
              const id = str(b, 'id') ?? '';
              const status = str(b, 'status') ?? '';
              const counts = isObj(b.request_counts) ? b.request_counts : {};
              const total = num(counts, 'total') ?? 0;
              const done = (num(counts, 'completed') ?? 0) + (num(counts, 'failed') ?? 0);
              const failed = num(counts, 'failed') ?? 0;
              const statusKey = `batches.status.${status}` as MessageKey;
              return (
                <tr key={id} data-testid="batch-row" data-batch-id={id}>
                  <td className="mono small">{id}</td>
                  <td>
                    <Badge tone={TONE[status] ?? 'off'}>{t(statusKey) === statusKey ? status : t(statusKey)}</Badge>
                  </td>
                  <td className="progress-cell">
                    <progress max={Math.max(1, total)} value={done} aria-label={t('batches.progress')} data-testid="batch-progress" />
                    <div className="small muted">
                      {t('batches.counts', { done: fmtInt(done, locale), total: fmtInt(total, locale) })}
                      {failed ? ` · ${t('batches.failedN', { n: fmtInt(failed, locale) })}` : ''}
                    </div>
                  </td>
                  <td className="small opt">{str(b, 'endpoint')}</td>
                  <td className="mono small opt">{str(b, 'key_id') ?? '—'}</td>
                  <td className="small nowrap opt">{fmtDateTime(b.created_at, locale)}</td>
                  <td className="files">
                    <FileLink id={str(b, 'input_file_id')} label={t('batches.input')} />
                    <FileLink id={str(b, 'output_file_id')} label={t('batches.output')} />
                    <FileLink id={str(b, 'error_file_id')} label={t('batches.errors')} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </TableBox>
      )}
      {cursor ? (
        <button type="button" className="btn more" onClick={more}>
          {t('common.loadMore')}
        </button>
      ) : null}
    </>
  );
}
