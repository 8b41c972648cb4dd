import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type SqliteDatabase from 'better-sqlite3';
import type { Logger } from 'pino';
import { InvalidMessageError, QueueClosedError } from './errors.ts';
import { uplinkOptionsSchema, UPLINK_MAX_PAYLOAD, type UplinkOptions, type UplinkOptionsInput } from './options.ts';
import { openQueueDb, syncWal, type HeadRow, type QueueRow, type QueueStatements } from './queue-db.ts';
import type { AppendResult, PublishOrigin, QueuedMessage, RouteKey, UplinkAppend, UplinkQueueStats } from './queue-types.ts';
import { WalSync, type Fdatasync } from './wal-sync.ts';

type DropCounter = 'droppedOverflow' | 'droppedExpired' | 'droppedRouteGone';
interface Waiter {
  m: UplinkAppend;
  bytes: number;
  resolve: (seq: number) => void;
  reject: (e: unknown) => void;
}
const TOPIC_MAX = 512;
/** How often records of queued publishes older than ttlMs are pruned. */
const PRUNE_MS = 60_000;
/** Seqs reserved on disk at a time (fsync batch, off); a restart skips what was left of the block. */
const SEQ_BLOCK = 1_000_000;
const DEVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const keyOf = (project: string, route: string) => `${project}/${route}`;
/** The clock, the log, and (for tests) the disk's fdatasync. */
export interface QueueDeps {
  now?: () => number;
  log?: Logger;
  fdatasync?: Fdatasync;
}

/**
 * The edge's durable store-and-forward queue (`<dataDir>/uplink.db`), one per
 * edge, shared by every route. Sequence numbers increase strictly across
 * routes and restarts; a new queue starts at its creation time in
 * microseconds, so a node that rejoins under an old name with a fresh data
 * dir does not reuse numbers the center has seen. Everything is synchronous
 * (better-sqlite3): an append that does not wait for room costs one prepared
 * INSERT (fsync always) or an array push (batch, off). Under fsync batch no
 * commit waits for the disk on the event loop, which the edge's broker and
 * rules share: the fsyncs run in the thread pool (WalSync), and durable()
 * waits for them.
 *
 * Dropping from the head (overflow drop-oldest, TTL) moves a floor: rows at
 * or below it are gone for every reader at once, and the DELETE rides in the
 * next commit instead of costing a transaction of its own.
 *
 * One class past 400 lines on purpose: the pending rows, the floor, the
 * per-route counts and the waiters for room change together in every append,
 * commit and drop, and split apart they would share all of it.
 */
export class UplinkQueue {
  readonly options: UplinkOptions;
  private readonly db: SqliteDatabase.Database;
  private readonly q: QueueStatements;
  /** fsync batch: commits reach the disk off the event loop. */
  private readonly sync: WalSync | undefined;
  private readonly file: string;
  private readonly now: () => number;
  private readonly log: Logger | undefined;
  private nextSeq: number;
  private floor = 0;
  private appliedFloor = 0;
  private pending: QueueRow[] = [];
  private origins: (PublishOrigin & { at: number })[] = [];
  private prunedAt = 0;
  private readonly routes = new Map<string, RouteKey & { messages: number; bytes: number }>();
  private readonly depth = { messages: 0, bytes: 0 };
  private readonly peak = { messages: 0, at: 0 };
  private readonly counters = { enqueued: 0, delivered: 0, droppedOverflow: 0, droppedExpired: 0, droppedRouteGone: 0, resends: 0 };
  private readonly waiters: Waiter[] = [];
  private durableWaiters: (() => void)[] = [];
  /**
   * fsync batch and off: seqs up to here are reserved on disk (the
   * high-water mark, fsynced) before any is handed out. The sender sees
   * committed rows that a power cut may still take back; the queue then
   * starts above the reservation, so it never hands out a seq the center
   * may have seen.
   */
  private reservedSeq = Number.MAX_SAFE_INTEGER;
  private readonly listeners = new Set<(key: RouteKey) => void>();
  private commitTimer: NodeJS.Timeout | undefined;
  private commitSoon: NodeJS.Immediate | undefined;
  private readonly expiryTimer: NodeJS.Timeout;
  private closed = false;
  private readonly writeTx: (rows: QueueRow[], floor: number, origins: (PublishOrigin & { at: number })[]) => void;

