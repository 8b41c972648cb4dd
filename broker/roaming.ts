import type { Aedes } from 'aedes';
import type { Logger } from 'pino';
import { ROAM_PAYLOAD_BYTES_MAX, ROAM_QUEUED_MAX, ROAM_SESSION_BYTES_MAX, ROAM_SUBSCRIPTIONS_MAX, ROAM_TOPIC_MAX, type RoamedMessage, type RoamedSession } from '../core/roaming-wire.ts';
import { Session, sessionOf, type Access, type AedesClient, type RoutedPacket } from './session.ts';
import { Packet, type StoredPacket } from './sqlite-rows.ts';
import type { SqlitePersistence } from './sqlite-persistence.ts';
import { isValidFilter, isValidTopic, topicMatches } from './topics.ts';
import type { BrokerHooks, DeviceRef } from './types.ts';
import { disconnect, writeDirect } from './wire.ts';

/** MQTT 5 reason code of a DISCONNECT: another connection took the session [MQTT 5 3.14.2.1]. */
const SESSION_TAKEN_OVER = 0x8e;
/** How long a broker forwards for a device whose session left it, unless the session comes back first. */
export const ROAMED_TTL_MS = 24 * 3600_000;

interface Away {
  ref: DeviceRef;
  filters: { topic: string; qos: number }[];
  at: number;
  deliver: (packet: RoutedPacket, done: () => void) => void;
}

/** What a session hand-over or a forward did, for the agent's metrics. */
export interface RoamCounts {
  subscriptions: number;
  queued: number;
  dropped: number;
}

/**
 * Roaming devices' MQTT sessions between edge brokers (docs/broker.md,
 * "Roaming"). When a roaming device connects, the agent brings its session
 * from the broker that held it (`export` there, `import` here) before the
 * CONNACK, so it says session present and the queued messages follow. The
 * broker it left forwards, from then on, every message that matches the
 * session's subscriptions (the `onForward` hook; the agent relays it), and
 * the broker holding the session takes them in (`inject`). A record of each
 * device away is kept on disk, so forwarding survives a restart; it ends when
 * the session comes back, the device is gone, or after ROAMED_TTL_MS.
 */
export class Roamer {
  private readonly away = new Map<string, Away>();
  /**
   * Messages that came with a session, or forwarded, are queued under an id
   * of their own and a counter that only grows (from the clock, so across
   * restarts too): the store finds a queued message by that pair when aedes
   * gives it its packet id, and a message from another broker must not take
   * the place of one of this broker's own.
   */
  private readonly roamedId: string;
  private counter = Date.now() * 1000;

  constructor(
    private readonly aedes: Aedes,
    private readonly persistence: SqlitePersistence,
    private readonly clients: Map<string, AedesClient>,
    private readonly access: Access,
    private readonly hooks: BrokerHooks,
    private readonly log: Logger,
  ) {
    this.roamedId = `${aedes.id}:roamed`;
    for (const r of persistence.roamed()) {
      const ref = refOf(r.clientId);
      if (ref) this.forward(ref, r.filters, r.at);
    }
  }

  /**
   * The device's session leaves this broker: its connection here (if any)
   * is closed as a takeover (no will: the device moved, it did not fail),
   * the session is taken out of the store, and from now on what matches its
   * subscriptions is forwarded. `clean`: the device started afresh
   * elsewhere; the session ends here and nothing is forwarded. Null when
   * there is nothing to carry.
   */
  export(ref: DeviceRef, clean: boolean): RoamedSession | null {
    const key = keyOf(ref);
    const client = this.clients.get(key);
    if (client !== undefined && !client.closed) {
      client._disconnected = true;
      disconnect(client, SESSION_TAKEN_OVER);
    }
    this.stopForwarding(key);
    const snap = this.persistence.sessionSnapshot(key);
    this.persistence.dropSession(key);
    if (clean) return null;
    const prefix = `${ref.project}/`;
    // Refused filters (kept under "P/$denied/") and filters too long for the wire end with the session here.
    const subscriptions = snap.subscriptions
      .filter((s) => s.topic.startsWith(prefix) && s.topic.charCodeAt(prefix.length) !== 36 /* $ */ && s.topic.length - prefix.length <= ROAM_TOPIC_MAX)
      .slice(0, ROAM_SUBSCRIPTIONS_MAX)
      .map((s) => ({ topic: s.topic.slice(prefix.length), qos: qosOf(s.qos), ...(s.rh !== undefined ? { rh: s.rh } : {}), ...(s.rap !== undefined ? { rap: s.rap } : {}), ...(s.nl !== undefined ? { nl: s.nl } : {}) }));
    const carried = snap.queued.filter((p) => p.cmd === 'publish' && p.topic?.startsWith(prefix) && fits(p.topic.slice(prefix.length), p.payload));
    const { kept, dropped } = newestWithin(carried, ROAM_SESSION_BYTES_MAX - subscriptions.reduce((n, x) => n + Buffer.byteLength(x.topic) + 64, 0));
    const lost = dropped + snap.queued.length - carried.length;
    if (subscriptions.length === 0 && kept.length === 0) return null;
    if (lost > 0) this.log.warn({ device: key, dropped: lost }, 'roaming: queued messages too many or too big to carry; the oldest are dropped');
    this.forward(ref, subscriptions.map((s) => ({ topic: prefix + s.topic, qos: s.qos })));
    return { subscriptions, queued: kept.map((p) => ({ topic: p.topic!.slice(prefix.length), payload: (p.payload ?? Buffer.alloc(0)).toString('base64'), qos: qosOf(p.qos ?? 1) })), dropped: lost };
  }

