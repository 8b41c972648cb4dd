import { parseDuration } from './duration.ts';

/**
 * A `since` as users write it: a duration back from `now` (`90s`, `10m`,
 * `1h30m`, `2d`) or an RFC 3339 time (`2026-11-21T10:00:00Z`). Returns ms
 * since the epoch, or undefined when the text is neither.
 */
export function parseSince(text: string, now = Date.now()): number | undefined {
  const t = text.trim();
  const back = parseDuration(t);
  if (back !== undefined) return Math.max(0, now - back);
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(t)) {
    const at = Date.parse(t);
    return Number.isFinite(at) && at >= 0 ? at : undefined;
  }
  return undefined;
}

export const SINCE_HELP = 'a duration like 10m or 1h30m, or a time like 2026-11-21T10:00:00Z';
