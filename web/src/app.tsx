import { useCallback, useEffect, useState } from 'react';
import { ApiError, currentSession, get, onUnauthorized, signOut } from './api.ts';
import { LanguageSwitch } from './components/language-switch.tsx';
import { useI18n, type MessageKey } from './i18n/index.tsx';
import { BatchesPage } from './pages/batches.tsx';
import { KeyUsagePage } from './pages/key-usage.tsx';
import { KeysPage } from './pages/keys.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { RequestDetailPage, RequestsPage } from './pages/requests.tsx';
import { SignIn } from './pages/sign-in.tsx';
import { UpstreamsPage } from './pages/upstreams.tsx';
import { UsersPage } from './pages/users.tsx';
import { href, linkHandler, navigate, useLocation } from './router.ts';

type SessionState = 'checking' | 'signed-out' | 'signed-in';

interface NavItem {
  path: string;
  label: MessageKey;
  /** Shown only when the gateway has the route behind it. */
  feature?: 'users';
}

const NAV: NavItem[] = [
  { path: '/', label: 'nav.overview' },
  { path: '/keys', label: 'nav.keys' },
  { path: '/upstreams', label: 'nav.upstreams' },
  { path: '/requests', label: 'nav.requests' },
  { path: '/batches', label: 'nav.batches' },
  { path: '/usage', label: 'nav.usage' },
  { path: '/users', label: 'nav.users', feature: 'users' },
];

export function App() {
  const { t } = useI18n();
  const [session, setSession] = useState<SessionState>('checking');
  const [expired, setExpired] = useState(false);
  const [hasUsers, setHasUsers] = useState(false);
  const [checkError, setCheckError] = useState<string | null>(null);

  const check = useCallback(() => {
    currentSession().then(
      (s) => {
        setCheckError(null);
        setSession(s ? 'signed-in' : 'signed-out');
      },
      (err: Error) => {
        setCheckError(err.message);
        setSession('signed-out');
      },
    );
  }, []);

  useEffect(check, [check]);
  useEffect(
    () =>
      onUnauthorized(() => {
        setExpired(true);
        setSession('signed-out');
      }),
    [],
  );

  // Users exist only on gateways with accounts: a 404 hides the page.
  useEffect(() => {
    if (session !== 'signed-in') return;
    let live = true;
    get('/users', { limit: 1 }).then(
      () => live && setHasUsers(true),
      (err: unknown) => live && setHasUsers(!(err instanceof ApiError) || (err.status !== 404 && err.status !== 405 && err.status !== 501)),
    );
    return () => {
      live = false;
    };
  }, [session]);

  if (session === 'checking') return <div className="boot muted">{t('common.loading')}</div>;
  if (session === 'signed-out')
    return (
      <>
        {checkError ? <div className="error banner">{t('error.network', { message: checkError })}</div> : null}
        <SignIn
          expired={expired}
          onSignedIn={() => {
            setExpired(false);
            setSession('signed-in');
          }}
        />
      </>
    );
  return (
    <Shell
      hasUsers={hasUsers}
      onSignOut={async () => {
        try {
          await signOut();
        } finally {
          setExpired(false);
          setSession('signed-out');
          navigate('/', { replace: true });
        }
      }}
    />
  );
}

function Shell({ hasUsers, onSignOut }: { hasUsers: boolean; onSignOut: () => void }) {
  const { t } = useI18n();
  const loc = useLocation();
  const items = NAV.filter((n) => !n.feature || (n.feature === 'users' && hasUsers));
  const active = (p: string) => (p === '/' ? loc.path === '/' : loc.path === p || loc.path.startsWith(`${p}/`));

  let page;
  const m = /^\/requests\/(.+)$/.exec(loc.path);
  if (loc.path === '/') page = <OverviewPage />;
  else if (loc.path === '/keys') page = <KeysPage />;
  else if (loc.path === '/upstreams') page = <UpstreamsPage />;
  else if (loc.path === '/requests') page = <RequestsPage query={loc.query} />;
  else if (m) page = <RequestDetailPage id={decodeURIComponent(m[1])} />;
  else if (loc.path === '/batches') page = <BatchesPage />;
  else if (loc.path === '/usage') page = <KeyUsagePage query={loc.query} />;
  else if (loc.path === '/users' && hasUsers) page = <UsersPage />;
  else
    page = (
      <div className="card">
        <h1>{t('notFound.title')}</h1>
        <p>
          <a href={href('/')} onClick={linkHandler('/')}>
            {t('notFound.back')}
          </a>
        </p>
      </div>
    );

  return (
    <div className="shell">
      <header className="topbar">
        <a className="brand" href={href('/')} onClick={linkHandler('/')}>
          <img src="/dashboard/favicon.svg" alt="" width={24} height={24} />
          <span>Switchyard</span>
        </a>
        <div className="topbar-actions">
          <LanguageSwitch />
          <button type="button" className="btn btn-small" onClick={onSignOut} data-testid="sign-out">
            {t('nav.signOut')}
          </button>
        </div>
      </header>
      <nav className="nav" aria-label={t('nav.label')}>
        {items.map((n) => (
          <a key={n.path} href={href(n.path)} onClick={linkHandler(n.path)} className={active(n.path) ? 'active' : undefined} aria-current={active(n.path) ? 'page' : undefined} data-testid={`nav-${n.path === '/' ? 'overview' : n.path.slice(1)}`}>
            {t(n.label)}
          </a>
        ))}
      </nav>
      <main className="content">{page}</main>
    </div>
  );
}
