import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo } from 'node:net';
import { platform, tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { usageSchema } from '../core/index.ts';
import { UsageSampler, parseNetDev } from './usage.ts';

const linux = platform() === 'linux';
const PAYLOAD = 2 * 1024 * 1024;

test('parseNetDev reads the byte counters of every interface, loopback included', () => {
  const text = [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo: 1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0',
    '  eth0:12345678 9000    0    0    0     0          0         0  87654321    8000    0    0    0     0       0          0',
  ].join('\n');
  assert.deepEqual([...parseNetDev(text)], [
    ['lo', { rx: 1000, tx: 1000 }],
    ['eth0', { rx: 12345678, tx: 87654321 }],
  ]);
});

/** Sends `bytes` over 127.0.0.1 and resolves when the server has them all. */
async function loopbackTraffic(bytes: number): Promise<void> {
  let received = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const server = createServer((s) => s.on('data', (d: Buffer) => (received += d.length) >= bytes && done()));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  client.end(Buffer.alloc(bytes, 1));
  await all;
  client.destroy();
  server.close();
}

test('network rates cover the loopback traffic since construction', { skip: !linux }, async () => {
  const start = performance.now();
  const sampler = new UsageSampler(tmpdir());
  await loopbackTraffic(PAYLOAD);
  const usage = usageSchema.parse(await sampler.sample());
  const seconds = (performance.now() - start) / 1000;
  // The sampler's interval lies within ours, so rate × our interval bounds the bytes it saw from below.
  assert.ok(usage.netRxBps !== undefined && usage.netRxBps * seconds >= PAYLOAD * 0.95, `rx ${usage.netRxBps} B/s over ${seconds} s`);
  assert.ok(usage.netTxBps !== undefined && usage.netTxBps * seconds >= PAYLOAD * 0.95, `tx ${usage.netTxBps} B/s over ${seconds} s`);
  assert.ok(usage.memoryMiB > 0);
});
