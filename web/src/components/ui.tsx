import { useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError } from '../api.ts';
import { useI18n } from '../i18n/index.tsx';

export function ErrorBox({ error }: { error: unknown }) {
  const { t } = useI18n();
  if (!error) return null;
  const msg = error instanceof ApiError ? (error.status ? `${error.status}: ${error.message}` : t('error.network', { message: error.message })) : String((error as Error).message ?? error);
  return (
    <div className="error" role="alert">
      {msg}
    </div>
  );
}

export function Loading() {
  const { t } = useI18n();
  return <div className="muted loading">{t('common.loading')}</div>;
}

export function Empty({ children }: { children?: ReactNode }) {
  const { t } = useI18n();
  return <div className="muted empty">{children ?? t('common.empty')}</div>;
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="page-header">
      <h1>{title}</h1>
      {children ? <div className="page-actions">{children}</div> : null}
    </div>
  );
}

/** A wide table scrolls sideways inside its own box, so the page never does. */
export function TableBox({ children, testId }: { children: ReactNode; testId?: string }) {
  return (
    <div className="table-box" data-testid={testId}>
      <table>{children}</table>
    </div>
  );
}

export function Badge({ tone, children }: { tone: 'ok' | 'warn' | 'bad' | 'off'; children: ReactNode }) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

export function Field({ label, children, hint, wide }: { label: string; children: ReactNode; hint?: string; wide?: boolean }) {
  return (
    <label className={wide ? 'field field-wide' : 'field'}>
      <span className="field-label">{label}</span>
      {children}
      {hint ? <span className="field-hint">{hint}</span> : null}
    </label>
  );
}

/** Copies text to the clipboard; falls back to selecting it where the clipboard API is refused. */
export function CopyButton({ text, targetId }: { text: string; targetId?: string }) {
  const { t } = useI18n();
  const [copied, setCopied] = useState(false);
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
    } catch {
      const el = targetId ? document.getElementById(targetId) : null;
      if (el) {
        const range = document.createRange();
        range.selectNodeContents(el);
        const sel = window.getSelection();
        sel?.removeAllRanges();
        sel?.addRange(range);
      }
    }
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => setCopied(false), 2000);
  };
  return (
    <button type="button" className="btn" onClick={copy} data-testid="copy-secret">
      {copied ? t('common.copied') : t('common.copy')}
    </button>
  );
}

/** A button that asks again before it acts (no window.confirm: it blocks, and phones show it badly). */
export function ConfirmButton({ label, confirmLabel, onConfirm, danger, testId }: { label: string; confirmLabel: string; onConfirm: () => void; danger?: boolean; testId?: string }) {
  const { t } = useI18n();
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" className={danger ? 'btn btn-danger-outline btn-small' : 'btn btn-small'} onClick={() => setAsking(true)} data-testid={testId}>
        {label}
      </button>
    );
  return (
    <span className="confirm">
      <button
        type="button"
        className={danger ? 'btn btn-danger btn-small' : 'btn btn-primary btn-small'}
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
        data-testid={testId ? `${testId}-confirm` : undefined}
      >
        {confirmLabel}
      </button>
      <button type="button" className="btn btn-small" onClick={() => setAsking(false)}>
        {t('common.cancel')}
      </button>
    </span>
  );
}

/** Runs a load function on mount and whenever `deps` change; `reload()` runs it again. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const ctrl = new AbortController();
    setLoading(true);
    load(ctrl.signal).then(
      (d) => {
        if (ctrl.signal.aborted) return;
        setData(d);
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
    // `deps` name what `load` reads; a new closure each render must not refetch.
  }, [...deps, tick]);
  return { data, error, loading, reload: () => setTick((n) => n + 1), setData };
}