  /**
   * A session from another broker joins the device's session here (merged:
   * what is here already stays). Subscriptions and messages the device may
   * not have (its grants changed) are left out. A device already connected
   * (the session came late) is disconnected, so that it reconnects to the
   * whole session.
   */
  import(ref: DeviceRef, s: RoamedSession): RoamCounts {
    const key = keyOf(ref);
    this.stopForwarding(key);
    const id = this.access.directory.lookup(ref.project, ref.device);
    if (id === null) return { subscriptions: 0, queued: 0, dropped: s.queued.length };
    const session = new Session(ref.project, ref.device, false, this.access);
    const prefix = `${ref.project}/`;
    const subs = s.subscriptions.filter((x) => isValidFilter(x.topic) && session.maySubscribe(id, x.topic)).map((x) => ({ ...x, topic: prefix + x.topic }));
    this.persistence.addSubscriptions({ id: key }, subs).catch(this.failed);
    let queued = 0;
    for (const m of s.queued) {
      if (!isValidTopic(m.topic) || !session.mayReceive(id, prefix + m.topic)) continue;
      this.persistence.outgoingEnqueue({ clientId: key }, this.packet(prefix + m.topic, m)).catch(this.failed);
      queued++;
    }
    const client = this.clients.get(key);
    if (client !== undefined && !client.closed && (subs.length > 0 || queued > 0)) {
      client._disconnected = true;
      disconnect(client, SESSION_TAKEN_OVER);
    }
    return { subscriptions: subs.length, queued, dropped: s.queued.length - queued };
  }

  /** The device is connecting here: whatever happened to its session, this broker no longer forwards for it. */
  arrived(ref: DeviceRef): void {
    this.stopForwarding(keyOf(ref));
  }

  /**
   * Messages another broker forwarded to the device's session: delivered
   * when it is connected here, queued (QoS 1/2) while its persistent session
   * is here, forwarded again when its session has left this broker too
   * (`hops` counts), else dropped. Only what matches one of its
   * subscriptions here, and what it may receive, is taken.
   */
  inject(ref: DeviceRef, messages: RoamedMessage[], hops: number): RoamCounts & { forwarded: number } {
    const key = keyOf(ref);
    const counts = { subscriptions: 0, queued: 0, dropped: 0, forwarded: 0 };
    if (this.away.has(key)) {
      for (const m of messages) this.hooks.onForward?.(ref, m, hops + 1);
      counts.forwarded = messages.length;
      return counts;
    }
    const id = this.access.directory.lookup(ref.project, ref.device);
    const session = new Session(ref.project, ref.device, false, this.access);
    const client = this.clients.get(key);
    const live = client !== undefined && !client.closed && sessionOf(client).connacked;
    const filters = live ? Object.keys(client.subscriptions) : this.persistence.sessionSnapshot(key).subscriptions.map((s) => s.topic);
    const prefix = `${ref.project}/`;
    for (const m of messages) {
      const topic = prefix + m.topic;
      if (id === null || !isValidTopic(m.topic) || !session.mayReceive(id, topic) || !filters.some((f) => topicMatches(f, topic))) counts.dropped++;
      else if (live) {
        // Written here, not through aedes' client.publish: that path may meet the same queued message again in the
        // queue the CONNACK flushes, and ends the connection when the first delivery's PUBACK has already cleared it.
        const payload = Buffer.from(m.payload, 'base64');
        if (m.qos === 0) writeDirect(client, topic, payload, 0);
        else {
          const packet = this.packet(topic, { ...m, qos: 1 });
          this.persistence.outgoingEnqueue({ clientId: key }, packet).catch(this.failed);
          packet.messageId = writeDirect(client, topic, payload, 1);
          this.persistence.outgoingUpdate({ id: key }, packet).catch(this.failed);
        }
        counts.queued++;
      } else if (m.qos > 0) {
        this.persistence.outgoingEnqueue({ clientId: key }, this.packet(topic, m)).catch(this.failed);
        counts.queued++;
      } else counts.dropped++;
    }
    return counts;
  }

