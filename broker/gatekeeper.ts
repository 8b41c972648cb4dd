import type { AedesPublishPacket, AuthenticateError, Client, ConnectPacket, PublishPacket, SubscribePacket, Subscription, UnsubscribePacket } from 'aedes';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { certificateFacts } from '../core/ca-pin.ts';
import { SESSION, Session, sessionOf, type Access, type AedesClient, type MqttParser } from './session.ts';
import type { SqlitePersistence } from './sqlite-persistence.ts';
import { DEFAULT_PROJECT } from '../core/resources.ts';
import { isValidTopic, parseClientId } from './topics.ts';
import type { BrokerHooks, DeviceIdentity } from './types.ts';
import { deliverInTurn } from './deliver.ts';
import { disconnect, NOT_AUTHORIZED } from './wire.ts';

/** Where a refused publish goes: acknowledged as usual, routed to no one (no subscription can match a `$` topic of ours). */
export const DISCARD_TOPIC = '$gedge/discard';
/** 3.1.1 CONNACK return codes [MQTT-3.2.2.3]. */
const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;
const REFUSED_NOT_AUTHORIZED = 5;
/** MQTT 5: a session expiry interval of 0xFFFFFFFF never expires [MQTT 5 3.1.2.11.2]. */
const NEVER = 0xffffffff;

type Done = (err?: Error | null) => void;

/**
 * aedes' hooks: who may connect, what they may publish and subscribe to, and
 * what they may receive, with each project's topics mounted under "P/" so
 * that projects never see each other (session.ts).
 *
 * A refused publish is acknowledged (3.1.1 has no negative PUBACK; MQTT 5
 * gets 0x87), counted, and dropped; the connection stays up. aedes would
 * otherwise close the connection on any authorizePublish error.
 */
export class Gatekeeper {
  constructor(
    readonly access: Access,
    private readonly persistence: SqlitePersistence,
    private readonly hooks: BrokerHooks,
    private readonly log: Logger,
  ) {}

  readonly preConnect = (client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void): void => {
    const c = client as AedesClient;
    const ref = parseClientId(packet.clientId ?? '');
    const s = new Session(ref?.project ?? '', ref?.device ?? '', packet.protocolVersion === 5, this.access);
    s.connect = packet;
    c[SESSION] = s;
    // One client id per device, whichever form it used: takeover and persistent sessions key on it.
    if (ref) packet.clientId = s.key;
    if (s.v5) {
      // aedes refuses protocol level 5: it gets 3.1.1, while the parser, which keeps the CONNECT as its settings, goes on reading v5.
      c._parser.settings = { protocolVersion: 5 };
      packet.protocolVersion = 4;
      s.expiry = packet.properties?.sessionExpiryInterval ?? 0;
    }
    interpose(c._parser);
    deliverInTurn(c);
    done(null, true);
  };

  readonly authenticate = (client: Client, username: string | undefined, password: Buffer | undefined, done: (err: AuthenticateError | null, ok: boolean | null) => void): void => {
    const c = client as AedesClient;
    const s = sessionOf(client);
    const connect = s.connect!;
    s.connect = null;
    const refuse = (code: number, why: string, counted: 'auth' | 'publish' = 'auth') => {
      if (counted === 'auth') this.access.counters.deniedAuth++;
      else this.access.counters.deny('publish', s);
      this.log.info({ clientId: connect.clientId, why }, 'device connection refused');
      done(Object.assign(new Error(why), { returnCode: code }) as AuthenticateError, null);
    };
    if (s.device === '') return refuse(IDENTIFIER_REJECTED, 'the client id must be <project>/<device> or <device>');
    if (username && username !== s.key && !(s.project === DEFAULT_PROJECT && username === s.device)) return refuse(BAD_USERNAME_OR_PASSWORD, 'the username must be empty or the client id');
    const cert = verifiedClientCertificate(c);
    let id: DeviceIdentity | null;
    if (cert && !password?.length) {
      // A client certificate the handshake verified against the center's CA: its name must be this client id's device, and it must be on record.
      if (cert.commonName !== `${s.project}/${s.device}`) return refuse(BAD_USERNAME_OR_PASSWORD, `the client certificate is for "${cert.commonName}", not "${s.project}/${s.device}"`);
      id = this.access.directory.authenticateCertificate(s.project, s.device, cert.serial, cert.fingerprint);
      if (id === null) return refuse(BAD_USERNAME_OR_PASSWORD, 'the client certificate is revoked or unknown');
    } else {
      if (!password?.length) return refuse(REFUSED_NOT_AUTHORIZED, 'no secret and no client certificate (anonymous)');
      id = this.access.directory.authenticate(s.project, s.device, password.toString('utf8'));
      if (id === null) return refuse(BAD_USERNAME_OR_PASSWORD, 'unknown device or wrong secret');
    }
    const will = connect.will;
    if (will && !(isValidTopic(will.topic) && s.mayPublish(id, will.topic))) return refuse(REFUSED_NOT_AUTHORIZED, `the will topic "${will.topic}" is not allowed`, 'publish');
    // A clean start ends the device's session, wherever it is (roaming); MQTT 5 may keep the new one past the connection,
    // and a session that ends with its connection (expiry 0) is a clean one for aedes.
    const cleanStart = connect.clean === true;
    if (s.v5) {
      // MQTT 5 sessions last `expiry` seconds past the connection; aedes knows only clean or persistent.
      if (s.expiry === 0) connect.clean = c.clean = true;
      else if (connect.clean) {
        this.persistence.dropSession(c.id);
        connect.clean = c.clean = false;
      }
    }
    if (!c.clean) this.persistence.setExpiry(c.id, null);
    if (!id.roaming || this.hooks.onRoam === undefined) return done(null, true);
    // Its session may be at another edge's broker: it comes here before the CONNACK says whether one is present.
    const ref = { project: s.project, device: s.device };
    this.hooks.onRoam(ref, { clean: cleanStart || c.clean }).then(
      () => {
        this.onArrived?.(ref);
        done(null, true);
      },
      (err: unknown) => {
        this.log.error({ err, device: s.key }, 'roaming hook failed');
        done(null, true);
      },
    );
  };

