import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Api, endSession, hasSession } from './api.ts';
import { LiveContext } from './context.ts';
import { I18n, LANGS, initialLang, translator, useI18n, type Lang, type MessageKey } from './i18n/index.ts';
import { Live, type StreamState } from './live.ts';
import { href, useRoute } from './router.ts';
import { SignIn } from './signin.tsx';
import { PAGES, pageFor } from './pages/index.tsx';

export function App() {
  const [lang, setLangState] = useState<Lang>(initialLang);
  /** undefined while asking the center whether the browser's session cookie is still good. */
  const [signedIn, setSignedIn] = useState<boolean | undefined>(undefined);
  const i18n = useMemo(() => ({ lang, t: translator(lang), setLang: (l: Lang) => (localStorage.setItem('gedge.lang', l), setLangState(l)) }), [lang]);
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  useEffect(() => {
    hasSession().then(setSignedIn, () => setSignedIn(false));
  }, []);
  const signOut = () => void endSession().then(() => setSignedIn(false));
  return (
    <I18n.Provider value={i18n}>
      {signedIn === undefined ? null : signedIn ? <Session onSignOut={signOut} onExpired={() => setSignedIn(false)} /> : <SignIn onSignedIn={() => setSignedIn(true)} />}
    </I18n.Provider>
  );
}

function Session({ onSignOut, onExpired }: { onSignOut: () => void; onExpired: () => void }) {
  const live = useMemo(() => {
    return new Live(new Api(onExpired));
  }, []);
  useEffect(() => () => live.close(), [live]);
  const route = useRoute();
  const page = pageFor(route);
  // Move focus to the new page's heading, so keyboard and screen-reader users land on it;
  // not on the first page, where the first Tab should reach the skip link.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) first.current = false;
    else document.getElementById('page-title')?.focus({ preventScroll: true });
  }, [route.join('/')]);
  return (
    <LiveContext.Provider value={live}>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('page-title')?.focus())}>
        {useI18n().t('app.skip')}
      </a>
      <div class="shell">
        <Header live={live} onSignOut={onSignOut} current={page.nav} />
        <main id="main">{page.render(route)}</main>
      </div>
    </LiveContext.Provider>
  );
}

function Header({ live, onSignOut, current }: { live: Live; onSignOut: () => void; current: string }) {
  const { t, lang, setLang } = useI18n();
  const [state, setState] = useState<StreamState>(live.state);
  useEffect(() => live.onState(setState), [live]);
  return (
    <header class="top">
      <a class="brand" href={href('overview')}>
        gedge
      </a>
      <nav aria-label={t('nav.label')}>
        <ul>
          {PAGES.filter((p) => p.nav).map((p) => (
            <li key={p.nav}>
              <a href={href(p.nav)} aria-current={p.nav === current ? 'page' : undefined}>
                {t(`nav.${p.nav}` as MessageKey)}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <div class="tools">
        <span class={`stream stream-${state}`} role="status" aria-live="polite" data-state={state}>
          {t(`stream.${state}`)}
        </span>
        <label class="lang">
          <span class="sr-only">{t('lang.label')}</span>
          <select value={lang} onChange={(e) => setLang((e.target as HTMLSelectElement).value as Lang)} aria-label={t('lang.label')}>
            {LANGS.map((l) => (
              <option key={l} value={l}>
                {t(`lang.${l}`)}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={onSignOut}>
          {t('signout')}
        </button>
      </div>
    </header>
  );
}
