import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import type { AgentEvent, Instance } from '../core/index.ts';

interface Tables {
  meta: { key: string; value: string };
  instances: { id: string; body: string; ports: string; pid: number | null };
  outbox: { seq: number; body: string };
}

export interface LocalInstance {
  instance: Instance;
  ports: Record<string, number>;
  /** The process group the previous agent run left, to reap after a crash. */
  pid: number | null;
}

/**
 * The agent's durable state (SQLite, WAL): desired instances, the revision
 * they reflect, allocated ports, running pids, and an outbox of events not yet
 * delivered. It is what lets an agent restarted offline bring its workloads
 * back (edge autonomy) and report what happened once reconnected.
 */
export class LocalState {
  private constructor(private readonly db: Kysely<Tables>) {}

  static async open(dataDir: string): Promise<LocalState> {
    mkdirSync(dataDir, { recursive: true });
    const sqlite = new SqliteDatabase(join(dataDir, 'state.db'));
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: sqlite }) });
    await sql`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`.execute(db);
    await sql`CREATE TABLE IF NOT EXISTS instances (id TEXT PRIMARY KEY, body TEXT NOT NULL, ports TEXT NOT NULL, pid INTEGER)`.execute(db);
    await sql`CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)`.execute(db);
    return new LocalState(db);
  }

  async appliedRevision(): Promise<number> {
    const r = await this.db.selectFrom('meta').select('value').where('key', '=', 'revision').executeTakeFirst();
    return r ? Number(r.value) : 0;
  }

  async setAppliedRevision(rev: number): Promise<void> {
    await this.db.insertInto('meta').values({ key: 'revision', value: String(rev) }).onConflict((oc) => oc.column('key').doUpdateSet({ value: String(rev) })).execute();
  }

  async instances(): Promise<Map<string, LocalInstance>> {
    const rows = await this.db.selectFrom('instances').selectAll().execute();
    return new Map(rows.map((r) => [r.id, { instance: JSON.parse(r.body) as Instance, ports: JSON.parse(r.ports) as Record<string, number>, pid: r.pid }]));
  }

  /** Upserts and removes desired instances and moves the revision, atomically. */
  async commit(revision: number, put: Map<string, LocalInstance>, remove: string[], replaceAll = false): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      if (replaceAll) await tx.deleteFrom('instances').execute();
      for (const id of remove) await tx.deleteFrom('instances').where('id', '=', id).execute();
      for (const [id, li] of put) {
        const row = { id, body: JSON.stringify(li.instance), ports: JSON.stringify(li.ports), pid: li.pid };
        await tx.insertInto('instances').values(row).onConflict((oc) => oc.column('id').doUpdateSet({ body: row.body, ports: row.ports })).execute();
      }
      await tx.insertInto('meta').values({ key: 'revision', value: String(revision) }).onConflict((oc) => oc.column('key').doUpdateSet({ value: String(revision) })).execute();
    });
  }

  async setPid(id: string, pid: number | null): Promise<void> {
    await this.db.updateTable('instances').set({ pid }).where('id', '=', id).execute();
  }

  async enqueueEvent(e: AgentEvent): Promise<void> {
    await this.db.insertInto('outbox').values({ body: JSON.stringify(e) } as never).execute();
  }

  async pendingEvents(limit = 500): Promise<{ seq: number; event: AgentEvent }[]> {
    const rows = await this.db.selectFrom('outbox').selectAll().orderBy('seq').limit(limit).execute();
    return rows.map((r) => ({ seq: r.seq, event: JSON.parse(r.body) as AgentEvent }));
  }

  async dropEvents(upToSeq: number): Promise<void> {
    await this.db.deleteFrom('outbox').where('seq', '<=', upToSeq).execute();
  }

  close(): Promise<void> {
    return this.db.destroy();
  }
}
