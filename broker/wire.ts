import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import { ALREADY_ACKED } from './sqlite-rows.ts';
import { SESSION, type AedesClient, type Session } from './session.ts';

/**
 * The outgoing half of the wire, between aedes and mqtt-packet's encoder.
 *
 * aedes writes every packet with `mqttPacket.writeToStream(packet, conn)`
 * (lib/write.js), looking the function up on the module at each call. We put
 * a wrapper there, because three things must happen per connection and aedes
 * offers no hook for any:
 *  - PUBLISH topics lose the project's mount (see session.ts), just before
 *    encoding: the packet's topic is swapped and put back around the call,
 *    so nothing is allocated but the sliced topic.
 *  - MQTT 5. aedes 1.2 speaks only 3.1.1 (it refuses protocol level 5), so
 *    the broker admits v5 clients as 3.1.1 inside aedes (gatekeeper.ts) and
 *    this layer encodes for them in v5 with the right reason codes: CONNACK
 *    (return code -> reason code, server capabilities), PUBACK/PUBREC 0x87
 *    for refused publishes, SUBACK 0x87 for refused filters, one UNSUBACK
 *    reason code per topic.
 *  - Writes coalesce per connection and event-loop turn (see coalesce()).
 * Callers that pass their own options (MQTT.js clients in the same process)
 * and streams that are not device connections go straight through.
 */

type Writer = (packet: OutPacket, stream: Writable, opts?: { protocolVersion: number }) => boolean;
export interface OutPacket {
  cmd: string;
  topic?: string;
  messageId?: number;
  returnCode?: number;
  sessionPresent?: boolean;
  granted?: number[];
}
export type DeviceStream = Writable & { client?: AedesClient };

const mqttPacket = createRequire(import.meta.resolve('aedes'))('mqtt-packet') as { writeToStream: Writer & { cacheNumbers: boolean } };
const encode: Writer = mqttPacket.writeToStream;
const V5 = { protocolVersion: 5 };

export const NOT_AUTHORIZED = 0x87;
/** MQTT 5 DISCONNECT reason for kick(). */
export const ADMINISTRATIVE_ACTION = 0x98;
/** 3.1.1 CONNACK return code -> MQTT 5 reason code [MQTT 5 3.2.2.2]. */
const CONNACK_REASON = [0x00, 0x84, 0x85, 0x88, 0x86, 0x87];
/** What a v5 client should know of us: no shared subscriptions, no subscription identifiers (no topic aliases: absent means 0). */
const SERVER_PROPERTIES = { sharedSubscriptionAvailable: false, subscriptionIdentifiersAvailable: false };

/** What aedes' writeToStream calls become: every packet to a device goes through here. */
export function write(packet: OutPacket, stream: DeviceStream, opts?: { protocolVersion: number }): boolean {
  if (opts !== undefined) return encode(packet, stream, opts);
  const s = stream.client?.[SESSION];
  if (s === undefined) return encode(packet, stream);
  if (!s.corked) coalesce(s, stream, packet.cmd === 'puback');
  if (packet.cmd === 'connack' && (packet.returnCode ?? 0) === 0) s.connacked = true;
  if (packet.cmd === 'publish') return (packet as { [ALREADY_ACKED]?: true })[ALREADY_ACKED] === true || writePublish(s, packet, stream);
  return s.v5 ? writeV5(s, packet, stream) : encode(packet, stream);
}

/**
 * mqtt-packet uncorks on the next tick, so every packet would be a write(2)
 * of its own. From the second packet a connection gets within one
 * event-loop turn on, it stays corked until the loop comes round again, so a
 * busy connection gets one writev per turn; a lone packet (low load) still
 * leaves at once. A PUBACK always waits for the end of the turn: the message
 * it acknowledges was routed first (gatekeeper.ts, routeFirst), and its
 * deliveries leave on the next tick after the persistence's promises, which
 * a PUBACK leaving on that tick would precede (a TLS write costs ~30 us).
 */
function coalesce(s: Session, stream: DeviceStream, hold: boolean): void {
  const now = currentTurn();
  if (s.turn !== now && !hold) {
    s.turn = now;
    return;
  }
  s.turn = now;
  s.corked = true;
  stream.cork();
  setImmediate(uncork, s, stream);
}

