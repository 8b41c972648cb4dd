import { Option } from 'commander';
import { DURATION_HELP, formatDuration, parseDuration } from '../core/index.ts';
import { CliError } from './errors.ts';

/** A commander parser for a duration flag (core/duration.ts: 90s, 1h30m, 500ms, 7d), milliseconds; a bad one names the flag. */
export const durationFlag =
  (flag: string) =>
  (v: string): number => {
    const ms = parseDuration(v);
    if (ms === undefined) throw new CliError(`${flag}: expected ${DURATION_HELP}, got "${v}"`);
    return ms;
  };

/** The same, passed on as written to an API field that is a duration (a token's ttl). */
export const durationTextFlag =
  (flag: string) =>
  (v: string): string => {
    durationFlag(flag)(v);
    return v.trim();
  };

/**
 * A flag that took milliseconds before every duration flag took a duration:
 * hidden, and refused with the flag to write instead
 * (`--heartbeat-ms 300` is `--heartbeat-interval 300ms`).
 */
export function renamedDurationFlag(old: string, now: string): Option {
  return new Option(`${old} <ms>`).hideHelp().argParser((v: string) => {
    const ms = Number(v);
    throw new CliError(`${old} is now ${now}, a duration: write ${now} ${Number.isFinite(ms) && ms >= 0 ? formatDuration(ms) : '90s'}`);
  });
}
