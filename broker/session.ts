import type { AedesPublishPacket, Client, ConnectPacket, PublishPacket, Subscription, UnsubscribePacket } from 'aedes';
import type { Counters } from './counters.ts';
import { filterCovers, isTwinRequest, isValidFilter, topicMatches } from './topics.ts';
import type { DeviceDirectory, DeviceIdentity } from './types.ts';

/** Where a connection's Session hangs on its aedes client. */
export const SESSION = Symbol('gedge.broker.session');

/** aedes' client with the internals the broker relies on (aedes 1.2, lib/client.js). */
export interface AedesClient extends Client {
  [SESSION]?: Session;
  clean: boolean;
  _parser: MqttParser;
  /** Inbound QoS 2 message ids awaiting PUBREL. */
  _inboundInflight: Set<number>;
  /** The next outgoing message id. */
  _nextId: number;
  /** Set: the connection ends as if the device had sent DISCONNECT (its will is not published). */
  _disconnected?: boolean;
  /** Its subscriptions now, by (mounted) filter. */
  subscriptions: Record<string, unknown>;
  broker: {
    persistence: { incomingDelPacket(client: AedesClient, packet: { messageId: number }): Promise<void> };
    publish(packet: PublishPacket, client: AedesClient, done: (err?: Error | null) => void): void;
  };
}
/** A message as aedes routes it: a device's carries the (canonical) client id of its publisher. */
export type RoutedPacket = AedesPublishPacket & { clientId?: string };
export interface MqttParser {
  client: AedesClient;
  settings: { protocolVersion: number };
  listeners(event: 'packet'): ((this: MqttParser, packet: { cmd: string; messageId?: number }) => void)[];
  removeListener(event: 'packet', fn: (this: MqttParser, packet: { cmd: string; messageId?: number }) => void): void;
  on(event: 'packet', fn: (this: MqttParser, packet: { cmd: string; messageId?: number }) => void): void;
}

export interface Access {
  directory: DeviceDirectory;
  counters: Counters;
}

export const sessionOf = (client: Client): Session => (client as AedesClient)[SESSION]!;

let connections = 0;

/**
 * One device connection: who it is, where its project is mounted, and what
 * its grants allow. Every topic of project P is kept under the mount "P/"
 * inside aedes, so a device only ever names (and reaches) its own project's
 * topics; the wire layer strips the mount again on the way out.
 *
 * The ACL: a device may publish to and subscribe under `devices/<device>/#`
 * plus its grants. Grants are read from the directory at every check, so a
 * change applies to a connected device at its next message.
 */
export class Session {
  readonly key: string;
  /** The project's mount, "P/". */
  readonly prefix: string;
  /** The device's own namespace, `devices/<device>` (and everything below it). */
  private readonly ns: string;
  /** `devices/<device>/twin/`: where a device may publish only its twin requests. */
  private readonly twin: string;
  /** Refused subscriptions are kept under this (unreachable) filter, see screenSubscribe. */
  private readonly deniedPrefix: string;
  /** MQTT 5 session expiry interval, s (0: the session ends with the connection). */
  expiry = 0;
  /** The CONNECT until authentication has used it. */
  connect: ConnectPacket | null = null;
  /** MQTT 5: ids of refused QoS 1/2 publishes, acknowledged with 0x87. */
  refused: Set<number> | null = null;
  /** MQTT 5: topic count of each pending UNSUBSCRIBE (one reason code each in the UNSUBACK). */
  unsubscribes: Map<number, number> | null = null;
  /** The event-loop turn of the last write, and whether the connection is corked until its end (wire.ts). */
  turn = -1;
  corked = false;
  /** A successful CONNACK has been written: what the agent sends the device may follow it [MQTT-3.2.0-1]. */
  connacked = false;
  /** EdgeBroker.deliver(): message id -> settle, until the device's PUBACK. */
  acks: Map<number, (acked: boolean) => void> | null = null;

  /** Unique among this broker run's connections. */
  readonly connection = ++connections;

