import { z } from 'zod';
import { ConflictError, PayloadTooLargeError, UnavailableError } from '../../core/index.ts';
import type { LocalState } from '../local-state.ts';
import { confirmed, created, fenced, handedOver, onPrepared, prepare, resolve, startAttempt, status, written, type Offer, type SessionData, type SessionRecord, type StatusAnswer } from './session-machine.ts';

/** A client's session of a Service. */
export interface SessionKey {
  project: string;
  service: string;
  client: string;
}

/** What a write does to a document: keys set (to JSON values) and keys deleted, at the version the writer read (optional). */
export interface SessionPatch {
  set?: Record<string, unknown>;
  delete?: string[];
  ifVersion?: number;
}

const dataSchema = z.record(z.string(), z.unknown());
const recordSchema = z.discriminatedUnion('state', [
  z.object({ state: z.literal('owned'), epoch: z.number().int().min(1), version: z.number().int().min(0), data: dataSchema, attempts: z.number().int().min(0) }),
  z.object({ state: z.literal('prepared'), epoch: z.number().int().min(1), version: z.number().int().min(0), data: dataSchema, from: z.string(), attempt: z.number().int().min(1) }),
  z.object({ state: z.literal('moved'), epoch: z.number().int().min(1), to: z.string(), attempt: z.number().int().min(1), version: z.number().int().min(0), data: dataSchema.optional() }),
]);

/** A write as a hand-over's target receives it while it copies the session. */
export interface SessionChange {
  attempt: number;
  version: number;
  set?: Record<string, unknown>;
  delete?: string[];
}

