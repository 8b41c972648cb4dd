const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** How every duration flag and field of gedge's CLI is written, for help texts and errors. */
export const DURATION_HELP = 'a duration like 90s, 1h30m, 500ms or 7d';

/**
 * Go's duration grammar (Kubernetes' and Prometheus' too), with `d` for
 * days: one or more number-unit pairs (`1h30m`, `1.5s`, `500ms`, `7d`), or a
 * bare `0`. Milliseconds, or undefined when the text is not a duration: a
 * bare number other than 0 has no unit and is refused rather than guessed.
 */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (t === '0') return 0;
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(t)) return undefined;
  let ms = 0;
  for (const [, n, unit] of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) ms += Number(n) * UNIT_MS[unit!]!;
  return Math.round(ms);
}
