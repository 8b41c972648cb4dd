import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { waitFor } from '../core/wait-for.ts';
import { EdgeBroker } from './edge-broker.ts';
import type { BrokerMessage, DeviceDirectory, DeviceIdentity, DeviceRef, EdgeBrokerSettings } from './types.ts';

/** Test helpers: a real DeviceDirectory over sha256 hashes (as the agent keeps them), brokers on free ports, MQTT.js devices. */

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();
type Grants = Partial<DeviceIdentity['grants']>;

/** Project -> device -> identity and credential hashes: lookups allocate nothing, as they run for every message. */
export class TestDirectory implements DeviceDirectory {
  private readonly projects = new Map<string, Map<string, { identity: DeviceIdentity; hashes: Buffer[] }>>();

  add(project: string, device: string, secret: string, grants: Grants = {}): this {
    const identity = { project, device, grants: { publish: grants.publish ?? [], subscribe: grants.subscribe ?? [] } };
    let devices = this.projects.get(project);
    if (!devices) this.projects.set(project, (devices = new Map()));
    devices.set(device, { identity, hashes: [sha256(secret)] });
    return this;
  }

  /** The device roams: it may connect at other brokers, and the broker asks for its session (onRoam) when it does. */
  roam(project: string, device: string): this {
    const d = this.projects.get(project)!.get(device)!;
    d.identity = { ...d.identity, roaming: true };
    return this;
  }

  setGrants(project: string, device: string, grants: Grants): void {
    const d = this.projects.get(project)!.get(device)!;
    d.identity = { ...d.identity, grants: { publish: grants.publish ?? [], subscribe: grants.subscribe ?? [] } };
  }

  remove(project: string, device: string): void {
    this.projects.get(project)?.delete(device);
  }

  authenticate(project: string, device: string, secret: string): DeviceIdentity | null {
    const d = this.projects.get(project)?.get(device);
    const h = sha256(secret);
    return d && d.hashes.some((k) => timingSafeEqual(k, h)) ? d.identity : null;
  }

  /** Broker tests sign devices in with secrets; certificates are the agent's directory's (agent/devices/edge-objects.ts). */
  authenticateCertificate(): DeviceIdentity | null {
    return null;
  }

  lookup(project: string, device: string): DeviceIdentity | null {
    return this.projects.get(project)?.get(device)?.identity ?? null;
  }
}

/** What the hooks saw. */
export interface Seen {
  published: BrokerMessage[];
  connects: DeviceRef[];
  disconnects: DeviceRef[];
}

export interface TestBroker {
  broker: EdgeBroker;
  seen: Seen;
  dataDir: string;
  url: string;
  /** A broker on the same data dir, after closing this one. */
  restart(): Promise<TestBroker>;
  close(): Promise<void>;
}

export async function startBroker(directory: DeviceDirectory, o: Partial<EdgeBrokerSettings> & { dataDir?: string } = {}): Promise<TestBroker> {
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'gedge-broker-'));
  const seen: Seen = { published: [], connects: [], disconnects: [] };
  const broker = await EdgeBroker.start({
    tcp: '127.0.0.1:0',
    ...o,
    dataDir,
    directory,
    hooks: {
      // Recorded, then handed to the test's own hook (whose answer the broker waits on).
      onPublish: (m) => {
        seen.published.push(m);
        return o.hooks?.onPublish?.(m);
      },
      onConnect: (d) => {
        seen.connects.push(d);
        o.hooks?.onConnect?.(d);
      },
      onDisconnect: (d) => seen.disconnects.push(d),
      onRoam: o.hooks?.onRoam,
      onForward: o.hooks?.onForward,
    },
  });
  return {
    broker,
    seen,
    dataDir,
    url: `mqtt://127.0.0.1:${broker.ports.tcp}`,
    restart: async () => {
      await broker.close();
      return startBroker(directory, { ...o, dataDir });
    },
    close: async () => {
      await broker.close();
      if (!o.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs `fn` with a broker on a fresh data dir, closed (and removed) afterwards whatever happens. */
export async function withBroker(directory: DeviceDirectory, o: Partial<EdgeBrokerSettings>, fn: (b: TestBroker) => Promise<void>): Promise<void> {
  const b = await startBroker(directory, o);
  try {
    await fn(b);
  } finally {
    await b.close();
  }
}

/** A device: MQTT.js, no reconnects, resolves at CONNACK (rejects on refusal). The username is the client id (3.1.1 sends no password without one). */
export function device(url: string, clientId: string, secret: string | undefined, o: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId, username: clientId, password: secret, reconnectPeriod: 0, connectTimeout: 5000, ...o }, false);
}

export interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

/** Everything the client receives, in order. */
export function inbox(client: MqttClient): Received[] {
  const got: Received[] = [];
  client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }));
  return got;
}

export const until = (probe: () => unknown, what: string, timeoutMs = 5000) => waitFor(probe, timeoutMs, what, 10);

/** Resolves once the client's connection is gone. */
export function gone(client: MqttClient): Promise<void> {
  return new Promise((resolve) => (client.connected ? client.once('close', () => resolve()) : resolve()));
}
