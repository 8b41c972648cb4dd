import Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { ALREADY_ACKED, asPacket, decode, encode, Packet, SCHEMA, statements, type Statements, type StoredPacket, type SubRecord } from './sqlite-rows.ts';
import { topicMatches } from './topics.ts';

export type { StoredPacket } from './sqlite-rows.ts';

/**
 * The broker's session store: an aedes persistence (the async interface aedes
 * 1.x calls) kept in memory for reads and written through to SQLite, so that
 * subscriptions of persistent sessions, their queued QoS 1/2 messages, QoS 2
 * messages awaiting PUBREL, wills and retained messages survive a restart.
 *
 * Why our own on better-sqlite3 rather than aedes-persistence-level: that
 * one needs a LevelDB backend as well (two more packages, one native) where
 * better-sqlite3 is already ours, its tests run against aedes 0.51 rather
 * than 1.x, and MQTT 5 session expiry needs bookkeeping of our own anyway.
 * Reads never touch the disk: the message path asks only
 * subscriptionsByTopic (an in-memory trie, the one aedes' memory persistence
 * uses), so clean sessions cost nothing extra.
 *
 * Durability: WAL with synchronous=NORMAL. Each write is committed before the
 * call returns, so a crash of the process loses none of it; a power cut or OS
 * crash may lose the last transactions (never corrupting the file). fsync per
 * message (synchronous=FULL) would cost a disk flush per QoS 1 delivery.
 *
 * Validated with aedes-persistence's own abstract suite
 * (sqlite-persistence.test.ts) plus restart tests.
 */

const persistenceRequire = createRequire(createRequire(import.meta.resolve('aedes')).resolve('aedes-persistence'));
const QlobberSub = persistenceRequire('qlobber/aedes/qlobber-sub') as new (o: object) => Trie;

type Sub = SubRecord & { topic: string };
type TrieSub = SubRecord & { topic: string; clientId: string };
interface Trie {
  add(topic: string, sub: TrieSub): void;
  remove(topic: string, sub: { clientId: string; topic: string }): void;
  match(topic: string): TrieSub[];
  subscriptionsCount: number;
}
interface ClientRef {
  id: string;
}
interface Queued {
  packet: StoredPacket;
  row: number;
}