  private constructor(dataDir: string, options: UplinkOptions, deps: QueueDeps) {
    this.options = options;
    this.now = deps.now ?? Date.now;
    this.log = deps.log;
    mkdirSync(dataDir, { recursive: true });
    this.file = join(dataDir, 'uplink.db');
    ({ db: this.db, q: this.q } = openQueueDb(this.file, options.fsync));
    this.q.initHighWater.run(this.now() * 1000);
    this.sync = options.fsync === 'batch' ? new WalSync(this.db, this.file, this.log, deps.fdatasync) : undefined;
    this.nextSeq = Math.max(this.q.highWater.get()!.value, this.q.maxSeq.get()!.m ?? 0) + 1;
    if (options.fsync !== 'always') this.reserveSeqs();
    for (const r of this.q.perRoute.all()) {
      this.routes.set(keyOf(r.project, r.route), { project: r.project, route: r.route, messages: r.n, bytes: r.b });
      this.depth.messages += r.n;
      this.depth.bytes += r.b;
    }
    this.notePeak();
    this.writeTx = this.db.transaction((rows: QueueRow[], floor: number, origins: (PublishOrigin & { at: number })[]) => {
      if (floor > this.appliedFloor) {
        this.q.deleteUpTo.run(floor);
        this.q.raiseHighWater.run(floor);
      }
      for (const r of rows) this.q.insert.run(r.seq, r.project, r.route, r.topic, r.device, r.qos, r.at, r.bytes, r.payload);
      for (const o of origins) this.q.recordPublish.run(o.client, o.packetId, o.hash, o.at);
    });
    this.expiryTimer = setInterval(() => this.expireFromTimer(), Math.min(1000, options.ttlMs)).unref();
  }

  static open(dataDir: string, options: UplinkOptionsInput = {}, deps: QueueDeps = {}): UplinkQueue {
    return new UplinkQueue(dataDir, uplinkOptionsSchema.parse(options), deps);
  }

  append(m: UplinkAppend): AppendResult {
    if (this.closed) throw new QueueClosedError('the uplink queue is closed');
    const bytes = sizeOf(m);
    if (!this.waiters.length && this.fits(bytes)) return this.insert(m, bytes);
    if (bytes > this.options.maxBytes) {
      // It would not fit an empty queue: no policy can make room for it.
      this.counters.droppedOverflow++;
      return null;
    }
    switch (this.options.overflow) {
      case 'drop-newest':
        this.counters.droppedOverflow++;
        return null;
      case 'drop-oldest':
        this.dropHead(() => !this.fits(bytes), 'droppedOverflow');
        return this.insert(m, bytes);
      case 'block':
        return new Promise<number>((resolve, reject) => this.waiters.push({ m, bytes, resolve, reject }));
    }
  }

  /**
   * Resolves when everything appended so far is committed and, under fsync
   * batch, on disk (at once with fsync always). Someone is waiting, e.g. a
   * device for its PUBACK: the commit happens at the end of this turn of the
   * event loop, with whatever else arrived in it, instead of after commitMs.
   */
  durable(): Promise<void> {
    if (!this.pending.length && !this.origins.length) return this.sync?.durable() ?? Promise.resolve();
    this.commitSoon ??= setImmediate(() => {
      this.commitSoon = undefined;
      this.commitFromTimer();
    });
    return new Promise((resolve) => this.durableWaiters.push(resolve));
  }

  /**
   * True when the last publish queued under this client and packet id had
   * the same topic and payload: a device resends what it saw no
   * acknowledgement for. Counted as a resend; the caller acknowledges it
   * again without appending it. The caller only asks for publishes that may
   * be resends (see UplinkRouter.route and docs/uplink.md).
   */
  isResend(origin: PublishOrigin): boolean {
    let hash: Buffer | undefined;
    for (let i = this.origins.length - 1; i >= 0 && hash === undefined; i--) {
      const o = this.origins[i]!;
      if (o.packetId === origin.packetId && o.client === origin.client) hash = o.hash;
    }
    hash ??= this.q.publishHash.get(origin.client, origin.packetId)?.hash;
    if (hash === undefined || !hash.equals(origin.hash)) return false;
    this.counters.resends++;
    return true;
  }

  /**
   * The oldest messages of one route after `afterSeq`, in seq order, up to
   * `maxMessages` and `maxBytes` (at least one).
   */
  batch(key: RouteKey, maxMessages: number, maxBytes: number, afterSeq = 0): QueuedMessage[] {
    this.commit();
    this.expire();
    const rows = this.q.routeBatch.all(key.project, key.route, afterSeq, maxMessages) as QueuedMessage[];
    let n = 0;
    for (let bytes = 0; n < rows.length && (n === 0 || bytes + rows[n]!.bytes <= maxBytes); n++) bytes += rows[n]!.bytes;
    return n === rows.length ? rows : rows.slice(0, n);
  }

  /** The center has everything of this route up to `upToSeq`: drop it. Returns how many messages that was. */
  ack(project: string, route: string, upToSeq: number): number {
    return this.removeRoute(project, route, upToSeq, 'delivered');
  }

  /** The route no longer exists (or no longer runs here): drop its backlog. */
  dropRoute(project: string, route: string): number {
    return this.removeRoute(project, route, Number.MAX_SAFE_INTEGER, 'droppedRouteGone');
  }

