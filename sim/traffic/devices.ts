import net from 'node:net';
import tls from 'node:tls';
import { MqttClient, type IPublishPacket } from 'mqtt';
import { ConnectTimeoutError, ProvisionError } from '../errors.ts';
import type { SimDeviceIdentity } from './provision.ts';
import type { TrafficCounters } from './stats.ts';

/**
 * A simulated device: a real MQTT client on its site's edge broker, signed in
 * with client id `<project>/<device>` and its credential (docs/broker.md).
 *
 * Over MQTTS when the broker serves it, verifying the edge's certificate
 * against the center's CA (`ca`), as a real device would.
 *
 * MQTT.js opens its sockets without TCP_NODELAY, so Nagle's algorithm
 * would hold small publishes back for up to an ACK delay (tens of ms), which
 * is exactly the latency the scenario measures; the stream builder below
 * opens the socket with `noDelay` instead.
 */
export class SimDevice {
  readonly client: MqttClient;
  /** The last connection problem (refused, unreachable), for a timeout's message. */
  lastError: string | undefined;

  constructor(
    readonly id: SimDeviceIdentity,
    private readonly counters: TrafficCounters,
    ca?: string,
  ) {
    const { host, port } = id.broker;
    if (id.broker.tls && !ca) throw new ProvisionError(`device ${id.name}: its broker speaks MQTTS, and no CA was given to verify it`);
    const open = id.broker.tls ? () => tls.connect({ host, port, ca }).setNoDelay(true) : () => net.createConnection({ host, port, noDelay: true });
    this.client = new MqttClient(open, {
      clientId: id.clientId,
      username: id.clientId,
      password: id.password,
      protocolVersion: 5,
      clean: true,
      keepalive: 30,
      connectTimeout: 10_000,
      reconnectPeriod: 1000,
      // The credential may not have reached the edge yet: a refusal is retried like a lost connection.
      reconnectOnConnackError: true,
      // Sensor data of a disconnected device is dropped (and counted), not queued.
      queueQoSZero: false,
    });
    this.client.on('error', (e) => {
      this.lastError = e.message;
    });
    this.client.on('connect', () => {
      this.lastError = undefined;
    });
  }

  get name(): string {
    return this.id.name;
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Publishes and counts it; when not connected, counts it as dropped instead. */
  publish(topic: string, payload: string, qos: 0 | 1 = 0): boolean {
    if (!this.client.connected) {
      this.counters.dropped++;
      return false;
    }
    this.client.publish(topic, payload, { qos }, () => undefined);
    this.counters.recordSent(Buffer.byteLength(topic) + Buffer.byteLength(payload), Date.now());
    return true;
  }

  /** Subscribes (QoS 1); a refused filter fails with the grant to check. MQTT.js subscribes again after each reconnection. */
  async subscribe(filters: string[]): Promise<void> {
    const granted = await this.client.subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos: 1 as const }])));
    const refused = granted.filter((g) => g.qos >= 0x80).map((g) => g.topic);
    if (refused.length) throw new ProvisionError(`device ${this.name}: the broker refused the subscription to ${refused.join(', ')} (check the device's grants.subscribe)`);
  }

  onMessage(handler: (topic: string, payload: Buffer, packet: IPublishPacket) => void): void {
    this.client.on('message', handler);
  }

  /**
   * Disconnects cleanly: waits (at most `graceMs`) for QoS 1 publishes in
   * flight, then sends DISCONNECT. A device that is not connected just stops
   * reconnecting.
   */
  async close(graceMs = 2000): Promise<void> {
    const c = this.client;
    if (c.disconnecting || c.disconnected) return;
    if (c.connected && Object.keys(c.outgoing).length > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
        c.once('outgoingEmpty', resolve);
      });
      clearTimeout(timer);
    }
    // Still not acknowledged after the grace period: give up on them.
    await c.endAsync(!c.connected || Object.keys(c.outgoing).length > 0);
  }
}

/**
 * Opens the devices' connections, `concurrency` at a time, and waits until
 * every one is connected; closes them all and fails, naming those that did
 * not connect, after `timeoutMs`.
 */
export async function connectAll(devices: SimDevice[], o: { concurrency: number; timeoutMs: number; signal?: AbortSignal }): Promise<void> {
  const deadline = Date.now() + o.timeoutMs;
  try {
    for (let k = 0; k < devices.length; k += o.concurrency) {
      await Promise.all(devices.slice(k, k + o.concurrency).map((d) => whenConnected(d, deadline, o.signal)));
    }
  } catch (e) {
    await Promise.all(devices.map((d) => d.close(0)));
    throw e;
  }
}

function whenConnected(d: SimDevice, deadline: number, signal?: AbortSignal): Promise<void> {
  if (d.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer);
      d.client.off('connect', onConnect);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onConnect = (): void => done();
    const onAbort = (): void => done(new ConnectTimeoutError('stopped while devices were connecting'));
    const timer = setTimeout(() => {
      const broker = `${d.id.broker.host}:${d.id.broker.port} (node ${d.id.broker.node})`;
      done(new ConnectTimeoutError(`device ${d.name} did not connect to ${broker} in time${d.lastError ? `: ${d.lastError}` : ''}`, { details: [{ path: d.name, message: d.lastError ?? 'no answer from the broker' }] }));
    }, Math.max(0, deadline - Date.now()));
    d.client.on('connect', onConnect);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