  /** Devices this broker forwards for. */
  get forwarding(): number {
    return this.away.size;
  }

  /** Ends forwarding for devices gone from the directory, and past ROAMED_TTL_MS. */
  sweep(now: number): void {
    for (const [key, a] of this.away) if (now - a.at > ROAMED_TTL_MS || this.access.directory.lookup(a.ref.project, a.ref.device) === null) this.stopForwarding(key);
  }

  private forward(ref: DeviceRef, filters: { topic: string; qos: number }[], at = Date.now()): void {
    const key = keyOf(ref);
    if (filters.length === 0) return;
    this.persistence.setRoamed(key, filters, at);
    const from = ref.project.length + 1;
    const twin = `devices/${ref.device}/twin/`;
    const seen = new WeakSet<object>();
    const away: Away = {
      ref,
      filters,
      at,
      deliver: (packet, done) => {
        // A message matching several of its filters is forwarded once; mqemitter removes a listener only a turn after it is asked to.
        // Its twin's documents are every broker's own (each publishes them): only the one it is at says them to it.
        if (this.away.get(key) === away && !seen.has(packet) && !packet.topic.startsWith(twin, from) && fits(packet.topic.slice(from), packet.payload as Buffer)) {
          seen.add(packet);
          const qos = Math.min(packet.qos, Math.max(...filters.filter((f) => topicMatches(f.topic, packet.topic)).map((f) => f.qos), 0));
          try {
            this.hooks.onForward?.(ref, { topic: packet.topic.slice(from), payload: Buffer.from(packet.payload).toString('base64'), qos: qosOf(qos) }, 0);
          } catch (err) {
            this.log.error({ err, device: key }, 'roaming forward hook failed');
          }
        }
        done();
      },
    };
    this.away.set(key, away);
    for (const f of filters) this.aedes.subscribe(f.topic, away.deliver, noop);
  }

  private stopForwarding(key: string): void {
    const away = this.away.get(key);
    if (away === undefined) return;
    this.away.delete(key);
    for (const f of away.filters) this.aedes.unsubscribe(f.topic, away.deliver, noop);
    this.persistence.setRoamed(key, null);
  }

  private readonly failed = (err: unknown): void => this.log.error({ err }, 'roaming: the session store failed');

  /** A message as aedes queues one, under this broker's id for roamed messages. */
  private packet(topic: string, m: RoamedMessage): StoredPacket {
    return new Packet({ cmd: 'publish', topic, payload: Buffer.from(m.payload, 'base64'), qos: m.qos, retain: false, dup: false, brokerId: this.roamedId, brokerCounter: ++this.counter });
  }
}

/** Whether a message can travel: its topic and payload within what the wire takes. */
function fits(topic: string, payload: Buffer | undefined): boolean {
  return topic.length <= ROAM_TOPIC_MAX && (payload?.length ?? 0) <= ROAM_PAYLOAD_BYTES_MAX;
}

/** The newest queued messages, at most ROAM_QUEUED_MAX, whose topics and payloads (as base64) fit `budget` bytes; oldest first. */
function newestWithin(queued: StoredPacket[], budget: number): { kept: StoredPacket[]; dropped: number } {
  let bytes = 0;
  let i = queued.length;
  while (i > 0 && queued.length - i < ROAM_QUEUED_MAX) {
    const p = queued[i - 1]!;
    const size = Buffer.byteLength(p.topic ?? '') + Math.ceil((p.payload?.length ?? 0) / 3) * 4 + 64;
    if (bytes + size > budget) break;
    bytes += size;
    i--;
  }
  return { kept: queued.slice(i), dropped: i };
}

const keyOf = (ref: DeviceRef): string => `${ref.project}/${ref.device}`;
const qosOf = (q: number): 0 | 1 | 2 => (q >= 2 ? 2 : q <= 0 ? 0 : 1);
const noop = (): void => undefined;

function refOf(clientId: string): DeviceRef | null {
  const slash = clientId.indexOf('/');
  return slash > 0 ? { project: clientId.slice(0, slash), device: clientId.slice(slash + 1) } : null;
}