  /** Set by the broker: a roaming device connects here (its session is here now). */
  onArrived: ((ref: { project: string; device: string }) => void) | undefined;

  readonly authorizePublish = (client: Client | null, packet: PublishPacket, done: Done): void => {
    // No client: the will of a connection lost with the previous broker run.
    const s = client !== null ? sessionOf(client) : this.sessionOfWill(packet);
    if (s !== null) {
      const id = s.identity();
      if (id !== null && s.mayPublish(id, packet.topic)) {
        const topic = packet.topic;
        packet.topic = s.prefix + topic;
        const props = packet.properties;
        // A topic alias or subscription id names something of this connection only.
        if (props !== undefined) {
          delete props.topicAlias;
          delete props.subscriptionIdentifier;
        }
        this.access.counters.messagesIn++;
        return this.admit(s, topic, packet, client !== null && packet.qos === 1 ? routeFirst(client as AedesClient, packet, done) : done);
      }
      this.access.counters.deny('publish', s);
      this.log.debug({ device: s.key, topic: packet.topic }, 'publish refused');
      if (s.v5 && packet.qos > 0 && packet.messageId !== undefined) s.refuse(packet.messageId);
      // The device or all its credentials are gone: it has no business here.
      if (id === null && client !== null && !client.closed) disconnect(client as AedesClient, NOT_AUTHORIZED);
    }
    packet.topic = DISCARD_TOPIC;
    packet.retain = false;
    done(null);
  };

  readonly authorizeSubscribe = (client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void): void => {
    const s = sessionOf(client);
    // A SUBSCRIBE from the wire was screened and mounted as it was parsed.
    if (!client.connecting) return done(null, s.isRefusedFilter(sub.topic) ? null : sub);
    // Restoring a persistent session (its filters are mounted): only what is still allowed.
    const id = s.identity();
    if (id !== null && sub.topic.startsWith(s.prefix) && s.maySubscribe(id, sub.topic.slice(s.prefix.length))) return done(null, sub);
    this.persistence.removeSubscriptions(client, [sub.topic]).catch(() => undefined);
    done(null, null);
  };

