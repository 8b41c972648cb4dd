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
 * which version it holds. The source then records `moved`, with the version
 * it is at and, until the target confirms, the document itself (writes may
 * still be on their way to the target): from here the target is the owner,
 * whether or not it has heard yet. The source says `committed` on the same
 * link, after those writes; the target becomes `owned`. A target that
 * never hears the end (or is missing writes) asks the source, whose answer
 * carries the document, or, when the source still owns it, comes after the
 * source ended the attempt for good (`fenced`). A source that never hears the target's word keeps
 * the session. Attempts are numbered by the source and only its latest
 * counts, so an answer to an older attempt cannot commit a newer one. One
 * round trip from the client's arrival to the target's first answer, and
 * the source never stops serving before it.
 */

export type SessionData = Record<string, unknown>;

export type SessionRecord =
  | { state: 'owned'; epoch: number; version: number; data: SessionData; /** Hand-over attempts started (durable: numbers never repeat). */ attempts: number }
  | { state: 'prepared'; epoch: number; version: number; data: SessionData; from: string; attempt: number }
  | { state: 'moved'; epoch: number; to: string; attempt: number; version: number; /** The document handed over, until the target confirms it has it. */ data?: SessionData };

/** What a source offers a target: the whole document, the epoch the target will own it at, and the attempt. */
export interface Offer {
  epoch: number;
  version: number;
  data: SessionData;
  attempt: number;
}

/** What a node says of a session when asked (lookups, and a prepared target asking its source). */
export type StatusAnswer =
  | { state: 'owned'; epoch: number; /** Attempts started: a copy of an earlier one can no longer be handed over. */ attempts: number }
  | { state: 'prepared'; epoch: number; from: string }
  | { state: 'moved'; epoch: number; to: string; attempt: number; version: number; data?: SessionData }
  | { state: 'absent' };

/**
 * A new session where none existed: version 0, empty, at `epoch` (the
 * store gives the time in ms: a session ended and started again then never
 * meets the numbers of its former self, whose copies may still be about).
 */
export const created = (epoch = 1): SessionRecord & { state: 'owned' } => ({ state: 'owned', epoch, version: 0, data: {}, attempts: 0 });

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
 * The source hears the target holds `attempt`'s copy, for `epoch`, at
 * `version`: `hand-over` when that is the latest attempt of this session
 * (the target has the version now, or writes are on their way to it),
 * `stale` otherwise.
 */
export function onPrepared(r: SessionRecord | undefined, p: { attempt: number; epoch: number; version: number }): 'hand-over' | 'stale' {
  return r?.state === 'owned' && r.attempts === p.attempt && r.epoch + 1 === p.epoch && p.version <= r.version ? 'hand-over' : 'stale';
}

/** The session is the target's from now on (after `hand-over`); the record keeps the document until the target confirms. */
export const handedOver = (r: SessionRecord & { state: 'owned' }, to: string): SessionRecord & { state: 'moved' } => ({ state: 'moved', epoch: r.epoch + 1, to, attempt: r.attempts, version: r.version, data: r.data });

/**
 * A target in doubt asks its source how its attempt ended: before the
 * source answers that it still owns the session, it ends every attempt
 * under way (counts one more), so none of them can be handed over after
 * the answer. Without this, a target's word still on its way could commit
 * an attempt the target has just dropped on hearing `owned`.
 */
export const fenced = (r: SessionRecord & { state: 'owned' }): SessionRecord & { state: 'owned' } => ({ ...r, attempts: r.attempts + 1 });

/** The target confirmed it owns the session: the source's record without the document. */
export const confirmed = (r: SessionRecord & { state: 'moved' }): SessionRecord & { state: 'moved' } => ({ state: 'moved', epoch: r.epoch, to: r.to, attempt: r.attempt, version: r.version });

/** How a record answers a status question from `asker` (the document goes only to the node it was handed to). */
export function status(r: SessionRecord | undefined, asker?: string): StatusAnswer {
  if (!r) return { state: 'absent' };
  if (r.state === 'owned') return { state: 'owned', epoch: r.epoch, attempts: r.attempts };
  if (r.state === 'prepared') return { state: 'prepared', epoch: r.epoch, from: r.from };
  return { state: 'moved', epoch: r.epoch, to: r.to, attempt: r.attempt, version: r.version, ...(r.data && asker === r.to ? { data: r.data } : {}) };
}

/**
 * A prepared target learns how its hand-over ended, from the source's answer
 * (`me`: this node's name): owned when the source handed this very attempt
 * over to it, at the version the source had (from its own copy when that is
 * the version, else from the document the answer carries); dropped
 * (undefined) when the source still owns the session or gave it elsewhere;
 * unchanged (`wait`) when the answer says nothing yet, or it is the one
 * but lacks the writes this copy misses.
 */
export function resolve(r: SessionRecord & { state: 'prepared' }, me: string, a: StatusAnswer): SessionRecord | undefined | 'wait' {
  if (a.state === 'moved' && a.to === me && a.epoch === r.epoch && a.attempt === r.attempt) {
    if (a.version === r.version) return { state: 'owned', epoch: r.epoch, version: r.version, data: r.data, attempts: 0 };
    return a.data && a.version > r.version ? { state: 'owned', epoch: r.epoch, version: a.version, data: a.data, attempts: 0 } : 'wait';
  }
  if (a.state === 'moved' && a.epoch < r.epoch) return 'wait';
  // An owner that may still hand this attempt over (it was not fenced) is no answer yet.
  if (a.state === 'owned') return a.epoch >= r.epoch || a.attempts > r.attempt ? undefined : 'wait';
  if (a.state === 'moved' || a.state === 'absent') return undefined;
  return 'wait';
}
