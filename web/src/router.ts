import { useEffect, useState, type MouseEvent } from 'react';

/** Client routes live under /dashboard; the gateway answers index.html for every one of them. */
export const BASE = '/dashboard';

export interface Location {
  /** The path below /dashboard, always starting with '/'. */
  path: string;
  query: URLSearchParams;
}

function current(): Location {
  let path = window.location.pathname;
  if (path.startsWith(BASE)) path = path.slice(BASE.length);
  if (!path.startsWith('/')) path = `/${path}`;
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return { path, query: new URLSearchParams(window.location.search) };
}

const EVENT = 'switchyard:navigate';

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const url = `${BASE}${to === '/' ? '/' : to}`;
  const here = current();
  // Each entry remembers the app page it was reached from, so "back" links can return to it as it was (filters and all).
  const from = `${here.path}${here.query.size ? `?${here.query.toString()}` : ''}`;
  if (opts.replace) window.history.replaceState(window.history.state, '', url);
  else window.history.pushState({ from }, '', url);
  window.dispatchEvent(new Event(EVENT));
}

export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const update = () => setLoc(current());
    window.addEventListener('popstate', update);
    window.addEventListener(EVENT, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(EVENT, update);
    };
  }, []);
  return loc;
}

/** onClick for an <a href>: plain clicks navigate inside the app, modified clicks open as usual. */
export function linkHandler(to: string) {
  return (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
}

export const href = (to: string): string => `${BASE}${to}`;

/** The app page this history entry was reached from, if it was reached inside the app. */
export function cameFrom(): string | null {
  const s = window.history.state as { from?: unknown } | null;
  return s && typeof s.from === 'string' ? s.from : null;
}
