import { useState } from 'preact/hooks';
import { ApiError, startSession } from './api.ts';
import { useI18n } from './i18n/index.ts';

/** Asks for a token and hands it to the center, which keeps it in an HttpOnly cookie (the page does not). */
export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const { t } = useI18n();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setChecking(true);
    setError(null);
    try {
      await startSession(token.trim());
      setToken('');
      onSignedIn();
    } catch (err) {
      setError(t('signin.bad', { message: err instanceof ApiError ? err.message : String(err) }));
    }
    setChecking(false);
  };

  return (
    <main id="main" class="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">{t('signin.title')}</h1>
        <label for="token">{t('signin.token')}</label>
        <input id="token" name="token" type="password" autoComplete="current-password" required value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} aria-describedby="token-help" autoFocus />
        <p id="token-help" class="muted">
          {t('signin.help')}
        </p>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={checking || !token.trim()}>
          {checking ? t('signin.checking') : t('signin.submit')}
        </button>
      </form>
    </main>
  );
}