/** A document with a write's keys set and deleted (own properties only, whatever the key). */
export function patched(data: SessionData, p: Pick<SessionPatch, 'set' | 'delete'>): SessionData {
  const out: SessionData = { ...data };
  for (const key of p.delete ?? []) delete out[key];
  for (const [key, value] of Object.entries(p.set ?? {})) Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

/** How long an operation waits for its turn at a session by default. */
export const LOCK_WAIT_MS = 10_000;

export const sessionId = (k: SessionKey): string => `${k.project}/${k.service}/${k.client}`;

/**
 * The node's side of every client session (session-machine.ts), durable in
 * local state: a record is written before anything that depends on it is
 * said to another node. One operation at a time per session (`exclusive`):
 * a write waits while its session is frozen for a hand-over, and then finds
 * it moved.
 */
export class SessionStore {
  private readonly locks = new Map<string, Promise<void>>();
  /** Per session, the target a hand-over attempt is copying it to: each write goes there too. */
  private readonly followers = new Map<string, { attempt: number; send: (c: SessionChange) => void }>();
  /** Sessions held here as prepared copies whose hand-over's end is not known yet. */
  private readonly doubts = new Map<string, SessionKey>();

  constructor(
    private readonly state: LocalState,
    /** This node's name (what hand-overs to it are addressed to). */
    readonly node: string,
    /** The clock sessions' last use is stamped with (ms). */
    private readonly now: () => number = Date.now,
  ) {
    for (const [id, body] of state.sessionsIn('prepared')) {
      const r = recordSchema.safeParse(body);
      const [project, service, ...client] = id.split('/');
      if (r.success && project && service && client.length) this.doubts.set(id, { project, service, client: client.join('/') });
    }
  }

  /** The prepared copies whose end is not known yet (a background task asks their sources). */
  inDoubt(): SessionKey[] {
    return [...this.doubts.values()];
  }

  /** The durable record, or undefined (none, or one that does not read as a record: as none). */
  record(k: SessionKey): SessionRecord | undefined {
    const parsed = recordSchema.safeParse(this.state.session(sessionId(k)));
    return parsed.success ? (parsed.data as SessionRecord) : undefined;
  }

  private put(k: SessionKey, r: SessionRecord | undefined): void {
    const id = sessionId(k);
    if (r) this.state.putSession(id, r.state, r, this.now());
    else this.state.deleteSession(id);
    if (r?.state === 'prepared') this.doubts.set(id, k);
    else this.doubts.delete(id);
  }

  /**
   * Runs `fn` with the session to itself: writes and hand-overs of one
   * session never overlap. Waits `waitMs` at most for its turn (503 then:
   * the caller gave up, and `fn` never runs).
   */
  async exclusive<T>(k: SessionKey, fn: () => Promise<T> | T, waitMs = LOCK_WAIT_MS): Promise<T> {
    const id = sessionId(k);
    const before = this.locks.get(id) ?? Promise.resolve();
    let release!: () => void;
    const mine = before.then(() => new Promise<void>((r) => (release = r)));
    this.locks.set(id, mine);
    let timer: NodeJS.Timeout | undefined;
    const turn = await Promise.race([before.then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), waitMs)))]);
    clearTimeout(timer);
    if (!turn) {
      // Its place in the queue is passed on as soon as it comes.
      void before.then(() => {
        release();
        if (this.locks.get(id) === mine) this.locks.delete(id);
      });
      throw new UnavailableError(`the session of ${k.client} is busy (a hand-over or another request holds it)`, { details: [{ path: 'client', message: 'busy' }] });
    }
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(id) === mine) this.locks.delete(id);
    }
  }

  /** What this node says of the session when another node asks (the document goes only to the node it was handed to). */
  status(k: SessionKey, asker?: string): StatusAnswer {
    return status(this.record(k), asker);
  }

  /**
   * The answer to a copy in doubt (inside `exclusive`): an owner first ends
   * every attempt under way for good (session-machine.ts `fenced`).
   */
  fencedStatus(k: SessionKey, asker: string): StatusAnswer {
    const r = this.record(k);
    if (r?.state === 'owned') this.put(k, fenced(r));
    return this.status(k, asker);
  }

  /**
   * Forgets the Service's sessions last used before `before` (at most
   * `limit` a call): an owned one ends as a `DELETE` would end it, a record
   * of one handed on goes. Copies in doubt stay (they are settled), and so
   * does a session in use now (its lock held, or a copy following it).
   * Returns how many went.
   */
  expire(project: string, service: string, before: number, limit = 1000): number {
    let gone = 0;
    for (const id of this.state.idleSessions(`${project}/${service}/`, before, limit)) {
      if (this.locks.has(id) || this.followers.has(id) || this.doubts.has(id)) continue;
      this.state.deleteSession(id);
      gone++;
    }
    return gone;
  }

  /** A new, empty session owned here (no node had it), numbered from the time. */
  create(k: SessionKey): SessionRecord & { state: 'owned' } {
    const r = created(Math.max(1, this.now(), (this.record(k)?.epoch ?? 0) + 1));
    this.put(k, r);
    return r;
  }

  /**
   * A write by the owner (called inside `exclusive`): the patch applied, the
   * document kept within `maxBytes` as JSON. 409 when the writer read an
   * older version, or the session is not (or no longer) owned here.
   */
  write(k: SessionKey, p: SessionPatch, maxBytes: number): { version: number } {
    const r = this.owned(k);
    if (p.ifVersion !== undefined && p.ifVersion !== r.version) {
      throw new ConflictError(`the session of ${k.client} is at version ${r.version}, not ${p.ifVersion}`, { details: [{ path: 'ifVersion', message: `now ${r.version}` }] });
    }
    const data = patched(r.data, p);
    const size = Buffer.byteLength(JSON.stringify(data));
    if (size > maxBytes) throw new PayloadTooLargeError(`the session of ${k.client} would be ${size} bytes; the Service allows ${maxBytes} (continuity.maxSessionBytes)`, { details: [{ path: 'set', message: `${size} > ${maxBytes} bytes` }] });
    const next = written(r, data);
    this.put(k, next);
    const f = this.followers.get(sessionId(k));
    if (f?.attempt === next.attempts) f.send({ attempt: f.attempt, version: next.version, ...(p.set ? { set: p.set } : {}), ...(p.delete ? { delete: p.delete } : {}) });
    return { version: next.version };
  }

  /** Sends each later write of the session to the target of `attempt` (while it is the latest); returns how to stop. */
  follow(k: SessionKey, attempt: number, send: (c: SessionChange) => void): () => void {
    const id = sessionId(k);
    const f = { attempt, send };
    this.followers.set(id, f);
    return () => {
      if (this.followers.get(id) === f) this.followers.delete(id);
    };
  }

  /** Ends the session (called inside `exclusive`): false when there was none here to end. */
  end(k: SessionKey): boolean {
    const r = this.record(k);
    if (r?.state !== 'owned') return false;
    this.put(k, undefined);
    return true;
  }

  /** The session as owned here (inside `exclusive`); 409 when it is not. */
  owned(k: SessionKey): SessionRecord & { state: 'owned' } {
    const r = this.record(k);
    if (r?.state === 'owned') return r;
    const where = r?.state === 'moved' ? `it moved to ${r.to}` : 'it is not held here';
    throw new ConflictError(`the session of ${k.client} is not this node's: ${where}`, { details: [{ path: 'client', message: where }] });
  }

  // ---- Hand-overs, as the source (each inside `exclusive`, which is the freeze) ----

  /** Starts an attempt: the attempt counted durably, and the offer to send. Undefined when not owned here. */
  offer(k: SessionKey): Offer | undefined {
    const r = this.record(k);
    if (r?.state !== 'owned') return undefined;
    const { record, offer } = startAttempt(r);
    this.put(k, record);
    return offer;
  }

  /** The target says it holds `attempt`'s copy for `epoch` at `version` (inside `exclusive`): whether that hands the session over (session-machine.ts). */
  onPrepared(k: SessionKey, p: { attempt: number; epoch: number; version: number }): ReturnType<typeof onPrepared> {
    return onPrepared(this.record(k), p);
  }

  /** After `hand-over`: the session is `to`'s from now on; the record kept, with the document until `to` confirms. */
  handOver(k: SessionKey, to: string): SessionRecord & { state: 'moved' } {
    const moved = handedOver(this.owned(k), to);
    this.put(k, moved);
    return moved;
  }

  /**
   * The source says this node owns the session, with the document, but this
   * node holds no copy (its local state was lost): it takes the document.
   */
  adopt(k: SessionKey, a: StatusAnswer): boolean {
    if (a.state !== 'moved' || a.to !== this.node || !a.data || this.record(k)) return false;
    this.put(k, { state: 'owned', epoch: a.epoch, version: a.version, data: a.data, attempts: 0 });
    return true;
  }

  /** `to` owns the session now: the document kept for it goes. */
  confirm(k: SessionKey, to: string, attempt: number): void {
    const r = this.record(k);
    if (r?.state === 'moved' && r.to === to && r.attempt === attempt && r.data) this.put(k, confirmed(r));
  }

  // ---- Hand-overs, as the target ----

  /** Writes a copy down as prepared, before saying so; false when it must not (owned here, or this or a newer attempt is kept). */
  keep(k: SessionKey, from: string, o: Offer): boolean {
    const r = prepare(this.record(k), from, o);
    if (r) this.put(k, r);
    return !!r;
  }

  /** A prepared copy learns how its hand-over ended from its source's answer; returns the record now. */
  learn(k: SessionKey, from: string, a: StatusAnswer): SessionRecord | undefined {
    const r = this.record(k);
    if (r?.state !== 'prepared' || r.from !== from) return r;
    const next = resolve(r, this.node, a);
    if (next === 'wait') return r;
    this.put(k, next);
    return next;
  }
}
