import { sql, type Kysely, type Transaction } from 'kysely';
import type { Change } from './store.ts';
import type { Database } from './schema.ts';

/** One write: its statements run inside the group's transaction; what it changed is told after commit. */
export type WriteJob<T> = (tx: Transaction<Database>, changes: Change[]) => Promise<T>;

interface Queued {
  job: WriteJob<unknown>;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** A group's transaction is kept short: at most this many writes share one commit. */
const MAX_GROUP = 256;

/**
 * Group commit: writes that queue up while one commit is in progress share
 * the next transaction, so a burst (an agent reporting a hundred instances'
 * status, a controller creating a hundred instances) costs one durable
 * commit (one fsync under SQLite synchronous=FULL, one WAL flush under
 * PostgreSQL) instead of one each. Writes stay serial and in call order:
 * each runs inside its own savepoint, so one that fails (a conflict, a
 * missing object) is rolled back alone and rejects alone; the others commit.
 * A failed commit rejects every write of the group. Changes are handed to
 * `publish` after commit, in revision order, exactly once.
 */
export class GroupCommit {
  private queue: Queued[] = [];
  private running: Promise<void> | undefined;
  /** Transactions committed, and the writes in them that succeeded: their ratio is the grouping achieved. */
  readonly counts = { commits: 0, writes: 0 };

  constructor(
    private readonly db: Kysely<Database>,
    private readonly publish: (changes: Change[]) => void,
  ) {}

  run<T>(job: WriteJob<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ job, resolve: resolve as (v: unknown) => void, reject });
      this.running ??= this.drain();
    });
  }

  /** Resolves once every write queued so far has committed or failed. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    // One turn of the event loop first: the writes that arrive in the same I/O batch (frames of one socket read) join the first group.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.queue.length) await this.commit(this.queue.splice(0, MAX_GROUP));
    } finally {
      this.running = undefined;
    }
  }

  private async commit(group: Queued[]): Promise<void> {
    const outcomes: ({ ok: true; value: unknown; changes: Change[] } | { ok: false; err: unknown })[] = [];
    try {
      await this.db.transaction().execute(async (tx) => {
        if (group.length === 1) {
          // A lone write needs no savepoint: its failure rolls back the transaction, which held nothing else.
          const changes: Change[] = [];
          outcomes.push({ ok: true, value: await group[0]!.job(tx, changes), changes });
          return;
        }
        for (const q of group) {
          const changes: Change[] = [];
          await sql`savepoint gedge_write`.execute(tx);
          try {
            const value = await q.job(tx, changes);
            await sql`release savepoint gedge_write`.execute(tx);
            outcomes.push({ ok: true, value, changes });
          } catch (err) {
            await sql`rollback to savepoint gedge_write`.execute(tx);
            await sql`release savepoint gedge_write`.execute(tx);
            outcomes.push({ ok: false, err });
          }
        }
      });
    } catch (err) {
      // The commit failed (or the lone write did): nothing of the group is stored.
      for (const q of group) q.reject(err);
      return;
    }
    this.counts.commits++;
    this.counts.writes += outcomes.filter((o) => o.ok).length;
    group.forEach((q, i) => {
      const o = outcomes[i]!;
      if (!o.ok) return q.reject(o.err);
      this.publish(o.changes);
      q.resolve(o.value);
    });
  }
}