  /**
   * The center has seen sequence numbers up to `seenSeq` that this queue
   * has not handed out yet (its file was lost or restored from an old copy):
   * moves every later seq above it and renumbers the route's backlog there,
   * in order, so the center does not skip it. False (and nothing done) when
   * this queue has handed out `seenSeq` itself.
   */
  resequence(key: RouteKey, seenSeq: number): boolean {
    if (seenSeq < this.nextSeq) return false;
    this.commit();
    this.nextSeq = Math.max(this.nextSeq, seenSeq + 1);
    this.db.transaction(() => {
      const rows = this.q.routeBatch.all(key.project, key.route, 0, Number.MAX_SAFE_INTEGER);
      this.q.deleteRouteUpTo.run(key.project, key.route, Number.MAX_SAFE_INTEGER);
      for (const r of rows) this.q.insert.run(this.nextSeq++, key.project, key.route, r.topic, r.device, r.qos, r.at, r.bytes, r.payload);
      this.q.raiseHighWater.run(this.nextSeq - 1);
    })();
    if (this.nextSeq > this.reservedSeq) this.reserveSeqs();
    this.synced([key]);
    return true;
  }

  /** Drops messages older than ttlMs, oldest first; the timer calls it every second. */
  expire(now = this.now()): number {
    const cutoff = now - this.options.ttlMs;
    const n = this.dropHead((r) => r.at < cutoff, 'droppedExpired');
    if (n) {
      this.commit();
      this.admit();
    }
    return n;
  }

  /** Routes with messages waiting. */
  backlog(): RouteKey[] {
    return [...this.routes.values()].map(({ project, route }) => ({ project, route }));
  }

