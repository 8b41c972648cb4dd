const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Go's duration grammar with days: `1h30m`, `1.5s`, `500ms`, `7d`, or a bare `0`. */
export const DURATION_PATTERN = /^(0|(\d+(\.\d+)?(ms|s|m|h|d))+)$/;

/** How every duration flag of gedge's CLI and field of its manifests is written, for help texts and errors. */
export const DURATION_HELP = 'a duration like 90s, 1h30m, 500ms or 7d';

/**
 * Go's duration grammar (Kubernetes' and Prometheus' too), with `d` for
 * days: one or more number-unit pairs (`1h30m`, `1.5s`, `500ms`, `7d`), or a
 * bare `0`. Milliseconds, or undefined when the text is not a duration: a
 * bare number other than 0 has no unit and is refused rather than guessed.
 */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (!DURATION_PATTERN.test(t)) return undefined;
  let ms = 0;
  for (const [, n, unit] of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) ms += Number(n) * UNIT_MS[unit!]!;
  return Math.round(ms);
}

/**
 * `ms` as the shortest duration text that reads back to it: 90000 is `1m30s`,
 * 1500 is `1s500ms`, 604800000 is `7d`, 0 is `0s`. Whole milliseconds.
 */
export function formatDuration(ms: number): string {
  let left = Math.max(0, Math.round(ms));
  if (left === 0) return '0s';
  let out = '';
  for (const unit of ['d', 'h', 'm', 's', 'ms'] as const) {
    const n = Math.floor(left / UNIT_MS[unit]!);
    if (n) out += `${n}${unit}`;
    left -= n * UNIT_MS[unit]!;
  }
  return out;
}

/** Milliseconds of a duration that its schema accepted (a manifest field); throws on text no schema would accept. */
export function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new TypeError(`not a duration: ${JSON.stringify(text)}`);
  return ms;
}