  constructor(
    readonly project: string,
    readonly device: string,
    /** MQTT 5 on the wire (aedes itself speaks 3.1.1; see wire.ts). */
    readonly v5: boolean,
    readonly access: Access,
  ) {
    this.key = `${project}/${device}`;
    this.prefix = `${project}/`;
    this.ns = `devices/${device}`;
    this.twin = `${this.ns}/twin/`;
    this.deniedPrefix = `${this.prefix}$denied/`;
  }

  identity(): DeviceIdentity | null {
    return this.access.directory.lookup(this.project, this.device);
  }

  /** A project-relative topic name this device may publish to. */
  mayPublish(id: DeviceIdentity, topic: string): boolean {
    if (topic.charCodeAt(0) === 36 /* $ */) return false;
    // Its namespace, but for what only the edge writes there (the twin's desired document, delta and answers).
    if (this.inNamespace(topic, 0)) return !topic.startsWith(this.twin) || isTwinRequest(topic.slice(this.twin.length));
    const grants = id.grants.publish;
    for (let i = 0; i < grants.length; i++) if (topicMatches(grants[i]!, topic)) return true;
    return false;
  }

  /** A project-relative filter this device may subscribe to: every topic it matches is allowed. */
  maySubscribe(id: DeviceIdentity, filter: string): boolean {
    return isValidFilter(filter) && (filterCovers(`${this.ns}/#`, filter) || id.grants.subscribe.some((g) => filterCovers(g, filter)));
  }

  /** Whether a mounted topic may be delivered to this device (its project, and allowed now). */
  mayReceive(id: DeviceIdentity, mounted: string): boolean {
    if (!mounted.startsWith(this.prefix)) return false;
    const from = this.prefix.length;
    if (this.inNamespace(mounted, from)) return true;
    const grants = id.grants.subscribe;
    for (let i = 0; i < grants.length; i++) if (topicMatches(grants[i]!, mounted, from)) return true;
    return false;
  }

  /**
   * Mounts every filter of a SUBSCRIBE before aedes sees it. This cannot wait
   * for authorizeSubscribe: aedes stores a persistent client's whole list as
   * soon as its first filter is authorised, so each filter must already be
   * final. A refused one becomes a distinct filter nothing can publish to
   * (a device never publishes `$` topics), granted QoS 0, answered 0x80/0x87.
   */
  screenSubscribe(subs: Subscription[]): void {
    const id = this.identity();
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i]!;
      if (id !== null && this.maySubscribe(id, sub.topic)) {
        sub.topic = this.prefix + sub.topic;
      } else {
        this.access.counters.deny('subscribe', this);
        sub.topic = this.deniedPrefix + i;
        sub.qos = 0;
      }
    }
  }

  isRefusedFilter(filter: string): boolean {
    return filter.startsWith(this.deniedPrefix);
  }

  /** aedes has no hook for UNSUBSCRIBE; its topics are mounted here before it looks them up. */
  mountUnsubscribe(packet: UnsubscribePacket): void {
    packet.unsubscriptions = packet.unsubscriptions.map((t) => this.prefix + t);
    if (this.v5) (this.unsubscribes ??= new Map()).set(packet.messageId!, packet.unsubscriptions.length);
  }

  refuse(messageId: number): void {
    (this.refused ??= new Set()).add(messageId);
  }

  /** The device acknowledged message `messageId`: settles a pending deliver(). */
  acked(messageId: number): void {
    const settle = this.acks?.get(messageId);
    if (settle === undefined) return;
    this.acks!.delete(messageId);
    settle(true);
  }

  /** The connection is gone: every pending deliver() fails. */
  closed(): void {
    const acks = this.acks;
    this.acks = null;
    if (acks) for (const settle of acks.values()) settle(false);
  }

  private inNamespace(topic: string, from: number): boolean {
    const end = from + this.ns.length;
    return topic.startsWith(this.ns, from) && (topic.length === end || topic.charCodeAt(end) === 47 /* / */);
  }
}
