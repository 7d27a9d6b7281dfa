import { useEffect, useState } from 'react';
import { get } from '../api.ts';
import { Badge, Empty, ErrorBox, Loading, PageHeader, TableBox } from '../components/ui.tsx';
import { fmtDateTime, fmtUsd } from '../format.ts';
import { useI18n, type MessageKey } from '../i18n/index.tsx';
import { listOf, nextCursor, num, str, type Obj } from '../normalize.ts';

const PAGE = 50;

export function UsersPage() {
  const { t, locale } = useI18n();
  const [search, setSearch] = useState('');
  const [query, setQuery] = useState('');
  const [rows, setRows] = useState<Obj[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const id = window.setTimeout(() => setQuery(search.trim()), 300);
    return () => window.clearTimeout(id);
  }, [search]);

  useEffect(() => {
    const ctrl = new AbortController();
    setLoading(true);
    get<unknown>('/users', { search: query, limit: PAGE }, ctrl.signal).then(
      (body) => {
        const list = listOf(body);
        setRows(list);
        setCursor(nextCursor(body, list));
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
  }, [query]);

  const more = async () => {
    if (!cursor) return;
    try {
      const body = await get<unknown>('/users', { search: query, limit: PAGE, after: cursor });
      const list = listOf(body);
      setRows((r) => [...r, ...list]);
      setCursor(nextCursor(body, list));
    } catch (err) {
      setError(err);
    }
  };

  return (
    <>
      <PageHeader title={t('users.title')}>
        <input type="search" className="search" placeholder={t('users.search')} aria-label={t('users.search')} value={search} onChange={(e) => setSearch(e.target.value)} />
      </PageHeader>
      <ErrorBox error={error} />
      {loading && !rows.length ? (
        <Loading />
      ) : rows.length === 0 ? (
        <Empty>{t('users.none')}</Empty>
      ) : (
        <TableBox testId="users-table">
          <thead>
            <tr>
              <th>{t('users.email')}</th>
              <th>{t('users.displayName')}</th>
              <th>{t('users.group')}</th>
              <th>{t('field.status')}</th>
              <th className="num">{t('users.balance')}</th>
              <th className="num">{t('users.spent')}</th>
              <th>{t('field.created')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((u) => {
              const status = str(u, 'status') ?? '';
              const statusKey = `status.${status}` as MessageKey;
              return (
                <tr key={str(u, 'id') ?? ''} data-testid="user-row">
                  <td>{str(u, 'email') ?? '—'}</td>
                  <td>{str(u, 'display_name', 'name') ?? '—'}</td>
                  <td>{str(u, 'group') ?? '—'}</td>
                  <td>
                    <Badge tone={status === 'active' ? 'ok' : status === 'disabled' || status === 'suspended' ? 'off' : 'warn'}>{t(statusKey) === statusKey ? status : t(statusKey)}</Badge>
                  </td>
                  <td className="num">{fmtUsd(num(u, 'balance_usd', 'balance'), locale)}</td>
                  <td className="num">{fmtUsd(num(u, 'spent_usd', 'spent'), locale)}</td>
                  <td className="small nowrap">{fmtDateTime(u.created_at, locale)}</td>
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
