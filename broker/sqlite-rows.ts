import type Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import v8 from 'node:v8';

/** The session store's tables and how packets are kept in them (sqlite-persistence.ts). */

const aedesRequire = createRequire(import.meta.resolve('aedes'));
/** aedes' own packet class, from the copy its persistence uses. */
export const Packet = createRequire(aedesRequire.resolve('aedes-persistence'))('aedes-packet') as new (p: object, broker?: object) => StoredPacket;

/**
 * Marks a delivery aedes is about to write of a queued message that is no
 * longer queued (the device acknowledged it meanwhile, sqlite-persistence.ts
 * outgoingUpdate): the wire layer drops it (wire.ts).
 */
export const ALREADY_ACKED = Symbol('gedge.broker.alreadyAcked');

export interface StoredPacket {
  cmd: string;
  topic?: string;
  payload?: Buffer;
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  messageId?: number;
  brokerId?: string;
  brokerCounter?: number;
  clientId?: string;
  properties?: object;
  [ALREADY_ACKED]?: true;
}
export interface SubRecord {
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  subscriptionIdentifier?: number;
}
/** The fields of a packet worth keeping (aedes' packets also carry callbacks). */
const FIELDS = ['cmd', 'topic', 'payload', 'qos', 'retain', 'dup', 'messageId', 'brokerId', 'brokerCounter', 'clientId', 'properties'] as const;
export function encode(p: StoredPacket): Buffer {
  const o: Record<string, unknown> = {};
  for (const f of FIELDS) if (p[f] !== undefined) o[f] = p[f];
  return v8.serialize(o);
}
export const decode = (b: Buffer): StoredPacket => v8.deserialize(b) as StoredPacket;
/** As aedes' memory persistence holds them: an aedes Packet that keeps its message id. */
export function asPacket(p: StoredPacket): StoredPacket {
  const packet = new Packet(p);
  packet.messageId = p.messageId;
  return packet;
}

export const SCHEMA = `
  CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, packet BLOB NOT NULL);
  CREATE TABLE IF NOT EXISTS subscriptions (client TEXT NOT NULL, topic TEXT NOT NULL, options TEXT NOT NULL, PRIMARY KEY (client, topic));
  CREATE TABLE IF NOT EXISTS outgoing (id INTEGER PRIMARY KEY AUTOINCREMENT, client TEXT NOT NULL, message_id INTEGER, packet BLOB NOT NULL);
  CREATE INDEX IF NOT EXISTS outgoing_client ON outgoing (client, id);
  CREATE TABLE IF NOT EXISTS incoming (client TEXT NOT NULL, message_id INTEGER NOT NULL, packet BLOB NOT NULL, PRIMARY KEY (client, message_id));
  CREATE TABLE IF NOT EXISTS wills (client TEXT PRIMARY KEY, packet BLOB NOT NULL);
  CREATE TABLE IF NOT EXISTS expiries (client TEXT PRIMARY KEY, at INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS roamed (client TEXT PRIMARY KEY, filters TEXT NOT NULL, at INTEGER NOT NULL);
`;

export type Statements = ReturnType<typeof statements>;
export function statements(db: Database.Database) {
  return {
    putRetained: db.prepare('INSERT INTO retained (topic, packet) VALUES (?, ?) ON CONFLICT (topic) DO UPDATE SET packet = excluded.packet'),
    delRetained: db.prepare('DELETE FROM retained WHERE topic = ?'),
    putSub: db.prepare('INSERT INTO subscriptions (client, topic, options) VALUES (?, ?, ?) ON CONFLICT (client, topic) DO UPDATE SET options = excluded.options'),
    delSub: db.prepare('DELETE FROM subscriptions WHERE client = ? AND topic = ?'),
    delSubs: db.prepare('DELETE FROM subscriptions WHERE client = ?'),
    enqueue: db.prepare('INSERT INTO outgoing (client, message_id, packet) VALUES (?, ?, ?)'),
    setMessageId: db.prepare('UPDATE outgoing SET message_id = ? WHERE id = ?'),
    replaceQueued: db.prepare('UPDATE outgoing SET message_id = ?, packet = ? WHERE id = ?'),
    dequeue: db.prepare('DELETE FROM outgoing WHERE id = ?'),
    clearQueue: db.prepare('DELETE FROM outgoing WHERE client = ?'),
    putIncoming: db.prepare('INSERT INTO incoming (client, message_id, packet) VALUES (?, ?, ?) ON CONFLICT (client, message_id) DO UPDATE SET packet = excluded.packet'),
    delIncoming: db.prepare('DELETE FROM incoming WHERE client = ? AND message_id = ?'),
    clearIncoming: db.prepare('DELETE FROM incoming WHERE client = ?'),
    putWill: db.prepare('INSERT INTO wills (client, packet) VALUES (?, ?) ON CONFLICT (client) DO UPDATE SET packet = excluded.packet'),
    delWill: db.prepare('DELETE FROM wills WHERE client = ?'),
    putExpiry: db.prepare('INSERT INTO expiries (client, at) VALUES (?, ?) ON CONFLICT (client) DO UPDATE SET at = excluded.at'),
    delExpiry: db.prepare('DELETE FROM expiries WHERE client = ?'),
    expired: db.prepare('SELECT client FROM expiries WHERE at <= ?').pluck(),
    putRoamed: db.prepare('INSERT INTO roamed (client, filters, at) VALUES (?, ?, ?) ON CONFLICT (client) DO UPDATE SET filters = excluded.filters, at = excluded.at'),
    delRoamed: db.prepare('DELETE FROM roamed WHERE client = ?'),
    allRoamed: db.prepare('SELECT client, filters, at FROM roamed'),
  };
}

