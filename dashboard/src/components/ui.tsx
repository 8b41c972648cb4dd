import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { ApiError } from '../api.ts';
import { useI18n, type MessageKey } from '../i18n/index.ts';

/** Phases and states mapped to a tone: the colour is a hint, the text says it. */
const TONES: Record<string, 'ok' | 'warn' | 'bad' | 'idle' | 'info'> = {
  Ready: 'ok', Running: 'ok', Up: 'ok', Succeeded: 'ok', Complete: 'ok', Available: 'ok', connected: 'ok',
  Pending: 'idle', Starting: 'idle', Paused: 'idle', Progressing: 'idle', Stale: 'warn', Unknown: 'warn', Normal: 'idle',
  NotReady: 'bad', Failed: 'bad', Down: 'bad', RolledBack: 'warn', Warning: 'warn', disconnected: 'idle',
  // A new model version's evaluation (instance status.evaluation).
  Evaluating: 'info', Shadowing: 'info', Passed: 'ok',
};

export function Badge({ value, label }: { value: string; label?: string }) {
  return (
    <span class={`badge tone-${TONES[value] ?? 'idle'}`} data-value={value}>
      {label ?? value}
    </span>
  );
}

export function Page({ title, actions, children }: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  useEffect(() => {
    document.title = `${title} · gedge`;
  }, [title]);
  return (
    <section class="page" aria-labelledby="page-title">
      <header class="page-head">
        <h1 id="page-title" tabIndex={-1}>
          {title}
        </h1>
        {actions}
      </header>
      {children}
    </section>
  );
}

export function Card({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section class="card" aria-label={title} id={id}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export function Loading() {
  const { t } = useI18n();
  return (
    <p class="muted" role="status">
      {t('loading')}
    </p>
  );
}

export function ErrorBox({ error }: { error: ApiError }) {
  const { t } = useI18n();
  return (
    <div class="error" role="alert">
      {t('error.load', { message: error.message })}
      {error.details.length > 0 && (
        <ul>
          {error.details.map((d) => (
            <li key={d.path + d.message}>
              <code>{d.path}</code>: {d.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** "12s ago", refreshed every few seconds; the full time is in the tooltip. */
export function Ago({ at }: { at: string | undefined }) {
  const { t } = useI18n();
  const [, tick] = useState(0);
  useEffect(() => {
    const id = setInterval(() => tick((n) => n + 1), 5000);
    return () => clearInterval(id);
  }, []);
  if (!at) return <span class="muted">–</span>;
  const s = Math.max(0, Math.round((Date.now() - Date.parse(at)) / 1000));
  const [key, n]: [MessageKey, number] = s < 60 ? ['ago.s', s] : s < 3600 ? ['ago.m', Math.floor(s / 60)] : s < 86_400 ? ['ago.h', Math.floor(s / 3600)] : ['ago.d', Math.floor(s / 86_400)];
  return (
    <time dateTime={at} title={new Date(at).toLocaleString()}>
      {t(key, { n })}
    </time>
  );
}

/** A text filter plus a "show more" limit, so a list of 10,000 renders only what is looked at. */
export function useFiltered<T>(items: T[], text: (x: T) => string, page = 200) {
  const [filter, setFilter] = useState('');
  const [limit, setLimit] = useState(page);
  const f = filter.trim().toLowerCase();
  const matching = f ? items.filter((x) => text(x).toLowerCase().includes(f)) : items;
  return { filter, setFilter, shown: matching.slice(0, limit), total: matching.length, more: () => setLimit((l) => l + page) };
}

export function FilterBox({ value, onInput, id }: { value: string; onInput: (v: string) => void; id: string }) {
  const { t } = useI18n();
  return (
    <div class="filter">
      <label for={id}>{t('filter.label')}</label>
      <input id={id} type="search" value={value} placeholder={t('filter.placeholder')} onInput={(e) => onInput((e.target as HTMLInputElement).value)} />
    </div>
  );
}

export function ShowMore({ shown, total, more }: { shown: number; total: number; more: () => void }) {
  const { t } = useI18n();
  if (total <= shown) return null;
  return (
    <p class="more">
      <span class="muted">{t('showing', { shown, total })}</span>{' '}
      <button type="button" onClick={more}>
        {t('showMore')}
      </button>
    </p>
  );
}

export function fmt(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  return n.toLocaleString(undefined, { maximumFractionDigits: digits });
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return `${fmt(n, n < 10 ? 1 : 0)} ${units[i]}`;
}