  readonly authorizeForward = (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null => {
    const s = sessionOf(client);
    const id = s.identity();
    return id !== null && s.mayReceive(id, packet.topic) ? packet : null;
  };

  /**
   * Hands an accepted publish to the onPublish hook before aedes acknowledges
   * or routes it: when the hook answers with a promise, the PUBACK/PUBREC
   * (and the connection's next packets) wait for it; a rejection closes the
   * connection unacknowledged, so the device sends the message again.
   */
  private admit(s: Session, topic: string, packet: PublishPacket, done: Done): void {
    const onPublish = this.hooks.onPublish;
    if (onPublish === undefined) return done(null);
    let held: void | Promise<void>;
    try {
      held = onPublish({ project: s.project, topic, payload: packet.payload as Buffer, qos: packet.qos, retain: packet.retain, device: s.device, packetId: packet.messageId, dup: packet.dup, connection: s.connection });
    } catch (err) {
      this.log.error({ err }, 'onPublish hook failed');
      return done(err as Error);
    }
    if (held === undefined) return done(null);
    held.then(
      () => done(null),
      (err: unknown) => {
        this.log.warn({ err, device: s.key }, 'publish not admitted; the connection closes unacknowledged');
        done(err as Error);
      },
    );
  }

  /** Closed persistent sessions of MQTT 5 clients end `expiry` seconds later. */
  disconnected(client: AedesClient): void {
    const s = sessionOf(client);
    if (s.v5 && !client.clean && s.expiry < NEVER) this.persistence.setExpiry(client.id, Date.now() + s.expiry * 1000);
  }

  private sessionOfWill(packet: PublishPacket): Session | null {
    const ref = parseClientId((packet as { clientId?: string }).clientId ?? '');
    return ref ? new Session(ref.project, ref.device, false, this.access) : null;
  }
}

/** A QoS 1 publish routeFirst has routed: whether that is complete, and aedes' callback waiting for it. */
const ROUTING = Symbol('gedge.broker.routing');
interface Routing {
  routed: boolean;
  err: Error | null;
  finish: Done | undefined;
}
type RoutedAhead = PublishPacket & { [ROUTING]?: Routing };

/**
 * A device's QoS 1 message is routed here, before its PUBACK, as Mosquitto
 * does. aedes writes the PUBACK first and routes only once that write has
 * called back (a setImmediate later), so every delivery waited for the
 * PUBACK's write(2) and the rest of the event loop's poll phase (~40 us at
 * the median, 150-200 us at p99, measured in the broker). Now the deliveries
 * are written first and the PUBACK at the end of the same turn (wire.ts)
 * [MQTT-4.3.2-2: the PUBACK follows ownership]. aedes' own publish of the
 * packet afterwards only waits for this routing to complete (skipRouted),
 * so the connection's next packets are still read only once this one is
 * routed and acknowledged: a slow subscriber still holds back its publishers.
 */
function routeFirst(client: AedesClient, packet: RoutedAhead, done: Done): Done {
  return (err) => {
    if (err) return done(err);
    const routing: Routing = { routed: false, err: null, finish: undefined };
    client.broker.publish(packet, client, (routeErr) => {
      routing.routed = true;
      routing.err = routeErr ?? null;
      routing.finish?.(routing.err);
    });
    packet[ROUTING] = routing;
    done(null);
  };
}

/**
 * aedes' publish, minus what is not to be routed (again): a device's publish
 * to DISCARD_TOPIC (refused) goes nowhere, and one routeFirst has routed
 * completes when that routing does.
 */
export function skipRouted(aedes: { publish(packet: PublishPacket, client: unknown, done?: Done): void }): void {
  const publish = aedes.publish;
  aedes.publish = function publishOnce(this: unknown, packet: RoutedAhead, client, done) {
    const routing = packet[ROUTING];
    if (routing !== undefined) {
      packet[ROUTING] = undefined;
      if (!routing.routed) return void (routing.finish = done);
      return done?.(routing.err);
    }
    if (packet.topic === DISCARD_TOPIC && client !== null && typeof client === 'object') return done?.(null);
    return publish.call(this, packet, client, done);
  };
}

/** The device of a canonical client id ("P/D", see preConnect); undefined for the broker's own messages. */
export function deviceOf(clientId: string | undefined): string | undefined {
  return clientId === undefined ? undefined : clientId.slice(clientId.indexOf('/') + 1);
}

type ParsedPacket = { cmd: string; messageId?: number };
/** aedes' own 'packet' listener (lib/client.js enqueue), one function for every client. */
let aedesListener: ((this: MqttParser, packet: ParsedPacket) => void) | undefined;

/**
 * Puts onPacket in front of aedes on a connection's parser, as the one
 * listener that then hands each packet on: an emitter with two listeners
 * costs measurably more per packet than one.
 */
function interpose(parser: MqttParser): void {
  const listeners = parser.listeners('packet');
  if (listeners.length !== 1) throw new Error(`aedes' MQTT parser has ${listeners.length} packet listeners, expected 1`);
  aedesListener = listeners[0];
  parser.removeListener('packet', aedesListener!);
  parser.on('packet', onPacket);
}

/** Sees each packet of a device as it is parsed, before aedes handles it: aedes has no hook for these. */
function onPacket(this: MqttParser, packet: ParsedPacket): void {
  const s = this.client[SESSION]!;
  switch (packet.cmd) {
    case 'subscribe':
      s.screenSubscribe((packet as SubscribePacket).subscriptions);
      break;
    case 'unsubscribe':
      s.mountUnsubscribe(packet as UnsubscribePacket);
      break;
    case 'puback':
      if (s.acks !== null) s.acked(packet.messageId!);
  }
  aedesListener!.call(this, packet);
}

/**
 * The client certificate of a device on MQTTS or WSS, when the TLS handshake
 * verified it (chain to the center's CA, validity); undefined otherwise.
 */
function verifiedClientCertificate(c: AedesClient): { commonName: string; serial: string; fingerprint: string } | undefined {
  const holder = c as unknown as { conn?: unknown; req?: { socket?: unknown } };
  const socket = holder.conn instanceof TLSSocket ? holder.conn : holder.req?.socket instanceof TLSSocket ? holder.req.socket : undefined;
  if (!socket?.authorized) return undefined;
  const peer = socket.getPeerX509Certificate();
  return peer ? certificateFacts(peer) : undefined;
}
