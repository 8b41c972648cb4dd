import { useEffect, useRef, useState } from 'preact/hooks';
import { asApiError, type ApiError, type Api } from '../api.ts';
import type { ApplyItem } from './apply-results.tsx';

export const APPLY_URL = '/api/v1/apply';

/** The last finished check of the text, as the center judged it with a dry run. */
export type Check = { state: 'empty' } | { state: 'valid'; items: ApplyItem[] } | { state: 'invalid'; error: ApiError } | { state: 'unknown' };


/**
 * Checks `text` with POST /api/v1/apply?dryRun=true, 400 ms after the last
 * change. Every change takes a new sequence number and only the answer for
 * the newest one is kept, so a slow answer about older text never
 * overwrites a newer one. Until the next answer the last one stays (no
 * flicker while typing); `pending` says a newer one is on its way.
 * Changing `again` checks the same text again (after an apply).
 */
export function useDryRun(api: Api, text: string, again: number): { check: Check; pending: boolean } {
  const seq = useRef(0);
  const [check, setCheck] = useState<Check>({ state: 'unknown' });
  const [pending, setPending] = useState(false);
  useEffect(() => {
    const mine = ++seq.current;
    if (!text.trim()) {
      setCheck({ state: 'empty' });
      setPending(false);
      return;
    }
    setPending(true);
    const timer = setTimeout(() => {
      const settle = (c: Check) => {
        if (mine !== seq.current) return;
        setCheck(c);
        setPending(false);
      };
      api.request<{ items: ApplyItem[] }>('POST', `${APPLY_URL}?dryRun=true`, text).then(
        (r) => settle({ state: 'valid', items: r.items }),
        (e: unknown) => settle({ state: 'invalid', error: asApiError(e) }),
      );
    }, 400);
    return () => clearTimeout(timer);
  }, [api, text, again]);
  return { check, pending };
}
