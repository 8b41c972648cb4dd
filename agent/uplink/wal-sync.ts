import { closeSync, fdatasync as osFdatasync, fdatasyncSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type SqliteDatabase from 'better-sqlite3';
import type { Logger } from 'pino';

/** How often, at most, the WAL is checkpointed into the database file while it keeps up. */
const CHECKPOINT_MS = 1000;
/** After a failed fsync, the next try. */
const RETRY_MS = 100;
/** A checkpoint that did not catch up with the writes goes again this soon. */
const CATCH_UP_MS = 200;
/** WAL pages (4 KiB) past which a checkpoint that cannot catch up with the writes runs on the spot, once. */
const WAL_LIMIT_PAGES = 16_384;
/** How long close waits for the checkpointer to finish a checkpoint and close its connection. */
const CLOSE_WAIT_MS = 30_000;

/** fs.fdatasync's shape: tests put a disk that stalls or fails in its place. */
export type Fdatasync = (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void;

// The checkpointer: a connection of its own in a worker thread, synchronous=NORMAL, so the checkpoint's
// fsyncs (the WAL before it is copied, the file after) happen there. SQLite marks frames as copied only
// after the file's fsync, so the writer restarts the WAL only over frames the file holds on disk.
// `closed` (shared) turns 1 once its connection is closed or it is gone: the queue's own connection
// must close last, so that it checkpoints the WAL and removes it before anyone touches the directory.
const CHECKPOINTER = `
const { parentPort, workerData } = require('node:worker_threads');
const closed = new Int32Array(workerData.closed);
const done = () => { Atomics.store(closed, 0, 1); Atomics.notify(closed, 0); };
process.on('exit', done);
const Database = require(workerData.sqlite);
const db = new Database(workerData.file);
db.pragma('synchronous = NORMAL');
parentPort.on('message', (m) => {
  if (m === 'close') { db.close(); done(); parentPort.close(); return; }
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ log: r.log, checkpointed: r.checkpointed });
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.message || e) });
  }
});
`;

/**
 * Durability for a WAL database whose connection runs with synchronous=OFF
 * and no automatic checkpoints, so that no commit waits for the disk on the
 * event loop (the edge's broker and rules run there: a disk stall must not
 * hold them). After a commit, `committed()` starts an fdatasync of the WAL
 * in libuv's thread pool; `durable()` resolves once every commit made
 * before it is on disk. Commits made while an fsync runs are covered by the
 * next one, so there is at most one in flight.
 *
 * Checkpoints run in a worker thread (CHECKPOINTER), at most every
 * CHECKPOINT_MS after an fsync, and again soon while they do not catch up
 * with the writes (the WAL is reused only after a complete one); the
 * checkpointer's own fsyncs run in its thread. Should the WAL still pass
 * WAL_LIMIT_PAGES, or the worker be gone, checkpoints run on the spot, with
 * their fsyncs. `closeSync()` fsyncs on the spot.
 */
export class WalSync {
  private readonly checkpointer: Worker;
  private readonly checkpointerClosed = new Int32Array(new SharedArrayBuffer(4));
  private walFd: number | undefined;
  private dirty = false;
  private inFlight = false;
  private checkpointing = false;
  private checkpointedAt = 0;
  private behind = false;
  /** The checkpointer is gone: checkpoints run on the spot. */
  private inline = false;
  /** Commits so far, and as of the checkpoint in flight: the WAL starts over only after one that saw the last commit. */
  private commits = 0;
  private commitsAtCheckpoint = 0;
  private closed = false;
  /** Waiting for an fsync that starts after their commit / covered by the one in flight. */
  private next: (() => void)[] = [];
  private current: (() => void)[] = [];
  private retry: NodeJS.Timeout | undefined;
  private catchUp: NodeJS.Timeout | undefined;
  /** fsyncs running in the thread pool: the descriptor stays open until they are done. */
  private running = 0;

  constructor(
    private readonly db: SqliteDatabase.Database,
    private readonly file: string,
    private readonly log: Logger | undefined,
    private readonly fdatasync: Fdatasync = osFdatasync,
  ) {
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    this.checkpointer = new Worker(CHECKPOINTER, { eval: true, workerData: { sqlite, file, closed: this.checkpointerClosed.buffer } });
    this.checkpointer.unref();
    this.checkpointer.on('message', (r: { log?: number; checkpointed?: number; error?: string }) => this.checkpointDone(r));
    // Without it, checkpoints run on the spot (with their fsyncs): the WAL must not grow without end.
    this.checkpointer.on('error', (err) => this.log?.error({ err }, 'uplink queue checkpointer failed; checkpoints run on the event loop'));
    this.checkpointer.on('exit', () => {
      this.checkpointing = false;
      this.inline = true;
    });
  }

  /** A write transaction committed: get it to disk soon. */
  committed(): void {
    this.commits++;
    this.dirty = true;
    this.kick();
  }

  /** Resolves when everything committed so far is on disk. */
  durable(): Promise<void> {
    if (!this.dirty && !this.inFlight) return Promise.resolve();
    return new Promise((resolve) => {
      (this.dirty ? this.next : this.current).push(resolve);
      this.kick();
    });
  }

  /**
   * Every commit on disk, on the spot (closing is rare); the checkpointer
   * closes its connection before this returns (blocking: at most a
   * checkpoint's time), so the caller's close is the last one.
   */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retry);
    clearTimeout(this.catchUp);
    // Also when one is in flight: close() returns with everything on disk.
    if (this.dirty || this.inFlight) {
      fdatasyncSync((this.walFd ??= openSync(`${this.file}-wal`, 'r')));
      this.dirty = false;
    }
    for (const resolve of this.next.splice(0)) resolve();
    this.checkpointer.postMessage('close');
    if (Atomics.wait(this.checkpointerClosed, 0, 0, CLOSE_WAIT_MS) === 'timed-out') {
      this.log?.warn({ file: this.file }, 'uplink queue checkpointer did not close in time; the WAL may stay until the next open');
    }
    // The last connection's close checkpoints the WAL into the file; FULL makes it fsync that first.
    this.db.pragma('synchronous = FULL');
    this.closeFd();
  }

  private kick(): void {
    if (this.inFlight || !this.dirty || this.closed) return;
    this.dirty = false;
    this.inFlight = true;
    this.current = this.next;
    this.next = [];
    this.running++;
    this.fdatasync((this.walFd ??= openSync(`${this.file}-wal`, 'r')), (err) => {
      this.running--;
      this.inFlight = false;
      const covered = this.current;
      this.current = [];
      if (err && !this.closed) {
        this.log?.error({ err }, 'uplink queue fsync failed; trying again');
        this.dirty = true;
        this.next = covered.concat(this.next);
        this.retry = setTimeout(() => this.kick(), RETRY_MS);
        return;
      }
      // Closed meanwhile: closeSync synced everything on the spot.
      for (const resolve of covered) resolve();
      if (this.closed) return this.closeFd();
      this.checkpoint();
      this.kick();
    });
  }

  private checkpoint(): void {
    if (this.checkpointing || (!this.behind && Date.now() - this.checkpointedAt < CHECKPOINT_MS)) return;
    this.checkpointedAt = Date.now();
    if (this.inline) return this.checkpointHere();
    this.checkpointing = true;
    this.commitsAtCheckpoint = this.commits;
    this.checkpointer.postMessage('checkpoint');
  }

  private checkpointDone(r: { log?: number; checkpointed?: number; error?: string }): void {
    this.checkpointing = false;
    if (this.closed) return;
    if (r.error !== undefined) {
      this.log?.error({ err: new Error(r.error) }, 'uplink queue checkpoint failed');
      return;
    }
    // Writes came in meanwhile: go again soon, so that one catches up in a quiet moment and the WAL starts over.
    this.behind = r.checkpointed! < r.log! || this.commits !== this.commitsAtCheckpoint;
    if (r.log! > WAL_LIMIT_PAGES) {
      this.log?.warn({ pages: r.log }, 'uplink queue WAL checkpointed on the event loop: the checkpointer did not catch up');
      this.checkpointHere();
    }
    if (this.behind) this.catchUp = setTimeout(() => this.checkpoint(), CATCH_UP_MS).unref();
  }

  /** On the spot, with the writes held (FULL: the file is on disk before the WAL starts over). */
  private checkpointHere(): void {
    this.db.pragma('synchronous = FULL');
    try {
      this.db.pragma('wal_checkpoint(RESTART)');
      this.behind = false;
    } catch (err) {
      this.log?.error({ err }, 'uplink queue checkpoint failed');
    } finally {
      this.db.pragma('synchronous = OFF');
    }
  }

  /** Once closed and no fsync is running. */
  private closeFd(): void {
    if (!this.closed || this.running > 0 || this.walFd === undefined) return;
    closeSync(this.walFd);
    this.walFd = undefined;
  }
}
