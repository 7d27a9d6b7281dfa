import { useEffect, useState, type FormEvent } from 'react';
import { api, get } from '../api.ts';
import { Badge, ConfirmButton, CopyButton, Empty, ErrorBox, Field, Loading, PageHeader, TableBox } from '../components/ui.tsx';
import { fmtDate, fmtDateTime, fmtInt, fmtUsd, toLocalInput, toMs } from '../format.ts';
import { useI18n, type MessageKey, type Translate } from '../i18n/index.tsx';
import { listOf, nextCursor, num, str, type Obj } from '../normalize.ts';
import { href, linkHandler } from '../router.ts';

const PAGE = 50;

export interface ApiKey {
  id: string;
  name: string;
  key_prefix: string | null;
  status: string;
  quota_tokens: number | null;
  quota_usd: number | null;
  used_tokens: number;
  used_usd: number;
  expires_at: number | null;
  models: string[] | null;
  rpm: number | null;
  tpm: number | null;
  max_concurrency: number | null;
  allowed_ips: string[] | null;
  disabled: boolean;
  created_at: number | null;
  last_used_at: number | null;
}

const strList = (v: unknown): string[] | null => (Array.isArray(v) ? v.map(String) : null);

export function readKey(o: Obj): ApiKey {
  const status = str(o, 'status') ?? (o.disabled ? 'disabled' : 'active');
  return {
    id: str(o, 'id') ?? '',
    name: str(o, 'name') ?? '',
    key_prefix: str(o, 'key_prefix', 'prefix'),
    status,
    quota_tokens: num(o, 'quota_tokens'),
    quota_usd: num(o, 'quota_usd'),
    used_tokens: num(o, 'used_tokens') ?? 0,
    used_usd: num(o, 'used_usd') ?? 0,
    expires_at: toMs(o.expires_at),
    models: strList(o.models),
    rpm: num(o, 'rpm'),
    tpm: num(o, 'tpm'),
    max_concurrency: num(o, 'max_concurrency'),
    allowed_ips: strList(o.allowed_ips),
    disabled: o.disabled === true || status === 'disabled',
    created_at: toMs(o.created_at),
    last_used_at: toMs(o.last_used_at),
  };
}

/** Loads keys for pickers (the usage page, the request log's filter). */
export async function listKeys(search?: string, limit = 100): Promise<ApiKey[]> {
  return listOf(await get<unknown>('/keys', { search, limit, order: 'desc' })).map(readKey);
}

const STATUS_TONE: Record<string, 'ok' | 'warn' | 'bad' | 'off'> = { active: 'ok', disabled: 'off', expired: 'warn', exhausted: 'bad' };

export function statusLabel(t: Translate, status: string): string {
  const key = `status.${status}` as MessageKey;
  const s = t(key);
  return s === key ? status : s;
}

