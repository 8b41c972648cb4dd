import type { Duplex } from 'node:stream';

/**
 * What one edge broker accepts, so that no device, and nobody on the
 * network before authenticating, can exhaust it: packet size, time to send
 * CONNECT, and connections in all and per remote address (TCP and WebSocket
 * together).
 */
export interface BrokerLimits {
  /** The largest MQTT packet (remaining length, bytes) a device may send; a larger one ends its connection. */
  maxPacketBytes: number;
  /** The largest packet before CONNACK: a CONNECT with its will message. */
  maxConnectBytes: number;
  /** A connection that has not sent CONNECT after this long is closed. */
  connectTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
}

export const DEFAULT_LIMITS: BrokerLimits = {
  maxPacketBytes: 256 * 1024,
  maxConnectBytes: 16 * 1024,
  connectTimeoutMs: 10_000,
  maxConnections: 10_000,
  maxConnectionsPerAddress: 1000,
};

/** The parts of aedes' client and mqtt-packet's parser the packet guard reaches into. */
interface GuardedClient {
  connackSent?: boolean;
  _parser: { packet: { length: number }; _parseLength(): boolean; _emitError(err: Error): void };
}

/**
 * Refuses a packet as soon as its fixed header declares a remaining length
 * over the limit [MQTT-2.1.4], before its body is buffered: mqtt-packet would
 * otherwise keep every byte until the declared length arrives.
 */
export function guardPacketSize(client: unknown, limits: Pick<BrokerLimits, 'maxPacketBytes' | 'maxConnectBytes'>): void {
  const c = client as GuardedClient;
  const parser = c._parser;
  const parseLength = parser._parseLength;
  parser._parseLength = function guardedLength(this: GuardedClient['_parser']): boolean {
    if (!parseLength.call(this)) return false;
    const limit = c.connackSent ? limits.maxPacketBytes : limits.maxConnectBytes;
    if (this.packet.length <= limit) return true;
    this._emitError(new PacketTooLargeError(`packet of ${this.packet.length} bytes over the limit of ${limit}${c.connackSent ? '' : ' before CONNACK'}`));
    return false;
  };
}

export class PacketTooLargeError extends Error {}

/** Counts open connections in all and per remote address; `admit` says whether one more may stay. */
export class ConnectionLimiter {
  private total = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(
    private readonly limits: Pick<BrokerLimits, 'maxConnections' | 'maxConnectionsPerAddress'>,
    private readonly onRefused: () => void = () => undefined,
  ) {}

  /** Counts `conn` (released when it closes) or returns false, leaving the caller to destroy it. */
  admit(conn: Duplex, address: string | undefined): boolean {
    const key = address ?? '?';
    const n = this.byAddress.get(key) ?? 0;
    if (this.total >= this.limits.maxConnections || n >= this.limits.maxConnectionsPerAddress) {
      this.onRefused();
      return false;
    }
    this.total++;
    this.byAddress.set(key, n + 1);
    let released = false;
    conn.once('close', () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.byAddress.get(key) ?? 1) - 1;
      if (left) this.byAddress.set(key, left);
      else this.byAddress.delete(key);
    });
    return true;
  }

  get open(): number {
    return this.total;
  }
}
