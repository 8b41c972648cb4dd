import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { asApiError, type ApiError } from '../api.ts';
import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { Card, ErrorBox } from './ui.tsx';

/** Kept on screen; older lines are dropped so a chatty instance cannot grow the page without bound. */
const MAX_LINES = 5000;
const FIRST_TAIL = 65_536;
const RECONNECT_TAIL = 1024;

interface Line {
  id: number;
  text: string;
}

const keepLast = (lines: Line[]) => (lines.length > MAX_LINES ? lines.slice(lines.length - MAX_LINES) : lines);

/**
 * An instance's output, followed live through the agent tunnel
 * (GET /api/v1/instances/NAME/logs?follow=true). Pausing closes the stream;
 * resuming opens a new one.
 */
export function LogStream({ project, name }: { project: string; name: string }) {
  const { t } = useI18n();
  const live = useLive();
  const [following, setFollowing] = useState(true);
  const [attempt, setAttempt] = useState(0);
  const [error, setError] = useState<ApiError | null>(null);
  const [ended, setEnded] = useState(false);
  const [lines, setLines] = useState<Line[]>([]);
  const nextId = useRef(0);
  const connectedBefore = useRef(false);
  const box = useRef<HTMLPreElement>(null);

  useEffect(() => {
    if (!following) return;
    const abort = new AbortController();
    // A reconnect (resume, retry) asks for a small tail only and dedupes
    // nothing: output written while paused is skipped beyond that tail, and
    // the tail may repeat a few lines already shown. Good enough for a live
    // view; `gedge logs` is the exact record.
    const tailBytes = connectedBefore.current ? RECONNECT_TAIL : FIRST_TAIL;
    connectedBefore.current = true;
    setError(null);
    setEnded(false);
    let pending: Line[] = [];
    let timer: ReturnType<typeof setTimeout> | null = null;
    // Chunks arrive in bursts; the list re-renders at most every 100 ms.
    const flush = () => {
      timer = null;
      const add = pending;
      pending = [];
      if (add.length) setLines((prev) => keepLast(prev.concat(add)));
    };
    const push = (texts: string[]) => {
      for (const text of texts) pending.push({ id: nextId.current++, text: text.replace(/\r$/, '') });
      pending = keepLast(pending);
      timer ??= setTimeout(flush, 100);
    };
    const url = `/api/v1/instances/${encodeURIComponent(name)}/logs?project=${encodeURIComponent(project)}&follow=true&tailBytes=${tailBytes}`;
    void (async () => {
      let partial = '';
      try {
        for await (const chunk of live.api.stream(url, abort.signal)) {
          const parts = (partial + chunk).split('\n');
          partial = parts.pop() ?? '';
          push(parts);
        }
        if (partial) push([partial]);
        setEnded(true);
      } catch (e) {
        if (!abort.signal.aborted) setError(asApiError(e));
      }
    })();
    return () => {
      abort.abort();
      if (timer) clearTimeout(timer);
      flush();
    };
  }, [live, project, name, following, attempt]);

  useLayoutEffect(() => {
    if (following && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, following]);

  const reconnect = () => {
    setFollowing(true);
    setAttempt((n) => n + 1);
  };
  const state = error ? 'error' : !following ? 'paused' : ended ? 'ended' : 'following';
  return (
    <Card title={t('workloads.logs.title')} id="logs">
      <div class="work-log-tools">
        <button type="button" aria-pressed={following} onClick={() => setFollowing((f) => !f)} data-follow>
          {t('workloads.logs.follow')}
        </button>
        <button type="button" onClick={() => setLines([])}>
          {t('workloads.logs.clear')}
        </button>
        <span class="muted" data-log-state={state}>
          {t(`workloads.logs.state.${state}`)} · {t('workloads.logs.count', { n: lines.length })}
        </span>
        {ended && !error && (
          <button type="button" onClick={reconnect}>
            {t('workloads.logs.reconnect')}
          </button>
        )}
      </div>
      {error && (
        <div class="work-log-error">
          <ErrorBox error={error} />
          <button type="button" onClick={reconnect}>
            {t('workloads.logs.retry')}
          </button>
        </div>
      )}
      <pre class="work-log" ref={box} role="log" aria-live="polite" aria-label={t('workloads.logs.label', { name })} tabIndex={0} data-logs>
        {lines.map((l) => (
          <span key={l.id}>
            {l.text}
            {'\n'}
          </span>
        ))}
      </pre>
      {lines.length === 0 && !error && <p class="muted">{t('workloads.logs.empty')}</p>}
    </Card>
  );
}
