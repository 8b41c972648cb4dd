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
 * A hand-over (the source coordinates it): the source freezes the session
 * (no writes; a volatile state, lost with a crash) for one attempt, sends
 * the document as it stands with the next epoch; the target keeps it as
 * `prepared` and says so; only then does the source record `moved` (from
 * here the target is the owner, whether or not it has heard yet) and tell
 * the target, which becomes `owned`. A target that never hears asks the
 * source; a source that never hears back aborts (unfreezes, still owner).
 * Attempts are numbered by the source, so an answer to an older attempt
 * cannot commit a newer one. At most one node holds `owned` at any time;
 * once messages flow again, exactly one does, with every acknowledged write.
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

/**
 * The target takes an offer: the record it keeps, or undefined when it must
 * not (it owns the session already, or holds a newer attempt's copy).
 */
export function prepare(r: SessionRecord | undefined, from: string, o: Offer): (SessionRecord & { state: 'prepared' }) | undefined {
  if (r?.state === 'owned') return undefined;
  if (r?.state === 'prepared' && r.from === from && r.epoch === o.epoch && r.attempt > o.attempt) return undefined;
  if (r?.state === 'moved' && r.epoch >= o.epoch) return undefined;
  return { state: 'prepared', epoch: o.epoch, version: o.version, data: o.data, from, attempt: o.attempt };
}

/** The source hears the target kept its offer: the session is the target's from now on. */
export const handedOver = (o: Offer, to: string): SessionRecord & { state: 'moved' } => ({ state: 'moved', epoch: o.epoch, to, attempt: o.attempt });

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
