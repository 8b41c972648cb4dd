// A broker for bench/broker.ts, alone in its process so that it has a core
// to itself: `node --import tsx bench/broker-server.ts ours|aedes`. Prints
// {"port":N} once listening and runs until its stdin closes.
//  - ours: EdgeBroker with authentication, the ACL and all three hooks on,
//    its SQLite session store in a temporary directory (clean sessions, as
//    the load uses, never touch it on the message path).
//  - aedes: bare aedes 1.2, no hooks, its default in-memory persistence.
import { Aedes } from 'aedes';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgeBroker } from '../agent/broker/index.ts';
import { TestDirectory } from '../agent/broker/test-helpers.ts';

/** Devices of project `bench`; the secret of D is `secret-D`. */
export const BENCH_PROJECT = 'bench';
export const BENCH_DEVICES = ['pub-0', 'pub-1', 'pub-2', 'pub-3', 'sub', 'lat-pub', 'lat-sub'];
export const benchSecret = (device: string): string => `secret-${device}`;

async function startOurs(): Promise<{ port: number; close(): Promise<void> }> {
  const directory = new TestDirectory();
  for (const d of BENCH_DEVICES) directory.add(BENCH_PROJECT, d, benchSecret(d), { publish: ['load/#'], subscribe: ['load/#'] });
  const dataDir = mkdtempSync(join(tmpdir(), 'gedge-bench-broker-'));
  let published = 0;
  let connections = 0;
  const broker = await EdgeBroker.start({
    dataDir,
    directory,
    hooks: { onPublish: () => void published++, onConnect: () => void connections++, onDisconnect: () => void connections-- },
  });
  return {
    port: broker.ports.tcp,
    close: async () => {
      await broker.close();
      rmSync(dataDir, { recursive: true, force: true });
      console.error(`ours: ${published} messages through onPublish, ${connections} connections left`);
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
  if (kind !== 'ours' && kind !== 'aedes') {
    console.error('usage: broker-server.ts ours|aedes');
    process.exit(2);
  }
  const broker = kind === 'ours' ? await startOurs() : await startAedes();
  process.stdout.write(`${JSON.stringify({ port: broker.port })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => void broker.close().then(() => process.exit(0)));
}
