import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { upgradeLegacyFields, type AgentEvent, type EdgeObject, type Instance } from '../core/index.ts';

export interface LocalInstance {
  instance: Instance;
  ports: Record<string, number>;
  /** The process group the previous agent run left, to reap after a crash. */
  pid: number | null;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS instances (id TEXT PRIMARY KEY, body TEXT NOT NULL, ports TEXT NOT NULL, pid INTEGER);
  CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, body TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS twins (key TEXT PRIMARY KEY, body TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS delivered (key TEXT PRIMARY KEY, body TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS rule_state (key TEXT PRIMARY KEY, body TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS client_sessions (key TEXT PRIMARY KEY, state TEXT NOT NULL, body TEXT NOT NULL, at INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS client_sessions_at ON client_sessions (at);
  CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
`;

const RECORD_TABLES = ['twins', 'delivered', 'rule_state'] as const;
export type RecordTable = (typeof RECORD_TABLES)[number];

/** One sync step's writes: the node's instances (by instance id) and the other synced objects (by object key). */
export interface LocalCommit {
  instances: { put: Map<string, LocalInstance>; remove: string[] };
  objects: { put: Map<string, EdgeObject>; remove: string[] };
  /** A snapshot: everything not put goes. */
  replaceAll: boolean;
}

/**
 * The agent's durable state (SQLite, WAL): desired instances, the site's
 * devices, credentials, commands and routes, the revision they reflect,
 * allocated ports, running pids, and an outbox of events not yet
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
      objects: db.prepare<[], { key: string; body: string }>('SELECT key, body FROM objects'),
      putObject: db.prepare('INSERT INTO objects (key, body) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET body = excluded.body'),
      deleteObject: db.prepare('DELETE FROM objects WHERE key = ?'),
      deleteAllObjects: db.prepare('DELETE FROM objects'),
      records: Object.fromEntries(
        RECORD_TABLES.map((t) => [
          t,
          {
            all: db.prepare<[], { key: string; body: string }>(`SELECT key, body FROM ${t}`),
            get: db.prepare<[string], { body: string }>(`SELECT body FROM ${t} WHERE key = ?`),
            put: db.prepare(`INSERT INTO ${t} (key, body) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET body = excluded.body`),
            delete: db.prepare(`DELETE FROM ${t} WHERE key = ?`),
          },
        ]),
      ) as Record<RecordTable, { all: SqliteDatabase.Statement<[], { key: string; body: string }>; get: SqliteDatabase.Statement<[string], { body: string }>; put: SqliteDatabase.Statement; delete: SqliteDatabase.Statement }>,
      session: db.prepare<[string], { body: string }>('SELECT body FROM client_sessions WHERE key = ?'),
      putSession: db.prepare('INSERT INTO client_sessions (key, state, body, at) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET state = excluded.state, body = excluded.body, at = excluded.at'),
      deleteSession: db.prepare('DELETE FROM client_sessions WHERE key = ?'),
      sessionsIn: db.prepare<[string], { key: string; body: string }>('SELECT key, body FROM client_sessions WHERE state = ?'),
      idleSessions: db.prepare<[string, string, number, number], { key: string }>('SELECT key FROM client_sessions WHERE key > ? AND key < ? AND at < ? ORDER BY at LIMIT ?'),
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
    return new Map(this.q.instances.all().map((r) => [r.id, { instance: upgraded(JSON.parse(r.body) as Instance), ports: JSON.parse(r.ports) as Record<string, number>, pid: r.pid }]));
  }

  async meta(key: string): Promise<string | undefined> {
    return this.q.getMeta.get(key)?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.q.setMeta.run(key, value);
  }

  async objects(): Promise<Map<string, EdgeObject>> {
    return new Map(this.q.objects.all().map((r) => [r.key, upgraded(JSON.parse(r.body) as EdgeObject)]));
  }

  /** Upserts and removes desired instances and objects and moves the revision, atomically. */
  async commit(revision: number, c: LocalCommit): Promise<void> {
    this.db.transaction(() => {
      if (c.replaceAll) {
        this.q.deleteAllInstances.run();
        this.q.deleteAllObjects.run();
      }
      for (const id of c.instances.remove) this.q.deleteInstance.run(id);
      for (const [id, li] of c.instances.put) this.q.putInstance.run(id, JSON.stringify(li.instance), JSON.stringify(li.ports), li.pid);
      for (const key of c.objects.remove) this.q.deleteObject.run(key);
      for (const [key, o] of c.objects.put) this.q.putObject.run(key, JSON.stringify(o));
      this.q.setMeta.run('revision', String(revision));
    })();
  }

  async setPid(id: string, pid: number | null): Promise<void> {
    this.q.setPid.run(pid, id);
  }

  /** A client's session record (agent/sessions), as JSON; undefined when there is none. */
  session(key: string): unknown {
    const r = this.q.session.get(key);
    return r ? (JSON.parse(r.body) as unknown) : undefined;
  }

  /** Writes a session record, its state (for the look-ups below) and when it was last used (ms). */
  putSession(key: string, state: string, value: unknown, at: number): void {
    this.q.putSession.run(key, state, JSON.stringify(value), at);
  }

  deleteSession(key: string): void {
    this.q.deleteSession.run(key);
  }

  /** The session records in a state (the agent reads its copies in doubt at start, not every session). */
  sessionsIn(state: string): [string, unknown][] {
    return this.q.sessionsIn.all(state).map((r) => [r.key, JSON.parse(r.body) as unknown]);
  }

  /** Keys of sessions under `prefix` last used before `before`, the stalest first, at most `limit`. */
  idleSessions(prefix: string, before: number, limit: number): string[] {
    // Every key under the prefix sorts between it and the prefix with its last character raised by one.
    const above = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    return this.q.idleSessions.all(prefix, above, before, limit).map((r) => r.key);
  }

  /** Small per-key JSON records: twins (reported documents), command outcomes, rules' window state. */
  records(table: RecordTable): Map<string, unknown> {
    return new Map(this.q.records[table].all.all().map((r) => [r.key, JSON.parse(r.body) as unknown]));
  }

  record(table: RecordTable, key: string): unknown {
    const r = this.q.records[table].get.get(key);
    return r === undefined ? undefined : (JSON.parse(r.body) as unknown);
  }

  putRecord(table: RecordTable, key: string, value: unknown): void {
    this.q.records[table].put.run(key, JSON.stringify(value));
  }

  deleteRecord(table: RecordTable, key: string): void {
    this.q.records[table].delete.run(key);
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

/** An object this agent cached before it was upgraded, with its fields as the center now writes them (the center's store migrated its own copy). */
function upgraded<T>(object: T): T {
  upgradeLegacyFields(object);
  return object;
}