export function KeysPage() {
  const { t, locale } = useI18n();
  const [search, setSearch] = useState('');
  const [query, setQuery] = useState('');
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<ApiKey | null>(null);
  const [secret, setSecret] = useState<{ name: string; key: string } | null>(null);
  const [tick, setTick] = useState(0);

  // Search as the admin types, a moment after the last keystroke.
  useEffect(() => {
    const id = window.setTimeout(() => setQuery(search.trim()), 300);
    return () => window.clearTimeout(id);
  }, [search]);

  useEffect(() => {
    const ctrl = new AbortController();
    setLoading(true);
    get<unknown>('/keys', { search: query, limit: PAGE, order: 'desc' }, ctrl.signal).then(
      (body) => {
        const rows = listOf(body);
        setKeys(rows.map(readKey));
        setCursor(nextCursor(body, rows));
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
  }, [query, tick]);

  const more = async () => {
    if (!cursor) return;
    try {
      const body = await get<unknown>('/keys', { search: query, limit: PAGE, after: cursor, order: 'desc' });
      const rows = listOf(body);
      setKeys((k) => [...k, ...rows.map(readKey)]);
      setCursor(nextCursor(body, rows));
    } catch (err) {
      setError(err);
    }
  };

  const revoke = async (k: ApiKey) => {
    try {
      await api('DELETE', `/keys/${encodeURIComponent(k.id)}`);
      setKeys((list) => list.filter((x) => x.id !== k.id));
      if (editing?.id === k.id) setEditing(null);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <>
      <PageHeader title={t('keys.title')}>
        <input type="search" className="search" placeholder={t('keys.search')} aria-label={t('keys.search')} value={search} onChange={(e) => setSearch(e.target.value)} data-testid="key-search" />
        <button
          type="button"
          className="btn btn-primary"
          onClick={() => {
            setCreating(true);
            setEditing(null);
            setSecret(null);
          }}
          data-testid="new-key"
        >
          {t('keys.new')}
        </button>
      </PageHeader>
      {secret ? (
        <section className="card secret" data-testid="new-secret">
          <h2>{t('keys.secretTitle', { name: secret.name })}</h2>
          <p>{t('keys.secretOnce')}</p>
          <div className="secret-row">
            <code id="new-key-secret" data-testid="secret-value">
              {secret.key}
            </code>
            <CopyButton text={secret.key} targetId="new-key-secret" />
          </div>
          <button type="button" className="btn" onClick={() => setSecret(null)} data-testid="secret-done">
            {t('keys.secretDone')}
          </button>
        </section>
      ) : null}
      {creating ? (
        <KeyForm
          onCancel={() => setCreating(false)}
          onSaved={(view, key) => {
            setCreating(false);
            if (key) setSecret({ name: view.name, key });
            setTick((n) => n + 1);
          }}
        />
      ) : null}
      {editing ? (
        <KeyForm
          key={editing.id}
          existing={editing}
          onCancel={() => setEditing(null)}
          onSaved={(view) => {
            setEditing(null);
            setKeys((list) => list.map((k) => (k.id === view.id ? view : k)));
          }}
        />
      ) : null}
      <ErrorBox error={error} />
      {loading && !keys.length ? (
        <Loading />
      ) : keys.length === 0 ? (
        <Empty>{query ? t('keys.noMatch') : t('keys.none')}</Empty>
      ) : (
        <TableBox testId="keys-table">
          <thead>
            <tr>
              <th>{t('field.name')}</th>
              <th>{t('field.status')}</th>
              <th className="num">{t('keys.tokensUsed')}</th>
              <th className="num">{t('keys.spend')}</th>
              <th className="opt">{t('keys.limits')}</th>
              <th className="opt">{t('field.expires')}</th>
              <th className="opt">{t('keys.lastUsed')}</th>
              <th>{t('common.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id} data-key-id={k.id} data-testid="key-row">
                <td>
                  <div className="strong">{k.name}</div>
                  <div className="muted small mono">
                    {k.key_prefix ? `${k.key_prefix} · ` : ''}
                    {k.id}
                  </div>
                </td>
                <td>
                  <Badge tone={STATUS_TONE[k.status] ?? 'off'}>{statusLabel(t, k.status)}</Badge>
                </td>
                <td className="num">
                  {fmtInt(k.used_tokens, locale)}
                  {k.quota_tokens !== null ? <span className="muted"> / {fmtInt(k.quota_tokens, locale)}</span> : null}
                </td>
                <td className="num">
                  {fmtUsd(k.used_usd, locale)}
                  {k.quota_usd !== null ? <span className="muted"> / {fmtUsd(k.quota_usd, locale)}</span> : null}
                </td>
                <td className="small opt">{limitsSummary(k, t, locale)}</td>
                <td className="small opt">{k.expires_at ? fmtDate(k.expires_at, locale) : t('keys.never')}</td>
                <td className="small opt">{k.last_used_at ? fmtDateTime(k.last_used_at, locale) : '—'}</td>
                <td className="actions">
                  <button
                    type="button"
                    className="btn btn-small"
                    onClick={() => {
                      setEditing(k);
                      setCreating(false);
                    }}
                    data-testid="edit-key"
                  >
                    {t('common.edit')}
                  </button>
                  <a className="btn btn-small" href={href(`/usage?key=${encodeURIComponent(k.id)}`)} onClick={linkHandler(`/usage?key=${encodeURIComponent(k.id)}`)}>
                    {t('nav.usage')}
                  </a>
                  <ConfirmButton label={t('keys.revoke')} confirmLabel={t('keys.revokeConfirm')} danger onConfirm={() => revoke(k)} testId="revoke-key" />
                </td>
              </tr>
            ))}
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

function limitsSummary(k: ApiKey, t: Translate, locale: string): string {
  const parts: string[] = [];
  if (k.rpm !== null) parts.push(`${fmtInt(k.rpm, locale)} RPM`);
  if (k.tpm !== null) parts.push(`${fmtInt(k.tpm, locale)} TPM`);
  if (k.max_concurrency !== null) parts.push(t('keys.concurrency', { n: k.max_concurrency }));
  if (k.models?.length) parts.push(t('keys.modelsN', { n: k.models.length }));
  if (k.allowed_ips?.length) parts.push(t('keys.ipsN', { n: k.allowed_ips.length }));
  return parts.join(' · ') || '—';
}

interface FormState {
  name: string;
  quota_tokens: string;
  quota_usd: string;
  expires_at: string;
  models: string;
  rpm: string;
  tpm: string;
  max_concurrency: string;
  allowed_ips: string;
  disabled: boolean;
}

function toForm(k?: ApiKey): FormState {
  const n = (v: number | null | undefined) => (v === null || v === undefined ? '' : String(v));
  return {
    name: k?.name ?? '',
    quota_tokens: n(k?.quota_tokens),
    quota_usd: n(k?.quota_usd),
    expires_at: k?.expires_at ? toLocalInput(k.expires_at) : '',
    models: k?.models?.join(', ') ?? '',
    rpm: n(k?.rpm),
    tpm: n(k?.tpm),
    max_concurrency: n(k?.max_concurrency),
    allowed_ips: k?.allowed_ips?.join(', ') ?? '',
    disabled: k?.disabled ?? false,
  };
}

/** The form's fields as the admin API's body; on create, empty fields are left out. */
function toBody(f: FormState, create: boolean): { body: Record<string, unknown>; bad: string | null } {
  const body: Record<string, unknown> = { name: f.name.trim() };
  let bad: string | null = null;
  const numField = (name: keyof FormState, int: boolean) => {
    const raw = String(f[name]).trim();
    if (!raw) {
      if (!create) body[name] = null;
      return;
    }
    const v = Number(raw);
    if (!Number.isFinite(v) || v < 0 || (int && !Number.isInteger(v))) bad ??= name;
    else body[name] = v;
  };
  const listField = (name: 'models' | 'allowed_ips') => {
    const items = f[name]
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter(Boolean);
    if (items.length) body[name] = items;
    else if (!create) body[name] = null;
  };
  numField('quota_tokens', true);
  numField('quota_usd', false);
  numField('rpm', true);
  numField('tpm', true);
  numField('max_concurrency', true);
  listField('models');
  listField('allowed_ips');
  if (f.expires_at) {
    const ms = new Date(f.expires_at).getTime();
    if (Number.isNaN(ms)) bad ??= 'expires_at';
    else body.expires_at = new Date(ms).toISOString();
  } else if (!create) body.expires_at = null;
  if (!create || f.disabled) body.disabled = f.disabled;
  return { body, bad };
}

function KeyForm({ existing, onSaved, onCancel }: { existing?: ApiKey; onSaved: (view: ApiKey, secret?: string) => void; onCancel: () => void }) {
  const { t } = useI18n();
  const [f, setF] = useState<FormState>(() => toForm(existing));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const set = (name: keyof FormState) => (e: { target: { value: string } }) => setF({ ...f, [name]: e.target.value });

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const { body, bad } = toBody(f, !existing);
    if (!f.name.trim()) return setError(new Error(t('keys.nameRequired')));
    if (bad) return setError(new Error(t('keys.badField', { field: t(`field.${bad}` as MessageKey) })));
    setBusy(true);
    setError(null);
    try {
      const res = existing ? await api<Obj>('PATCH', `/keys/${encodeURIComponent(existing.id)}`, { body }) : await api<Obj>('POST', '/keys', { body });
      onSaved(readKey(res), typeof res.key === 'string' ? res.key : undefined);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card form" onSubmit={submit} data-testid={existing ? 'edit-key-form' : 'new-key-form'}>
      <h2>{existing ? t('keys.editTitle', { name: existing.name }) : t('keys.newTitle')}</h2>
      <div className="form-grid">
        <Field label={t('field.name')}>
          <input name="name" value={f.name} onChange={set('name')} required maxLength={200} data-testid="key-name" />
        </Field>
        <Field label={t('field.quota_tokens')} hint={t('keys.blankUnlimited')}>
          <input name="quota_tokens" inputMode="numeric" value={f.quota_tokens} onChange={set('quota_tokens')} />
        </Field>
        <Field label={t('field.quota_usd')} hint={t('keys.blankUnlimited')}>
          <input name="quota_usd" inputMode="decimal" value={f.quota_usd} onChange={set('quota_usd')} />
        </Field>
        <Field label={t('field.expires_at')} hint={t('keys.blankNever')}>
          <input name="expires_at" type="datetime-local" value={f.expires_at} onChange={set('expires_at')} />
        </Field>
        <Field label={t('field.rpm')}>
          <input name="rpm" inputMode="numeric" value={f.rpm} onChange={set('rpm')} data-testid="key-rpm" />
        </Field>
        <Field label={t('field.tpm')}>
          <input name="tpm" inputMode="numeric" value={f.tpm} onChange={set('tpm')} />
        </Field>
        <Field label={t('field.max_concurrency')}>
          <input name="max_concurrency" inputMode="numeric" value={f.max_concurrency} onChange={set('max_concurrency')} />
        </Field>
        <Field label={t('field.models')} hint={t('keys.listHint')} wide>
          <input name="models" value={f.models} onChange={set('models')} placeholder="gpt-4o-mini, claude-sonnet-4" />
        </Field>
        <Field label={t('field.allowed_ips')} hint={t('keys.listHint')} wide>
          <input name="allowed_ips" value={f.allowed_ips} onChange={set('allowed_ips')} placeholder="10.0.0.0/8, 203.0.113.7" />
        </Field>
        {existing ? (
          <label className="check">
            <input type="checkbox" checked={f.disabled} onChange={(e) => setF({ ...f, disabled: e.target.checked })} data-testid="key-disabled" />
            {t('field.disabled')}
          </label>
        ) : null}
      </div>
      <ErrorBox error={error} />
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="save-key">
          {existing ? t('common.save') : t('keys.create')}
        </button>
        <button type="button" className="btn" onClick={onCancel}>
          {t('common.cancel')}
        </button>
      </div>
    </form>
  );
}
