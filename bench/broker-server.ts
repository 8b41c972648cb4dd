// A broker for bench/broker.ts, alone in its process so that it has a core
// to itself: `node --import tsx bench/broker-server.ts ours|ours-uplink|ours-tls|aedes`.
// Prints {"port":N} once listening and runs until its stdin closes.
//  - ours: EdgeBroker with authentication, the ACL and all three hooks on
//    (counting), its SQLite session store in a temporary directory (clean
//    sessions, as the load uses, never touch it on the message path).
//  - ours-uplink: the same with the agent's own onPublish hook and a Route
//    over load/#: every message is appended to the durable uplink queue
//    (fsync batch), and a QoS 1 message is acknowledged and routed once it
//    is on disk. Nothing drains the queue (no center here).
//  - ours-tls: ours over MQTTS only, with a certificate from a gedge CA.
//  - aedes: bare aedes 1.2, no hooks, its default in-memory persistence.
import { Aedes } from 'aedes';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Route } from '../core/index.ts';
import { EdgeBroker } from '../broker/index.ts';
import { UplinkRouter } from '../agent/devices/uplink-router.ts';
import { UplinkQueue } from '../agent/uplink/index.ts';
import { TestDirectory } from '../broker/test-helpers.ts';

/** Devices of project `bench`; the secret of D is `secret-D`. */
export const BENCH_PROJECT = 'bench';
export const BENCH_DEVICES = ['pub-0', 'pub-1', 'pub-2', 'pub-3', 'sub', 'lat-pub', 'lat-sub'];
export const benchSecret = (device: string): string => `secret-${device}`;

/** ours-tls: the TLS material in the environment (GEDGE_BENCH_TLS, JSON {ca, cert, key}), as the agent gives its node certificate. */
async function startOurs(uplink: boolean, tls?: { ca: string; cert: string; key: string }): Promise<{ port: number; close(): Promise<void> }> {
  const directory = new TestDirectory();
  for (const d of BENCH_DEVICES) directory.add(BENCH_PROJECT, d, benchSecret(d), { publish: ['load/#'], subscribe: ['load/#'] });
  const dataDir = mkdtempSync(join(tmpdir(), 'gedge-bench-broker-'));
  const queue = uplink ? UplinkQueue.open(dataDir, { maxMessages: 100_000_000, maxBytes: 64 * 1024 ** 3 }) : undefined;
  const router = queue ? new UplinkRouter(queue, pino({ level: 'silent' })) : undefined;
  router?.setRoutes([{ apiVersion: 'gedge.io/v1', kind: 'Route', metadata: { name: 'load', project: BENCH_PROJECT }, spec: { topic: 'load/#', sink: { type: 'table' } } } as Route]);
  let published = 0;
  let connections = 0;
  const broker = await EdgeBroker.start({
    ...(tls ? { tls: '127.0.0.1:0', certificate: tls } : { tcp: '127.0.0.1:0' }),
    dataDir,
    directory,
    hooks: {
      onPublish: router ? (m) => router.route(m) : () => void published++,
      onConnect: () => void connections++,
      onDisconnect: () => void connections--,
    },
  });
  return {
    port: (tls ? broker.ports.tls : broker.ports.tcp)!,
    close: async () => {
      await broker.close();
      if (queue) published = queue.stats().enqueued;
      queue?.close();
      rmSync(dataDir, { recursive: true, force: true });
      console.error(`ours${uplink ? '-uplink' : ''}: ${published} messages through onPublish, ${connections} connections left`);
    },
  };
}

async function startAedes(): Promise<{ port: number; close(): Promise<void> }> {
  const aedes = await Aedes.createBroker();
  const server = net.createServer({ noDelay: true }, (socket) => aedes.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => aedes.close(() => server.close(() => resolve()))),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const kind = process.argv[2];
  if (kind !== 'ours' && kind !== 'ours-uplink' && kind !== 'ours-tls' && kind !== 'aedes') {
    console.error('usage: broker-server.ts ours|ours-uplink|ours-tls|aedes');
    process.exit(2);
  }
  const tls = kind === 'ours-tls' ? (JSON.parse(process.env.GEDGE_BENCH_TLS ?? '{}') as { ca: string; cert: string; key: string }) : undefined;
  const broker = kind === 'aedes' ? await startAedes() : await startOurs(kind === 'ours-uplink', tls);
  process.stdout.write(`${JSON.stringify({ port: broker.port })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => void broker.close().then(() => process.exit(0)));
}
