import { useState, type FormEvent } from 'react';
import { ApiError, signIn } from '../api.ts';
import { LanguageSwitch } from '../components/language-switch.tsx';
import { useI18n } from '../i18n/index.tsx';

/**
 * The admin key goes to POST /admin/session once, in exchange for an HttpOnly cookie; it lives
 * only in this form's state while the request is in flight and is cleared right after.
 */
export function SignIn({ onSignedIn, expired }: { onSignedIn: () => void; expired: boolean }) {
  const { t } = useI18n();
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!key.trim()) return;
    setBusy(true);
    setError(null);
    try {
      await signIn(key.trim());
      setKey('');
      onSignedIn();
    } catch (err) {
      setKey('');
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) setError(t('signin.wrongKey'));
      else if (err instanceof ApiError && err.status === 429) setError(t('signin.tooMany'));
      else setError(t('signin.failed', { message: (err as Error).message }));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="signin">
      <form className="card signin-card" onSubmit={submit} data-testid="signin-form" autoComplete="off">
        <div className="signin-top">
          <span className="brand">
            <img src="/dashboard/favicon.svg" alt="" width={28} height={28} />
            Switchyard
          </span>
          <LanguageSwitch />
        </div>
        <h1>{t('signin.title')}</h1>
        <p className="muted">{t('signin.intro')}</p>
        {expired ? <div className="notice">{t('signin.expired')}</div> : null}
        <label className="field">
          <span className="field-label">{t('signin.adminKey')}</span>
          <input
            type="password"
            name="admin_key"
            autoComplete="off"
            autoFocus
            spellCheck={false}
            value={key}
            onChange={(e) => setKey(e.target.value)}
            data-testid="admin-key"
          />
        </label>
        {error ? (
          <div className="error" role="alert" data-testid="signin-error">
            {error}
          </div>
        ) : null}
        <button type="submit" className="btn btn-primary btn-block" disabled={busy || !key.trim()} data-testid="signin-submit">
          {busy ? t('signin.signingIn') : t('signin.submit')}
        </button>
        <p className="muted small">{t('signin.hint')}</p>
      </form>
    </main>
  );
}
