import { LANG_NAMES, useI18n, type Lang } from '../i18n/index.tsx';

export function LanguageSwitch() {
  const { lang, setLang, t } = useI18n();
  return (
    <select className="lang-switch" aria-label={t('common.language')} value={lang} onChange={(e) => setLang(e.target.value as Lang)} data-testid="language">
      {(Object.keys(LANG_NAMES) as Lang[]).map((l) => (
        <option key={l} value={l}>
          {LANG_NAMES[l]}
        </option>
      ))}
    </select>
  );
}