function uncork(s: Session, stream: DeviceStream): void {
  s.corked = false;
  stream.uncork();
}

/** Event-loop turns, counted from the first write of each (one setImmediate per turn, not per connection). */
let turn = 0;
let turnEnds = false;
function currentTurn(): number {
  if (!turnEnds) {
    turnEnds = true;
    setImmediate(endTurn);
  }
  return turn;
}
function endTurn(): void {
  turn++;
  turnEnds = false;
}

function writePublish(s: Session, packet: OutPacket, stream: DeviceStream): boolean {
  const mounted = packet.topic!;
  // authorizeForward let only the device's own project through; never leak another's.
  if (!mounted.startsWith(s.prefix)) return true;
  packet.topic = mounted.slice(s.prefix.length);
  const ok = encode(packet, stream, s.v5 ? V5 : undefined);
  packet.topic = mounted;
  s.access.counters.messagesOut++;
  return ok;
}

function writeV5(s: Session, packet: OutPacket, stream: DeviceStream): boolean {
  switch (packet.cmd) {
    case 'connack': {
      const rc = packet.returnCode ?? 0;
      const reasonCode = CONNACK_REASON[rc] ?? 0x80;
      return encode({ cmd: 'connack', sessionPresent: packet.sessionPresent, reasonCode, properties: rc === 0 ? SERVER_PROPERTIES : undefined } as OutPacket, stream, V5);
    }
    case 'puback':
    case 'pubrec':
      if (s.refused?.delete(packet.messageId!)) {
        // A v5 client sends no PUBREL after a failed PUBREC: forget the message aedes holds for it.
        if (packet.cmd === 'pubrec') releaseInbound(stream.client!, packet.messageId!);
        return encode({ cmd: packet.cmd, messageId: packet.messageId, reasonCode: NOT_AUTHORIZED } as OutPacket, stream, V5);
      }
      break;
    case 'suback':
      return encode({ ...packet, granted: packet.granted!.map((g) => (g === 0x80 ? NOT_AUTHORIZED : g)) }, stream, V5);
    case 'unsuback': {
      const count = s.unsubscribes?.get(packet.messageId!) ?? 1;
      s.unsubscribes?.delete(packet.messageId!);
      return encode({ ...packet, granted: new Array<number>(count).fill(0) }, stream, V5);
    }
  }
  return encode(packet, stream, V5);
}

function releaseInbound(client: AedesClient, messageId: number): void {
  client._inboundInflight.delete(messageId);
  client.broker.persistence.incomingDelPacket(client, { messageId }).catch(() => undefined);
}

/** Puts the wrapper in place (once per process; every aedes in it shares mqtt-packet). */
export function installWire(): void {
  if (mqttPacket.writeToStream === (write as unknown)) return;
  const original = encode as Writer & { cacheNumbers: boolean };
  // MQTT.js may switch mqtt-packet's number cache through this property.
  Object.defineProperty(write, 'cacheNumbers', { get: () => original.cacheNumbers, set: (v: boolean) => (original.cacheNumbers = v) });
  mqttPacket.writeToStream = write as Writer & { cacheNumbers: boolean };
}

/** A PUBLISH straight to a connected device: QoS 1 under a message id from aedes' own sequence (returned), or QoS 0 (0 returned). */
export function writeDirect(client: AedesClient, mountedTopic: string, payload: Buffer, qos: 0 | 1 = 1): number {
  if (qos === 0) {
    write({ cmd: 'publish', topic: mountedTopic, payload, qos: 0, retain: false, dup: false } as OutPacket, client.conn as DeviceStream);
    return 0;
  }
  const messageId = client._nextId;
  client._nextId = messageId >= 65535 ? 1 : messageId + 1;
  write({ cmd: 'publish', topic: mountedTopic, payload, qos: 1, retain: false, dup: false, messageId } as OutPacket, client.conn as DeviceStream);
  return messageId;
}

/** Ends a device's connection; an MQTT 5 device is told why first. */
export function disconnect(client: AedesClient, reasonCode: number): void {
  if (client[SESSION]?.v5 && !client.closed) write({ cmd: 'disconnect', reasonCode } as OutPacket, client.conn as DeviceStream);
  // After the corked DISCONNECT is flushed (writeToStream uncorks on the next tick).
  setImmediate(() => client.close());
}
