import { Aedes, type PublishPacket } from 'aedes';
import type { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { RoamedMessage, RoamedSession } from '../core/roaming-wire.ts';
import { nameSchema } from '../core/schema-base.ts';
import { Counters } from './counters.ts';
import { guardedEmitter } from './emitter.ts';
import { InvalidTopicError } from './errors.ts';
import { deviceOf, Gatekeeper, skipRouted } from './gatekeeper.ts';
import { Listeners, type ServerTls } from './listeners.ts';
import { ConnectionLimiter, DEFAULT_LIMITS, guardPacketSize } from './limits.ts';
import { Roamer, type RoamCounts } from './roaming.ts';
import { sessionOf, type AedesClient, type RoutedPacket } from './session.ts';
import { SqlitePersistence } from './sqlite-persistence.ts';
import { isValidFilter, isValidTopic, topicMatches } from './topics.ts';
import type { BrokerHooks, BrokerStats, DeviceRef, EdgeBrokerSettings, MessageHandler, PublishOptions } from './types.ts';
import { ADMINISTRATIVE_ACTION, disconnect, installWire, writeDirect } from './wire.ts';

/** Messages routed at once before aedes' emitter queues the next (aedes' default). */
const EMITTER_CONCURRENCY = 100;
/** How often ended MQTT 5 sessions are looked for. */
const EXPIRY_SWEEP_MS = 30_000;

/**
 * Where sessions, subscriptions, queued and retained messages live (as
 * aedes takes its persistence): DATADIR/broker.db, kept across restarts, or
 * a persistence the caller opened (`:memory:` for a throwaway broker); the
 * broker closes it when it closes.
 */
export type BrokerStorage = { dataDir: string; persistence?: never } | { persistence: SqlitePersistence; dataDir?: never };

export type EdgeBrokerOptions = BrokerStorage & EdgeBrokerSettings;

/**
 * The MQTT broker every agent runs for its site's devices: aedes behind our
 * authentication (device credentials from the directory), per-project topic
 * spaces, the device ACL, MQTT 5 on the wire, and a session store on disk.
 * See gatekeeper.ts (hooks), session.ts (mounting and ACL), wire.ts (encoding)
 * and sqlite-persistence.ts.
 */
export class EdgeBroker {
  private readonly clients = new Map<string, AedesClient>();
  private readonly sweep: NodeJS.Timeout;
  private readonly roamer: Roamer;

  static async start(o: EdgeBrokerOptions): Promise<EdgeBroker> {
    installWire();
    const log = o.logger ?? pino({ level: 'silent' });
    const persistence = o.persistence ?? openPersistence(o.dataDir);
    const counters = new Counters();
    const hooks = o.hooks ?? {};
    const gate = new Gatekeeper({ directory: o.directory, counters }, persistence, hooks, log);
    const limits = { ...DEFAULT_LIMITS, ...o.limits };
    const aedes = await Aedes.createBroker({
      connectTimeout: limits.connectTimeoutMs,
      persistence,
      mq: guardedEmitter(EMITTER_CONCURRENCY),
      concurrency: EMITTER_CONCURRENCY,
      preConnect: gate.preConnect,
      authenticate: gate.authenticate,
      authorizePublish: gate.authorizePublish,
      authorizeSubscribe: gate.authorizeSubscribe,
      authorizeForward: gate.authorizeForward,
    });
    skipRouted(aedes);
    let listeners: Listeners;
    try {
      listeners = await Listeners.start((conn, req) => guardPacketSize(aedes.handle(conn, req), limits), { tcp: o.tcp, ws: o.ws, tls: o.tls, wss: o.wss }, new ConnectionLimiter(limits, () => counters.refusedConnections++), o.certificate, { error: (err) => log.warn({ err: err.message }, 'a connection could not be accepted'), failure: o.onFailure });
    } catch (err) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      persistence.close();
      throw err;
    }
    return new EdgeBroker(aedes, listeners, persistence, gate, counters, hooks, log);
  }

  private constructor(
    private readonly aedes: Aedes,
    private readonly listeners: Listeners,
    private readonly persistence: SqlitePersistence,
    private readonly gate: Gatekeeper,
    private readonly counters: Counters,
    private readonly hooks: BrokerHooks,
    private readonly log: Logger,
  ) {
    this.roamer = new Roamer(aedes, persistence, this.clients, gate.access, hooks, log);
    gate.onArrived = (ref) => this.roamer.arrived(ref);
    aedes.on('client', (client) => this.registered(client as AedesClient));
    // The device hears of nothing (commands, desired twins) before its CONNACK [MQTT-3.2.0-1]: the hook fires once that is written.
    aedes.on('connackSent', (packet, client) => {
      if (((packet as { returnCode?: number }).returnCode ?? 0) === 0) this.acknowledged(client as AedesClient);
    });
    aedes.on('clientDisconnect', (client) => this.unregistered(client as AedesClient));
    aedes.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'device connection error'));
    aedes.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'connection error before CONNECT'));
    (aedes as EventEmitter).on('error', (err: unknown) => log.error({ err }, 'broker error'));
    this.sweep = setInterval(() => this.dropExpiredSessions(), EXPIRY_SWEEP_MS).unref();
    this.dropExpiredSessions();
    log.info({ ports: listeners.ports }, 'edge broker listening');
  }

  get ports(): { tcp?: number; ws?: number; tls?: number; wss?: number } {
    return this.listeners.ports;
  }

  /** A renewed certificate for the TLS listeners; connected devices stay. */
  setTls(material: ServerTls): void {
    this.listeners.setTls(material);
  }

  /**
   * Publishes into a project's topic space, as if a device had (without ACL:
   * the agent may). It passes the onPublish hook first, as a device's would;
   * resolves once routed and stored.
   */
  async publish(project: string, topic: string, payload: Buffer | string, o: PublishOptions = {}): Promise<void> {
    checkProject(project);
    if (!isValidTopic(topic)) throw new InvalidTopicError(`not a topic name: "${topic}"`);
    const packet = { cmd: 'publish', topic: `${project}/${topic}`, payload: toBuffer(payload), qos: o.qos ?? 0, retain: o.retain ?? false, dup: false } as PublishPacket;
    await this.hooks.onPublish?.({ project, topic, payload: packet.payload as Buffer, qos: packet.qos, retain: packet.retain, origin: o.origin });
    return new Promise((resolve, reject) => this.aedes.publish(packet, (err) => (err ? reject(err) : resolve())));
  }

  /** An internal subscriber to a project's topics (every message, whatever its QoS; no retained replay). Returns the unsubscribe. */
  subscribe(project: string, filter: string, handler: MessageHandler): () => void {
    checkProject(project);
    if (!isValidFilter(filter)) throw new InvalidTopicError(`not a topic filter: "${filter}"`);
    const mounted = `${project}/${filter}`;
    const from = project.length + 1;
    const log = this.log;
    // mqemitter removes a listener only a turn after it is asked to, and a device's message is routed in the turn it arrives.
    let subscribed = true;
    const deliver = (packet: RoutedPacket, done: () => void): void => {
      if (!subscribed) return done();
      try {
        handler({ project, topic: packet.topic.slice(from), payload: packet.payload as Buffer, qos: packet.qos, retain: packet.retain, device: deviceOf(packet.clientId) });
      } catch (err) {
        log.error({ err, filter: mounted }, 'internal subscriber failed');
      }
      done();
    };
    this.aedes.subscribe(mounted, deliver, noop);
    return () => {
      subscribed = false;
      this.aedes.unsubscribe(mounted, deliver, noop);
    };
  }

  /**
   * Sends a QoS 1 message to the device's connected session (subscribed or
   * not) and resolves true once the device acknowledges it; false when the
   * device is not connected, leaves, or does not PUBACK within `timeoutMs`.
   * Nothing is queued: the caller owns retrying (cloud -> device commands).
   */
  deliver(project: string, device: string, topic: string, payload: Buffer | string, timeoutMs: number): Promise<boolean> {
    const client = this.clients.get(`${project}/${device}`);
    if (client === undefined || client.closed || !sessionOf(client).connacked || !isValidTopic(topic)) return Promise.resolve(false);
    const s = sessionOf(client);
    const acks = (s.acks ??= new Map());
    return new Promise((resolve) => {
      const messageId = writeDirect(client, s.prefix + topic, toBuffer(payload));
      const settle = (acked: boolean) => {
        clearTimeout(timer);
        resolve(acked);
      };
      const timer = setTimeout(() => {
        if (acks.get(messageId) === settle) acks.delete(messageId);
        resolve(false);
      }, timeoutMs);
      acks.set(messageId, settle);
    });
  }

  /** Whether a connected device has a subscription that `topic` (project-relative) matches: answers meant for it go out only then. */
  listens(project: string, device: string, topic: string): boolean {
    const client = this.clients.get(`${project}/${device}`);
    if (client === undefined || client.closed) return false;
    const mounted = `${project}/${topic}`;
    // aedes keys a client's subscriptions by their (mounted) filter; refused ones sit under an unreachable $denied/ filter.
    for (const filter in (client as unknown as { subscriptions: Record<string, unknown> }).subscriptions) if (topicMatches(filter, mounted)) return true;
    return false;
  }

  /** Disconnects a device (e.g. its credential was revoked); true if it was connected. */
  kick(project: string, device: string): boolean {
    const client = this.clients.get(`${project}/${device}`);
    if (client === undefined) return false;
    disconnect(client, ADMINISTRATIVE_ACTION);
    return true;
  }

  /**
   * A roaming device's session leaves this broker for another (roaming.ts):
   * its connection here closes, and what matches its subscriptions is
   * forwarded (onForward) from now on. Null: nothing to carry.
   */
  exportSession(ref: DeviceRef, clean: boolean): RoamedSession | null {
    return this.roamer.export(ref, clean);
  }

  /** A roaming device's session from another broker joins its session here. */
  importSession(ref: DeviceRef, session: RoamedSession): RoamCounts {
    return this.roamer.import(ref, session);
  }

  /** Messages another broker forwarded to a roaming device's session (roaming.ts). */
  injectForwarded(ref: DeviceRef, messages: RoamedMessage[], hops: number): RoamCounts & { forwarded: number } {
    return this.roamer.inject(ref, messages, hops);
  }

  /** Roaming devices whose session left this broker, which it forwards for. */
  get forwarding(): number {
    return this.roamer.forwarding;
  }

  connected(): DeviceRef[] {
    return [...this.clients.values()].map((c) => ({ project: sessionOf(c).project, device: sessionOf(c).device }));
  }

  stats(): BrokerStats {
    return this.counters.snapshot(this.clients.size);
  }

  /** Closes every connection (wills of connected devices are published) and the session store. */
  async close(): Promise<void> {
    clearInterval(this.sweep);
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    await this.listeners.close();
    this.persistence.close();
  }

  private registered(client: AedesClient): void {
    this.clients.set(sessionOf(client).key, client);
  }

  private acknowledged(client: AedesClient): void {
    if (!client.closed) this.fire('onConnect', sessionOf(client));
  }

  private unregistered(client: AedesClient): void {
    const s = sessionOf(client);
    // A takeover by the same device unregisters the old connection first, so this is always the current one.
    if (this.clients.get(s.key) === client) this.clients.delete(s.key);
    s.closed();
    this.gate.disconnected(client);
    if (s.connacked) this.fire('onDisconnect', s);
  }

  private fire(hook: 'onConnect' | 'onDisconnect', ref: DeviceRef): void {
    try {
      this.hooks[hook]?.({ project: ref.project, device: ref.device });
    } catch (err) {
      this.log.error({ err, hook }, 'broker hook failed');
    }
  }

  private dropExpiredSessions(): void {
    this.roamer.sweep(Date.now());
    for (const id of this.persistence.expiredSessions(Date.now())) {
      if (this.clients.has(id)) continue; // back before the sweep
      this.persistence.dropSession(id);
      this.log.debug({ clientId: id }, 'session expired');
    }
  }
}

function checkProject(project: string): void {
  if (!nameSchema.safeParse(project).success) throw new InvalidTopicError(`not a project name: "${project}"`);
}

const toBuffer = (p: Buffer | string): Buffer => (typeof p === 'string' ? Buffer.from(p) : p);
const noop = (): void => undefined;

function openPersistence(dataDir: string): SqlitePersistence {
  mkdirSync(dataDir, { recursive: true });
  return new SqlitePersistence(join(dataDir, 'broker.db'));
}
