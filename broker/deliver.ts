import { createRequire } from 'node:module';
import type { AedesClient, RoutedPacket } from './session.ts';
import { write, type DeviceStream, type OutPacket } from './wire.ts';

/**
 * Delivery to a clean-session device in the turn its message is routed.
 *
 * aedes (1.2, lib/client.js deliver0/deliverQoS) writes each delivery from a
 * setImmediate of its own, "to clear stacks": a message waits for the rest
 * of the event loop's poll phase (other sockets' packets, the publisher's
 * PUBACK) before it is even encoded, which is most of the broker's share of
 * the round trip at low load and of its tail. The stack needs no clearing
 * here: the write calls back a turn later (aedes' lib/write.js, kept below),
 * so mqemitter never recurses through a delivery, and our emitter bounds its
 * own synchronous chains (emitter.ts).
 *
 * Everything else is aedes' own: the no-local rule, duplicate suppression,
 * authorizeForward, the QoS downgrade to the subscription's, message ids from
 * the client's sequence. Persistent sessions keep aedes' functions: their
 * QoS 1/2 deliveries go through the session store first.
 */

type Packet = RoutedPacket & { nl?: boolean };
type Done = () => void;
type Deliver = (packet: Packet, cb: Done) => void;
interface DeliveringClient extends AedesClient {
  deliver0: Deliver;
  deliverQoS: Deliver;
  duplicates: Record<string, number>;
  subscriptions: Record<string, { qos: number } | undefined>;
  connecting: boolean;
  connected: boolean;
  errored: boolean;
  _onError(err: Error | null | undefined): void;
  waitForDrain(cb: (err: Error | null) => void): void;
  emit(event: 'error', err: Error): boolean;
  broker: AedesClient['broker'] & { authorizeForward(client: AedesClient, packet: Packet): Packet | null | undefined };
}

const AedesPacket = createRequire(import.meta.resolve('aedes'))('aedes-packet') as new (original: Packet, broker: unknown) => Packet;

/** Puts the clean-session delivery in place of aedes' on a new client (before any subscription takes its functions). */
export function deliverInTurn(client: AedesClient): void {
  const c = client as DeliveringClient;
  const aedes0 = c.deliver0;
  const aedesQoS = c.deliverQoS;
  c.deliver0 = (packet, cb) => (c.clean ? deliver(c, packet, 0, cb) : aedes0(packet, cb));
  c.deliverQoS = (packet, cb) => (c.clean ? deliver(c, packet, packet.qos, cb) : aedesQoS(packet, cb));
}

function deliver(c: DeliveringClient, original: Packet, qos: number, cb: Done): void {
  const forward = toForward(c, original);
  if (!forward) return void setImmediate(cb);
  const packet = new AedesPacket(forward, c.broker);
  if (qos === 0) {
    packet.qos = 0;
    return send(c, packet, (err) => {
      c._onError(err);
      cb(); // never an error: mqemitter would throw it
    });
  }
  // The subscription's QoS may be lower than the message's [MQTT-3.8.4-6].
  const sub = c.subscriptions[packet.topic];
  if (sub && (sub.qos || 0) < packet.qos) packet.qos = sub.qos as 0 | 1 | 2;
  if (forward.messageId) packet.messageId = forward.messageId;
  else {
    packet.messageId = c._nextId;
    c._nextId = c._nextId >= 65535 ? 1 : c._nextId + 1;
  }
  send(c, packet, (err) => {
    if (err) c.emit('error', err);
    cb();
  });
}

/** aedes' getToForwardPacket: no-local [MQTT 5 3.8.3.1], one copy per broker message, then the ACL. */
function toForward(c: DeliveringClient, packet: Packet): Packet | null | undefined {
  if (packet.clientId === c.id && packet.nl) return undefined;
  const from = packet.brokerId;
  if (from) {
    const counter = packet.brokerCounter;
    if ((c.duplicates[from] || 0) >= counter) return undefined;
    c.duplicates[from] = counter;
  }
  return c.broker.authorizeForward(c, packet);
}

/** aedes' lib/write.js: calls back a turn later, or once the socket drains. */
function send(c: DeliveringClient, packet: Packet, done: (err: Error | null) => void): void {
  let error: Error | null = null;
  if (c.connecting || c.connected) {
    try {
      if (!write(packet as OutPacket, c.conn as DeviceStream) && !c.errored) return c.waitForDrain(done);
    } catch {
      error = new Error('packet received not valid');
    }
  } else {
    error = new Error('connection closed');
  }
  setImmediate(done, error);
}
