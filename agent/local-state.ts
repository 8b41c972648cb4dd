import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import type { AgentEvent, Instance } from '../core/index.ts';

export interface LocalInstance {
  instance: Instance;
  ports: Record<string, number>;
  /** The process group the previous agent run left, to reap after a crash. */
  pid: number | null;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS instances (id TEXT PRIMARY KEY, body TEXT NOT NULL, ports TEXT NOT NULL, pid INTEGER);
  CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
`;

/**
 * The agent's durable state (SQLite, WAL): desired instances, the revision
 * they reflect, allocated ports, running pids, and an outbox of events not yet
 * delivered. It is what lets an agent restarted offline bring its workloads
 * back (edge autonomy) and report what happened once reconnected.
 *
 * Plain better-sqlite3 prepared statements rather than Kysely: four tiny
 * tables do not need a query builder, and the agent's footprint is a goal
 * (Kysely alone adds ~20 MB RSS).
 */
export class LocalState {
  private readonly q;

  private constructor(private readonly db: SqliteDatabase.Database) {
    db.exec(SCHEMA);
    this.q = {
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      instances: db.prepare<[], { id: string; body: string; ports: string; pid: number | null }>('SELECT id, body, ports, pid FROM instances'),
      putInstance: db.prepare('INSERT INTO instances (id, body, ports, pid) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET body = excluded.body, ports = excluded.ports'),
      deleteInstance: db.prepare('DELETE FROM instances WHERE id = ?'),
      deleteAllInstances: db.prepare('DELETE FROM instances'),
      setPid: db.prepare('UPDATE instances SET pid = ? WHERE id = ?'),
      enqueue: db.prepare('INSERT INTO outbox (body) VALUES (?)'),
      pending: db.prepare<[number], { seq: number; body: string }>('SELECT seq, body FROM outbox ORDER BY seq LIMIT ?'),
      drop: db.prepare('DELETE FROM outbox WHERE seq <= ?'),
    };
  }

  static async open(dataDir: string): Promise<LocalState> {
    mkdirSync(dataDir, { recursive: true });
    const db = new SqliteDatabase(join(dataDir, 'state.db'));
    db.pragma('journal_mode = WAL');
    // NORMAL survives a process crash in WAL mode; only a power cut may lose the last commits.
    db.pragma('synchronous = NORMAL');
    return new LocalState(db);
  }

  async appliedRevision(): Promise<number> {
    return Number(this.q.getMeta.get('revision')?.value ?? 0);
  }

  async instances(): Promise<Map<string, LocalInstance>> {
    return new Map(this.q.instances.all().map((r) => [r.id, { instance: JSON.parse(r.body) as Instance, ports: JSON.parse(r.ports) as Record<string, number>, pid: r.pid }]));
  }

  /** Upserts and removes desired instances and moves the revision, atomically. */
  async commit(revision: number, put: Map<string, LocalInstance>, remove: string[], replaceAll = false): Promise<void> {
    this.db.transaction(() => {
      if (replaceAll) this.q.deleteAllInstances.run();
      for (const id of remove) this.q.deleteInstance.run(id);
      for (const [id, li] of put) this.q.putInstance.run(id, JSON.stringify(li.instance), JSON.stringify(li.ports), li.pid);
      this.q.setMeta.run('revision', String(revision));
    })();
  }

  async setPid(id: string, pid: number | null): Promise<void> {
    this.q.setPid.run(pid, id);
  }

  async enqueueEvent(e: AgentEvent): Promise<void> {
    this.q.enqueue.run(JSON.stringify(e));
  }

  async pendingEvents(limit = 500): Promise<{ seq: number; event: AgentEvent }[]> {
    return this.q.pending.all(limit).map((r) => ({ seq: r.seq, event: JSON.parse(r.body) as AgentEvent }));
  }

  async dropEvents(upToSeq: number): Promise<void> {
    this.q.drop.run(upToSeq);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
