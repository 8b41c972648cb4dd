/**
 * A dial the network refused outright: nothing listens at the center's
 * address (ECONNREFUSED: it is restarting), the connection was reset before
 * it opened (ECONNRESET: a link that resets what crosses it), or there is no
 * route (EHOSTUNREACH, ENETUNREACH: the edge's uplink interface is down).
 * Such a try costs both ends nothing, so it is repeated within
 * REFUSED_RETRY_MS (jittered, 0.5-1x) instead of on a backoff that grew
 * while the link was down: the agent is back within a second of the
 * center's return or the link's, not after the backoff's 4-8 s step. Any
 * other failure (timeouts, TLS, HTTP refusals, 5xx) backs off.
 */
const REFUSED_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH']);
export const REFUSED_RETRY_MS = 1000;

export function refusedOutright(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? (err as { cause?: NodeJS.ErrnoException } | undefined)?.cause?.code;
  return typeof code === 'string' && REFUSED_CODES.has(code);
}

/** The delay before the next try after a dial refused outright: the backoff's, or at most about REFUSED_RETRY_MS. */
export function refusedRetryMs(backoffMs: number, random: () => number = Math.random): number {
  return Math.min(backoffMs, Math.round(REFUSED_RETRY_MS * (0.5 + random() / 2)));
}
