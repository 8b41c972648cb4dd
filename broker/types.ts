import type { BrokerLimits } from './limits.ts';
import type { ServerTls } from './listeners.ts';
import type { Logger } from 'pino';
import type { RoamedMessage } from '../core/roaming-wire.ts';

/** The contract between the edge MQTT broker and the agent that runs it. */

export interface DeviceIdentity {
  project: string;
  device: string;
  grants: { publish: string[]; subscribe: string[] };
  /** It may connect at other sites' brokers too: its session is brought here when it connects (roaming.ts). */
  roaming?: boolean;
}

/** Supplied by the agent (from Device/DeviceCredential objects synced from the center); the broker only consumes it. */
export interface DeviceDirectory {
  /** Checks the secret (timing-safe sha256 compare) against the device's unexpired credentials; null if unknown/wrong/expired. */
  authenticate(project: string, device: string, secret: string): DeviceIdentity | null;
  /** Checks a client certificate the TLS handshake verified: on record for this device (serial, fingerprint), unexpired; null otherwise. */
  authenticateCertificate(project: string, device: string, serial: string, fingerprint: string): DeviceIdentity | null;
  /** Current identity (grants may change while connected); null once the device or all its credentials are gone. */
  lookup(project: string, device: string): DeviceIdentity | null;
}

export interface BrokerMessage {
  project: string;
  /** Project-relative: what the device published, without the project's mount. */
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** The publishing device; undefined for messages from EdgeBroker.publish. */
  device?: string;
  /** A device's QoS 1/2 publish: its packet id on the connection, and whether the device marked it as a resend (DUP). */
  packetId?: number;
  dup?: boolean;
  /** A device's publish: the connection it came on, unique within this broker run. */
  connection?: number;
  /** A rule's action published it (EdgeBroker.publish with an origin): see engine/Origin. */
  origin?: { rule: string; hops: number };
}

export interface DeviceRef {
  project: string;
  device: string;
}

export interface BrokerHooks {
  onConnect?(id: DeviceRef): void;
  onDisconnect?(id: DeviceRef): void;
  /**
   * Every accepted publish from a device (wills included) or from
   * EdgeBroker.publish, after authorisation and before it is acknowledged or
   * routed; topic is project-relative. Runs on the message path: keep the
   * synchronous part cheap. A promise holds the device's PUBACK/PUBREC (and
   * its connection's next packets) until it resolves, e.g. until the message
   * is on disk; a rejection closes the connection unacknowledged, so the
   * device sends it again.
   */
  onPublish?(msg: BrokerMessage): void | Promise<void>;
  /**
   * A roaming device authenticated and is about to get its CONNACK: bring
   * its session here (EdgeBroker.importSession) first. The CONNACK waits for
   * the promise, which must settle (the hook bounds its own wait) and never
   * reject. `clean`: the device starts a new session.
   */
  onRoam?(id: DeviceRef, o: { clean: boolean }): Promise<void>;
  /** A message for a device whose session left this broker (or one forwarded here for it, `hops` > 0, when it left again): for its session elsewhere. */
  onForward?(id: DeviceRef, msg: RoamedMessage, hops: number): void;
}

export interface EdgeBrokerSettings {
  /** MQTT over TCP in clear, "host:port" (port 0: any free port); off when undefined. */
  tcp?: string;
  /** MQTT over WebSocket (path /mqtt) in clear; off when undefined. */
  ws?: string;
  /** MQTTS (MQTT over TLS) with `certificate`; off when undefined. */
  tls?: string;
  /** MQTT over secure WebSocket (path /mqtt) with `certificate`; off when undefined. */
  wss?: string;
  /** What the TLS listeners serve (the node's certificate) and the CA device certificates chain to. */
  certificate?: ServerTls;
  directory: DeviceDirectory;
  hooks?: BrokerHooks;
  logger?: Logger;
  /** Packet size, CONNECT timeout and connection limits (limits.ts); each defaults to DEFAULT_LIMITS'. */
  limits?: Partial<BrokerLimits>;
  /** A listener stopped listening without being closed (the broker no longer serves all it should): its owner restarts it. */
  onFailure?: (err: Error) => void;
}

export interface PublishOptions {
  qos?: 0 | 1 | 2;
  retain?: boolean;
  /** The rule whose action publishes, and how many rules the message went through: rules are not fed their own output. */
  origin?: { rule: string; hops: number };
}

export type MessageHandler = (msg: BrokerMessage) => void;

export interface BrokerStats {
  /** Devices connected now. */
  connections: number;
  /** Publishes accepted from devices (wills included). */
  messagesIn: number;
  /** PUBLISH packets written to devices. */
  messagesOut: number;
  /** Refusals since start: connections (bad identity or secret), publishes and subscriptions (ACL). */
  denied: { auth: number; publish: number; subscribe: number };
  /** Connections closed at once because the broker (or their address) held its limit (--mqtt-max-connections[-per-address]). */
  refusedConnections: number;
  /** Refused publishes and subscriptions per device, since start (Device status.denied). */
  deniedByDevice: (DeviceRef & { denied: number })[];
}