export class SqlitePersistence {
  private readonly db: Database.Database;
  private readonly sql: Statements;
  private broker: { id: string } | null = null;
  private readonly retained = new Map<string, StoredPacket>();
  /** client -> topic -> options, every stored subscription (QoS 0 too). */
  private readonly subscriptions = new Map<string, Map<string, SubRecord>>();
  /** QoS 1/2 subscriptions only: who gets a message queued while offline. */
  private readonly trie = new QlobberSub({ wildcard_one: '+', wildcard_some: '#', separator: '/' });
  private readonly outgoing = new Map<string, Queued[]>();
  private readonly incoming = new Map<string, Map<number, StoredPacket>>();
  private readonly wills = new Map<string, StoredPacket>();
  private closed = false;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.sql = statements(this.db);
  }


  async setup(broker: { id: string }): Promise<void> {
    this.broker = broker;
    this.load();
  }

  // ---- retained ----------------------------------------------------------------
  async storeRetained(pkt: StoredPacket): Promise<void> {
    if (this.closed) return;
    const packet = { ...pkt };
    const topic = packet.topic!;
    if (!packet.payload || packet.payload.length === 0) {
      this.retained.delete(topic);
      this.sql.delRetained.run(topic);
    } else {
      this.retained.set(topic, packet);
      this.sql.putRetained.run(topic, encode(packet));
    }
  }

  createRetainedStream(pattern: string): Readable {
    return this.createRetainedStreamCombi([pattern]);
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    const found: StoredPacket[] = [];
    for (const pattern of patterns) for (const [topic, packet] of this.retained) if (topicMatches(pattern, topic)) found.push(packet);
    return Readable.from(found);
  }

  // ---- subscriptions -------------------------------------------------------------
  async addSubscriptions(client: ClientRef, subs: Sub[]): Promise<void> {
    if (this.closed) return;
    const stored = this.subsOf(client.id);
    this.tx(() => {
      for (const sub of subs) {
        const record: SubRecord = { qos: sub.qos, rh: sub.rh, rap: sub.rap, nl: sub.nl };
        if (sub.subscriptionIdentifier !== undefined) record.subscriptionIdentifier = sub.subscriptionIdentifier;
        this.setSub(client.id, stored, sub.topic, record);
        this.sql.putSub.run(client.id, sub.topic, JSON.stringify(record));
      }
    });
  }

  async removeSubscriptions(client: ClientRef, topics: string[]): Promise<void> {
    if (this.closed) return;
    const stored = this.subscriptions.get(client.id);
    if (!stored) return;
    this.tx(() => {
      for (const topic of topics) {
        const sub = stored.get(topic);
        if (sub === undefined) continue;
        if (sub.qos > 0) this.trie.remove(topic, { clientId: client.id, topic });
        stored.delete(topic);
        this.sql.delSub.run(client.id, topic);
      }
    });
    if (stored.size === 0) this.subscriptions.delete(client.id);
  }

  async subscriptionsByClient(client: ClientRef): Promise<Sub[]> {
    const stored = this.subscriptions.get(client.id);
    return stored ? [...stored].map(([topic, record]) => ({ topic, ...record })) : [];
  }

  async countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    return { subsCount: this.trie.subscriptionsCount, clientsCount: this.subscriptions.size };
  }

  /** Asked for every QoS 1/2 message; without persistent sessions there is nothing to match. */
  async subscriptionsByTopic(topic: string): Promise<TrieSub[]> {
    return this.trie.subscriptionsCount === 0 ? [] : this.trie.match(topic);
  }

  async cleanSubscriptions(client: ClientRef): Promise<void> {
    if (this.closed) return;
    const stored = this.subscriptions.get(client.id);
    if (!stored) return;
    for (const [topic, sub] of stored) if (sub.qos > 0) this.trie.remove(topic, { clientId: client.id, topic });
    this.subscriptions.delete(client.id);
    this.sql.delSubs.run(client.id);
  }

  getClientList(topic: string): Readable {
    const ids: string[] = [];
    for (const [id, stored] of this.subscriptions) if (stored.has(topic)) ids.push(id);
    return Readable.from(ids);
  }

  // ---- outgoing queue ------------------------------------------------------------
  async outgoingEnqueue(sub: { clientId: string }, packet: StoredPacket): Promise<void> {
    if (!this.closed) this.enqueue(sub.clientId, packet);
  }

  async outgoingEnqueueCombi(subs: { clientId: string }[], packet: StoredPacket): Promise<void> {
    if (this.closed || subs.length === 0) return;
    if (subs.length === 1) return this.enqueue(subs[0]!.clientId, packet);
    this.tx(() => {
      for (const sub of subs) this.enqueue(sub.clientId, packet);
    });
  }

  /**
   * A queued message got its message id (same broker and counter), or a
   * PUBREL replaces the PUBLISH with that message id.
   */
  async outgoingUpdate(client: ClientRef, packet: StoredPacket): Promise<void> {
    const queue = this.outgoing.get(client.id) ?? [];
    for (const q of queue) {
      if (q.packet.brokerId === packet.brokerId) {
        if (q.packet.brokerCounter === packet.brokerCounter) {
          q.packet.messageId = packet.messageId;
          if (!this.closed) this.sql.setMessageId.run(packet.messageId ?? null, q.row);
          return;
        }
        // the same message id with another counter: a reused id, keep looking
      } else if (q.packet.messageId === packet.messageId) {
        q.packet = packet;
        if (!this.closed) this.sql.replaceQueued.run(packet.messageId ?? null, encode(packet), q.row);
        return;
      }
    }
    // aedes delivers a message queued for a reconnecting device both from the queue it flushes after the CONNACK and
    // live, when the message was routed in between; the first PUBACK clears it. aedes would end the connection on
    // this error: the second delivery is dropped instead (wire.ts), and the device gets the message once.
    if (packet.cmd === 'publish') {
      packet[ALREADY_ACKED] = true;
      return;
    }
    throw new Error('no such packet');
  }

  async outgoingClearMessageId(client: ClientRef, packet: { messageId?: number }): Promise<StoredPacket | undefined> {
    const queue = this.outgoing.get(client.id);
    if (!queue) return undefined;
    const i = queue.findIndex((q) => q.packet.messageId === packet.messageId);
    if (i < 0) return undefined;
    const [q] = queue.splice(i, 1);
    if (queue.length === 0) this.outgoing.delete(client.id);
    if (!this.closed) this.sql.dequeue.run(q!.row);
    return q!.packet;
  }

  outgoingStream(client: ClientRef): Readable {
    return Readable.from((this.outgoing.get(client.id) ?? []).map((q) => q.packet));
  }

  // ---- incoming QoS 2 ------------------------------------------------------------
  async incomingStorePacket(client: ClientRef, packet: StoredPacket): Promise<void> {
    if (this.closed) return;
    const stored = new Packet(packet);
    stored.messageId = packet.messageId;
    let store = this.incoming.get(client.id);
    if (!store) this.incoming.set(client.id, (store = new Map()));
    store.set(packet.messageId!, stored);
    this.sql.putIncoming.run(client.id, packet.messageId, encode(stored));
  }

  async incomingGetPacket(client: ClientRef, packet: { messageId?: number }): Promise<StoredPacket> {
    const found = this.incoming.get(client.id)?.get(packet.messageId!);
    if (!found) throw new Error('no such packet');
    return found;
  }

  async incomingDelPacket(client: ClientRef, packet: { messageId?: number }): Promise<void> {
    const store = this.incoming.get(client.id);
    if (!store?.delete(packet.messageId!)) throw new Error('no such packet');
    if (!this.closed) this.sql.delIncoming.run(client.id, packet.messageId);
  }

  async cleanIncoming(client: ClientRef): Promise<void> {
    if (this.closed) return;
    this.incoming.delete(client.id);
    this.sql.clearIncoming.run(client.id);
  }

  // ---- wills ---------------------------------------------------------------------
  async putWill(client: ClientRef, packet: StoredPacket): Promise<void> {
    if (this.closed) return;
    packet.brokerId = this.broker!.id;
    packet.clientId = client.id;
    // A copy: aedes mounts the live will's topic when it publishes it.
    const will = { ...packet };
    this.wills.set(client.id, will);
    this.sql.putWill.run(client.id, encode(will));
  }

  async getWill(client: ClientRef): Promise<StoredPacket | undefined> {
    return this.wills.get(client.id);
  }

  async delWill(client: ClientRef): Promise<StoredPacket | undefined> {
    const will = this.wills.get(client.id);
    this.wills.delete(client.id);
    if (will && !this.closed) this.sql.delWill.run(client.id);
    return will;
  }

  streamWill(brokers: Record<string, number> = {}): Readable {
    return Readable.from([...this.wills.values()].filter((w) => !brokers[w.brokerId!]));
  }

  // ---- MQTT 5 session expiry (not part of the aedes interface) ------------------
  /** Drops a session: its subscriptions, queued and half-received messages. */
  dropSession(clientId: string): void {
    if (this.closed) return;
    const client = { id: clientId };
    void this.cleanSubscriptions(client);
    void this.cleanIncoming(client);
    this.outgoing.delete(clientId);
    this.sql.clearQueue.run(clientId);
    this.sql.delExpiry.run(clientId);
  }

  /** When a disconnected session ends (epoch ms), or null while it lasts (connected, or no expiry). */
  setExpiry(clientId: string, at: number | null): void {
    if (this.closed) return;
    if (at === null) this.sql.delExpiry.run(clientId);
    else this.sql.putExpiry.run(clientId, at);
  }

  expiredSessions(now: number): string[] {
    return this.closed ? [] : (this.sql.expired.all(now) as string[]);
  }

  // ---- roaming (broker/roaming.ts; not part of the aedes interface) -------------
  /** A session as it stands: every subscription and the queued messages, oldest first. */
  sessionSnapshot(clientId: string): { subscriptions: Sub[]; queued: StoredPacket[] } {
    const stored = this.subscriptions.get(clientId);
    return { subscriptions: stored ? [...stored].map(([topic, record]) => ({ topic, ...record })) : [], queued: (this.outgoing.get(clientId) ?? []).map((q) => q.packet) };
  }

  /** Devices whose session went to another broker, with the (mounted) filters this broker still forwards for them; null ends it. */
  setRoamed(clientId: string, filters: { topic: string; qos: number }[] | null, at = Date.now()): void {
    if (this.closed) return;
    if (filters === null) this.sql.delRoamed.run(clientId);
    else this.sql.putRoamed.run(clientId, JSON.stringify(filters), at);
  }

  roamed(): { clientId: string; filters: { topic: string; qos: number }[]; at: number }[] {
    if (this.closed) return [];
    return (this.sql.allRoamed.all() as { client: string; filters: string; at: number }[]).map((r) => ({ clientId: r.client, filters: JSON.parse(r.filters) as { topic: string; qos: number }[], at: r.at }));
  }

  async destroy(): Promise<void> {
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  // ---- internals -----------------------------------------------------------------
  private subsOf(clientId: string): Map<string, SubRecord> {
    let stored = this.subscriptions.get(clientId);
    if (!stored) this.subscriptions.set(clientId, (stored = new Map()));
    return stored;
  }

  /** Only QoS 1/2 subscriptions queue messages while offline, so only they go into the trie. */
  private setSub(clientId: string, stored: Map<string, SubRecord>, topic: string, record: SubRecord): void {
    const before = stored.get(topic);
    if (record.qos > 0) this.trie.add(topic, { clientId, topic, qos: record.qos, rh: record.rh, rap: record.rap, nl: record.nl });
    else if (before && before.qos > 0) this.trie.remove(topic, { clientId, topic });
    stored.set(topic, record);
  }

  private enqueue(clientId: string, packet: StoredPacket): void {
    const queued = new Packet(packet);
    const row = Number(this.sql.enqueue.run(clientId, null, encode(queued)).lastInsertRowid);
    let queue = this.outgoing.get(clientId);
    if (!queue) this.outgoing.set(clientId, (queue = []));
    queue.push({ packet: queued, row });
  }

  private tx(fn: () => void): void {
    this.db.transaction(fn)();
  }

  private load(): void {
    for (const r of this.db.prepare('SELECT packet FROM retained ORDER BY rowid').pluck().all() as Buffer[]) {
      const p = decode(r);
      this.retained.set(p.topic!, p);
    }
    for (const r of this.db.prepare('SELECT client, topic, options FROM subscriptions').all() as { client: string; topic: string; options: string }[]) {
      this.setSub(r.client, this.subsOf(r.client), r.topic, JSON.parse(r.options) as SubRecord);
    }
    for (const r of this.db.prepare('SELECT id, client, message_id, packet FROM outgoing ORDER BY id').all() as { id: number; client: string; message_id: number | null; packet: Buffer }[]) {
      const packet = asPacket(decode(r.packet));
      packet.messageId = r.message_id ?? undefined;
      let queue = this.outgoing.get(r.client);
      if (!queue) this.outgoing.set(r.client, (queue = []));
      queue.push({ packet, row: r.id });
    }
    for (const r of this.db.prepare('SELECT client, message_id, packet FROM incoming').all() as { client: string; message_id: number; packet: Buffer }[]) {
      let store = this.incoming.get(r.client);
      if (!store) this.incoming.set(r.client, (store = new Map()));
      store.set(r.message_id, asPacket(decode(r.packet)));
    }
    for (const r of this.db.prepare('SELECT client, packet FROM wills').all() as { client: string; packet: Buffer }[]) this.wills.set(r.client, decode(r.packet));
  }
}
