/**
 * When an agent's connection has gone silent, pure (the hub runs it on a
 * timer). A link that drops packets (a blackholed WAN) carries no FIN or RST:
 * TCP says nothing for minutes, and without this the center would hold the
 * session (and count the agent connected) until the link heals.
 *
 * An agent sends a heartbeat and a ping every heartbeat period; a connection
 * quiet for a whole period is pinged (the agent's WebSocket answers by
 * itself), and one quiet for `boundMs` and for `quietTicks` looks in a row
 * is closed. Counting looks as well as wall time keeps a stall of the center
 * itself (a long GC, a busy machine) from being taken for the agents'
 * silence: what arrived while it was stuck is read before the next look.
 */
export interface SilenceOptions {
  /** The period agents heartbeat at; the watch looks once per period. */
  heartbeatMs: number;
}

/** Looks in a row that must find a connection quiet before it is closed. */
const QUIET_LOOKS = 3;
/** Never closed sooner than this, however short the heartbeat (a busy machine stalls agents for seconds: a big catch-up on two loaded cores). */
const MIN_BOUND_MS = 5000;

/** How long a connection may stay silent: three heartbeats, at least five seconds. */
export function silenceBoundMs(heartbeatMs: number): number {
  return Math.max(QUIET_LOOKS * heartbeatMs, MIN_BOUND_MS);
}

export interface Heard<K> {
  key: K;
  /** When anything last came over the connection (a message, ping or pong), ms epoch. */
  heardAt: number;
}

export class SilenceWatch<K> {
  readonly boundMs: number;
  /** Per connection: looks in a row that found it quiet since the look before. */
  private readonly quiet = new Map<K, number>();
  private lastLook: number | undefined;

  constructor(private readonly opts: SilenceOptions) {
    this.boundMs = silenceBoundMs(opts.heartbeatMs);
  }

  /** One look at every connection: which to ping, and which have been silent too long (with for how long). */
  look(now: number, conns: Iterable<Heard<K>>): { ping: K[]; close: { key: K; silentMs: number }[] } {
    const ping: K[] = [];
    const close: { key: K; silentMs: number }[] = [];
    const seen = new Set<K>();
    const since = this.lastLook;
    this.lastLook = now;
    for (const { key, heardAt } of conns) {
      seen.add(key);
      const silentMs = now - heardAt;
      // Heard from since the last look (or this is the first): not quiet.
      const quiet = since !== undefined && heardAt <= since && silentMs >= this.opts.heartbeatMs ? (this.quiet.get(key) ?? 0) + 1 : 0;
      this.quiet.set(key, quiet);
      if (quiet >= QUIET_LOOKS && silentMs >= this.boundMs) close.push({ key, silentMs });
      else if (silentMs >= this.opts.heartbeatMs) ping.push(key);
    }
    for (const key of this.quiet.keys()) if (!seen.has(key)) this.quiet.delete(key);
    return { ping, close };
  }
}