  /** Calls `fn` when messages of a route are committed (and so can be batched). Returns an unsubscribe function. */
  onBacklog(fn: (key: RouteKey) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  stats(): UplinkQueueStats {
    const head = this.closed ? undefined : (this.q.headFrom.get(this.floor)?.at ?? this.pending[0]?.at);
    return { ...this.counters, depthMessages: this.depth.messages, depthBytes: this.depth.bytes, oldestAgeMs: head === undefined ? 0 : Math.max(0, this.now() - head), peakDepthMessages: this.peak.messages, peakDepthAt: this.peak.at, blocked: this.waiters.length };
  }

  /** Commits what is pending, fails waiting appends with QueueClosedError, closes the file. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.expiryTimer);
    clearImmediate(this.commitSoon);
    this.commit();
    for (const w of this.waiters.splice(0)) w.reject(new QueueClosedError('the uplink queue was closed while the append waited for room'));
    this.sync?.closeSync();
    this.db.close();
  }

  // ---- internals ------------------------------------------------------------

  private fits(bytes: number): boolean {
    return this.depth.messages + 1 <= this.options.maxMessages && this.depth.bytes + bytes <= this.options.maxBytes;
  }

  private insert(m: UplinkAppend, bytes: number): number {
    if (this.nextSeq > this.reservedSeq) this.reserveSeqs();
    const row: QueueRow = { seq: this.nextSeq++, project: m.project, route: m.route, topic: m.topic, device: m.device ?? null, qos: m.qos, at: this.now(), bytes, payload: m.payload };
    this.pending.push(row);
    if (m.origin !== undefined) this.origins.push({ ...m.origin, at: row.at });
    this.account(row, 1);
    this.counters.enqueued++;
    if (this.options.fsync === 'always') {
      try {
        this.commit();
      } catch (err) {
        // Not on disk: the append fails as a whole.
        this.pending.pop();
        if (m.origin !== undefined) this.origins.pop();
        this.account(row, -1);
        this.counters.enqueued--;
        throw err;
      }
    } else if (this.pending.length >= this.options.commitMessages) this.commitFromTimer();
    else this.commitTimer ??= setTimeout(() => this.commitFromTimer(), this.options.commitMs);
    return row.seq;
  }

  /** Writes pending rows and the floor's DELETE in one transaction, then wakes durable() waiters and listeners. */
  private commit(): void {
    clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
    const rows = this.pending;
    const origins = this.origins;
    const floor = this.floor;
    if (!rows.length && !origins.length && floor === this.appliedFloor) return;
    this.pending = [];
    this.origins = [];
    try {
      this.writeTx(rows, floor, origins);
    } catch (err) {
      this.pending = rows.concat(this.pending);
      this.origins = origins.concat(this.origins);
      throw err;
    }
    this.appliedFloor = floor;
    const woken = new Map<string, RouteKey>();
    for (const r of rows) woken.set(keyOf(r.project, r.route), { project: r.project, route: r.route });
    this.synced([...woken.values()], this.durableWaiters.splice(0));
  }

  /**
   * After a write transaction: the routes' listeners hear of their new
   * messages, and durable() waiters go on once it is on disk (fsync batch:
   * when the fsync covering it is done).
   */
  private synced(routes: RouteKey[], waiting: (() => void)[] = []): void {
    for (const key of routes) if (this.routes.has(keyOf(key.project, key.route))) for (const fn of this.listeners) fn(key);
    if (!this.sync) {
      for (const resolve of waiting) resolve();
      return;
    }
    this.sync.committed();
    if (waiting.length) void this.sync.durable().then(() => waiting.forEach((resolve) => resolve()));
  }

  /** Reserves the next SEQ_BLOCK seqs: the high-water mark moves past them, on disk before this returns (rare: once a block). */
  private reserveSeqs(): void {
    this.reservedSeq = this.nextSeq + SEQ_BLOCK;
    this.q.raiseHighWater.run(this.reservedSeq);
    syncWal(this.file);
  }

  /** A group commit: a failure keeps the rows pending (they were accepted) and tries again after commitMs. */
  private commitFromTimer(): void {
    try {
      this.commit();
    } catch (err) {
      this.log?.error({ err }, 'uplink queue commit failed');
      this.commitTimer ??= setTimeout(() => this.commitFromTimer(), this.options.commitMs);
    }
  }

  private expireFromTimer(): void {
    try {
      this.expire();
      const now = this.now();
      if (now - this.prunedAt >= PRUNE_MS) {
        this.prunedAt = now;
        this.q.prunePublishes.run(now - this.options.ttlMs);
        this.synced([]);
      }
    } catch (err) {
      this.log?.error({ err }, 'uplink queue expiry failed');
    }
  }

  /** Drops messages from the head of the whole queue (oldest seq first) while `shouldDrop` says so. */
  private dropHead(shouldDrop: (r: HeadRow) => boolean, counter: DropCounter): number {
    let n = 0;
    for (const r of this.q.headFrom.iterate(this.floor)) {
      if (!shouldDrop(r)) return n;
      this.floor = r.seq;
      this.account(r, -1);
      this.counters[counter]++;
      n++;
    }
    while (this.pending.length && shouldDrop(this.pending[0]!)) {
      this.account(this.pending.shift()!, -1);
      this.counters[counter]++;
      n++;
    }
    return n;
  }

  private removeRoute(project: string, route: string, upToSeq: number, counter: DropCounter | 'delivered'): number {
    this.commit();
    const r = this.q.routeUpTo.get(project, route, upToSeq)!;
    if (!r.n) return 0;
    this.db.transaction(() => {
      this.q.deleteRouteUpTo.run(project, route, upToSeq);
      this.q.raiseHighWater.run(r.m!);
    })();
    this.synced([]);
    this.account({ project, route, bytes: r.b! }, -1, r.n);
    this.counters[counter] += r.n;
    this.admit();
    return r.n;
  }

  private account(r: { project: string; route: string; bytes: number }, sign: 1 | -1, count = 1): void {
    const k = keyOf(r.project, r.route);
    const d = this.routes.get(k) ?? { project: r.project, route: r.route, messages: 0, bytes: 0 };
    d.messages += sign * count;
    d.bytes += sign * r.bytes;
    if (d.messages > 0) this.routes.set(k, d);
    else this.routes.delete(k);
    this.depth.messages += sign * count;
    this.depth.bytes += sign * r.bytes;
    if (sign > 0) this.notePeak();
  }

  private notePeak(): void {
    if (this.depth.messages > this.peak.messages) Object.assign(this.peak, { messages: this.depth.messages, at: this.now() });
  }

  /** Lets blocked appends in, in order, while there is room. */
  private admit(): void {
    while (!this.closed && this.waiters.length && this.fits(this.waiters[0]!.bytes)) {
      const w = this.waiters.shift()!;
      try {
        w.resolve(this.insert(w.m, w.bytes));
      } catch (err) {
        w.reject(err);
      }
    }
  }
}

/** Validates a message against the wire contract's bounds; returns its size (payload + topic bytes). */
function sizeOf(m: UplinkAppend): number {
  if (!m.topic || m.topic.length > TOPIC_MAX) throw new InvalidMessageError(`topic must be 1-${TOPIC_MAX} characters`, { details: [{ path: 'topic', message: `length ${m.topic.length}` }] });
  if (m.payload.length > UPLINK_MAX_PAYLOAD) throw new InvalidMessageError(`payload is over ${UPLINK_MAX_PAYLOAD} bytes`, { details: [{ path: 'payload', message: `${m.payload.length} bytes` }] });
  if (m.device !== undefined && !DEVICE_NAME.test(m.device)) throw new InvalidMessageError(`"${m.device}" is not a device name`, { details: [{ path: 'device', message: 'a lowercase DNS label' }] });
  return m.payload.length + Buffer.byteLength(m.topic);
}
