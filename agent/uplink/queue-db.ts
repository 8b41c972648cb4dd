import { closeSync, fdatasyncSync, openSync } from 'node:fs';
import SqliteDatabase from 'better-sqlite3';

/** A message row as the queue file holds it; `at` is the append time (ms since epoch). */
export interface QueueRow {
  seq: number;
  project: string;
  route: string;
  topic: string;
  device: string | null;
  qos: number;
  at: number;
  bytes: number;
  payload: Buffer;
}
export type HeadRow = Pick<QueueRow, 'seq' | 'project' | 'route' | 'bytes' | 'at'>;
export type BatchRow = Omit<QueueRow, 'project' | 'route'>;

// `seq` is the rowid: appends go to the end of the table's b-tree. The meta
// row 'seq' is a high-water mark that survives the deletion of every row, so
// a sequence number is never handed out twice (the center skips seen ones).
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY, project TEXT NOT NULL, route TEXT NOT NULL, topic TEXT NOT NULL,
    device TEXT, qos INTEGER NOT NULL, at INTEGER NOT NULL, bytes INTEGER NOT NULL, payload BLOB NOT NULL);
  CREATE INDEX IF NOT EXISTS messages_by_route ON messages (project, route, seq);
  CREATE TABLE IF NOT EXISTS publishes (
    client TEXT NOT NULL, packet_id INTEGER NOT NULL, hash BLOB NOT NULL, at INTEGER NOT NULL,
    PRIMARY KEY (client, packet_id)) WITHOUT ROWID;
`;

export type QueueStatements = ReturnType<typeof prepare>;

/**
 * Opens `<file>` in WAL mode (see options.ts): `always` commits with
 * synchronous=FULL; `batch` with synchronous=OFF and no automatic
 * checkpoints, its fsyncs and checkpoints run off the event loop (WalSync);
 * `off` never fsyncs.
 */
export function openQueueDb(file: string, fsync: 'always' | 'batch' | 'off'): { db: SqliteDatabase.Database; q: QueueStatements } {
  const db = new SqliteDatabase(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${fsync === 'always' ? 'FULL' : 'OFF'}`);
  if (fsync === 'batch') db.pragma('wal_autocheckpoint = 0');
  db.exec(SCHEMA);
  return { db, q: prepare(db) };
}

function prepare(db: SqliteDatabase.Database) {
  return {
    highWater: db.prepare<[], { value: number }>("SELECT value FROM meta WHERE key = 'seq'"),
    initHighWater: db.prepare<[number]>("INSERT OR IGNORE INTO meta (key, value) VALUES ('seq', ?)"),
    raiseHighWater: db.prepare<[number]>("UPDATE meta SET value = max(value, ?) WHERE key = 'seq'"),
    maxSeq: db.prepare<[], { m: number | null }>('SELECT MAX(seq) AS m FROM messages'),
    insert: db.prepare<[number, string, string, string, string | null, number, number, number, Buffer]>(
      'INSERT INTO messages (seq, project, route, topic, device, qos, at, bytes, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    perRoute: db.prepare<[], { project: string; route: string; n: number; b: number }>('SELECT project, route, COUNT(*) AS n, SUM(bytes) AS b FROM messages GROUP BY project, route'),
    // Only the columns a batch needs: reading them is most of a batch's cost on the edge.
    routeBatch: db.prepare<[string, string, number, number], BatchRow>('SELECT seq, topic, device, qos, at, bytes, payload FROM messages WHERE project = ? AND route = ? AND seq > ? ORDER BY seq LIMIT ?'),
    routeUpTo: db.prepare<[string, string, number], { n: number; b: number | null; m: number | null }>(
      'SELECT COUNT(*) AS n, SUM(bytes) AS b, MAX(seq) AS m FROM messages WHERE project = ? AND route = ? AND seq <= ?',
    ),
    deleteRouteUpTo: db.prepare<[string, string, number]>('DELETE FROM messages WHERE project = ? AND route = ? AND seq <= ?'),
    headFrom: db.prepare<[number], HeadRow>('SELECT seq, project, route, bytes, at FROM messages WHERE seq > ? ORDER BY seq'),
    deleteUpTo: db.prepare<[number]>('DELETE FROM messages WHERE seq <= ?'),
    // The last queued publish per (connection, packet id): how a resend is recognised (see UplinkQueue.isResend).
    recordPublish: db.prepare<[string, number, Buffer, number]>('INSERT OR REPLACE INTO publishes (client, packet_id, hash, at) VALUES (?, ?, ?, ?)'),
    publishHash: db.prepare<[string, number], { hash: Buffer }>('SELECT hash FROM publishes WHERE client = ? AND packet_id = ?'),
    prunePublishes: db.prepare<[number]>('DELETE FROM publishes WHERE at < ?'),
  };
}

/** Puts what the WAL of `<file>` holds on disk, on the spot (a commit under synchronous=OFF that must not wait for the next fsync). */
export function syncWal(file: string): void {
  const fd = openSync(`${file}-wal`, 'r');
  try {
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
