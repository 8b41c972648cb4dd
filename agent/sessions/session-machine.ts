/**
 * Who owns a client's session (GS-Link continuity, docs/link.md): the pure
 * rules of a migration, shared by the session store and the property tests
 * that try every interleaving of moves, losses, crashes and cuts.
 *
 * Each node keeps, per session, one durable record:
 * - `owned`: this node serves the session (epoch, version, the document);
 * - `prepared`: this node holds a copy offered by `from` in a hand-over it
 *   has not heard the end of; it does not serve it;
 * - `moved`: this node handed the session to `to` at `epoch`.
 *
 * A hand-over (the source coordinates it, make-before-break): the source
 * offers the document as it stands, numbered as an attempt, and goes on
 * serving, sending each later write to the target as a change of that
 * attempt; the target keeps the copy up to date in memory. When the client
 * is at the target, the target writes its copy down as `prepared` and says
 * which version it holds. If that is the source's version now, the source
 * records `moved` (from here the target is the owner, whether or not it has
 * heard yet) and tells the target, which becomes `owned`. If the target is
 * behind (writes were on their way to it), the source freezes the session
 * (no writes; volatile, lost with a crash) until the target, having applied
 * them, says so again. A target that never hears the end asks the source; a
 * source that never hears back keeps the session. Attempts are numbered by the
 * source and only its latest counts, so an answer to an older attempt
 * cannot commit a newer one.
 */

export type SessionData = Record<string, unknown>;

export type SessionRecord =
  | { state: 'owned'; epoch: number; version: number; data: SessionData; /** Hand-over attempts started (durable: numbers never repeat). */ attempts: number }
  | { state: 'prepared'; epoch: number; version: number; data: SessionData; from: string; attempt: number }
  | { state: 'moved'; epoch: number; to: string; attempt: number };

/** What a source sends a target once frozen: the whole document and the epoch the target will own it at. */
export interface Offer {
  epoch: number;
  version: number;
  data: SessionData;
  attempt: number;
}

/** What a node says of a session when asked (lookups, and a prepared target asking its source). */
export type StatusAnswer = { state: 'owned'; epoch: number } | { state: 'prepared'; epoch: number; from: string } | { state: 'moved'; epoch: number; to: string; attempt: number } | { state: 'absent' };

/** A new session where none existed: epoch 1, version 0, empty. */
export const created = (): SessionRecord & { state: 'owned' } => ({ state: 'owned', epoch: 1, version: 0, data: {}, attempts: 0 });

/** An owner's write: the next version of the document. */
export function written(r: SessionRecord & { state: 'owned' }, data: SessionData): SessionRecord & { state: 'owned' } {
  return { ...r, version: r.version + 1, data };
}

/** The source starts an attempt: the record with its attempt counted (kept before the offer leaves), and the offer. */
export function startAttempt(r: SessionRecord & { state: 'owned' }): { record: SessionRecord & { state: 'owned' }; offer: Offer } {
  const record = { ...r, attempts: r.attempts + 1 };
  return { record, offer: { epoch: r.epoch + 1, version: r.version, data: r.data, attempt: record.attempts } };
}

/** A write the source made during an attempt, as the target receives it: the document at the next version. */
export interface Change {
  attempt: number;
  version: number;
  data: SessionData;
}

/** The target's copy with a change applied; undefined when the change is not the next one of the copy's attempt. */
export function advance(copy: Offer, c: Change): Offer | undefined {
  return c.attempt === copy.attempt && c.version === copy.version + 1 ? { ...copy, version: c.version, data: c.data } : undefined;
}

/**
 * The target writes its copy down before it says it holds it: the record it
 * keeps, or undefined when it must not (it owns the session already, or
 * holds a newer attempt's copy, or this attempt's at this version or later).
 */
export function prepare(r: SessionRecord | undefined, from: string, o: Offer): (SessionRecord & { state: 'prepared' }) | undefined {
  if (r?.state === 'owned') return undefined;
  if (r?.state === 'prepared' && r.from === from && r.epoch === o.epoch && (r.attempt > o.attempt || (r.attempt === o.attempt && r.version >= o.version))) return undefined;
  if (r?.state === 'moved' && r.epoch >= o.epoch) return undefined;
  return { state: 'prepared', epoch: o.epoch, version: o.version, data: o.data, from, attempt: o.attempt };
}

/**
 * The source hears the target holds `attempt`'s copy at `version`:
 * `hand-over` when that is the latest attempt and the version now, `behind`
 * when the attempt is the latest but writes came since, `stale` otherwise.
 */
export function onPrepared(r: SessionRecord | undefined, attempt: number, version: number): 'hand-over' | 'behind' | 'stale' {
  if (r?.state !== 'owned' || r.attempts !== attempt) return 'stale';
  return r.version === version ? 'hand-over' : 'behind';
}

/** The session is the target's from now on (after `hand-over`). */
export const handedOver = (r: SessionRecord & { state: 'owned' }, to: string): SessionRecord & { state: 'moved' } => ({ state: 'moved', epoch: r.epoch + 1, to, attempt: r.attempts });

/** How a record answers a status question. */
export function status(r: SessionRecord | undefined): StatusAnswer {
  if (!r) return { state: 'absent' };
  if (r.state === 'owned') return { state: 'owned', epoch: r.epoch };
  if (r.state === 'prepared') return { state: 'prepared', epoch: r.epoch, from: r.from };
  return { state: 'moved', epoch: r.epoch, to: r.to, attempt: r.attempt };
}

/**
 * A prepared target learns how its hand-over ended, from the source's answer
 * (`me`: this node's name): owned when the source handed this very attempt
 * over to it; dropped (undefined) when the source still owns the session or
 * gave it elsewhere; unchanged (`wait`) when the answer says nothing yet.
 */
export function resolve(r: SessionRecord & { state: 'prepared' }, me: string, a: StatusAnswer): SessionRecord | undefined | 'wait' {
  if (a.state === 'moved' && a.to === me && a.epoch === r.epoch && a.attempt === r.attempt) return { state: 'owned', epoch: r.epoch, version: r.version, data: r.data, attempts: 0 };
  if (a.state === 'moved' && a.epoch < r.epoch) return 'wait';
  if (a.state === 'owned' || a.state === 'moved' || a.state === 'absent') return undefined;
  return 'wait';
}
