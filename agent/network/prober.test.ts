import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { waitFor } from '../../core/index.ts';
import { LinkEmulator } from '../../sim/net/link-emulator.ts';
import { ProbeResponder } from './probe-responder.ts';
import { Prober, type PeerRtt } from './prober.ts';

const KEY = randomBytes(32);
const INTERVAL = 50;

/** A prober whose reports are kept; `latest(node)` is the last figure reported for that peer. */
function recordingProber(timeoutMs?: number) {
  const reports: PeerRtt[][] = [];
  const prober = new Prober({ onReport: (r) => reports.push(r), ...(timeoutMs ? { timeoutMs } : {}) });
  const latest = (node: string) => {
    for (let i = reports.length - 1; i >= 0; i--) {
      const hit = reports[i]!.find((p) => p.node === node);
      if (hit) return hit.rttMs;
    }
    return undefined;
  };
  return { prober, reports, latest };
}

async function responder(key: Buffer | null = KEY): Promise<ProbeResponder> {
  const r = await ProbeResponder.start({ host: '127.0.0.1', port: 0 });
  r.setKey(key);
  return r;
}

const peer = (node: string, port: number) => ({ node, site: 'elsewhere', host: '127.0.0.1', port });

test('measures the round trip through an emulated link, and follows a change of delay', async () => {
  const r = await responder();
  const link = await LinkEmulator.start({ upstreamPort: r.address.port, delayMs: 20 });
  const { prober, latest } = recordingProber();
  try {
    prober.update(KEY, INTERVAL, [peer('far', link.port)]);
    // The emulator delays each direction by 20 ms: about 40 ms per round trip.
    const first = await waitFor(() => latest('far'), 5000, 'a first measurement');
    assert.ok(first >= 39 && first < 120, `rtt ${first} ms`);
    link.setDelay(60);
    const later = await waitFor(() => ((latest('far') ?? 0) >= 119 ? latest('far') : undefined), 5000, 'the longer delay to show');
    assert.ok(later < 250, `rtt ${later} ms`);
    assert.equal(prober.peers.length, 1);
  } finally {
    prober.stop();
    await link.close();
    await r.close();
  }
});

test('a peer nobody answers for is reported as null, the others as usual', async () => {
  const r = await responder();
  const closedPort = await freePort();
  const { prober, reports, latest } = recordingProber(200);
  try {
    prober.update(KEY, INTERVAL, [peer('up', r.address.port), peer('gone', closedPort)]);
    await waitFor(() => latest('gone') === null, 5000, 'the unreachable peer reported as null');
    const last = reports.at(-1)!;
    assert.equal(typeof last.find((p) => p.node === 'up')?.rttMs, 'number');
  } finally {
    prober.stop();
    await r.close();
  }
});

test('probes into a blackhole time out and fail; the peer recovers after the link does', async () => {
  const r = await responder();
  const link = await LinkEmulator.start({ upstreamPort: r.address.port });
  const { prober, latest } = recordingProber(200);
  try {
    prober.update(KEY, INTERVAL, [peer('p', link.port)]);
    await waitFor(() => typeof latest('p') === 'number', 5000, 'a measurement');
    link.cut('blackhole');
    await waitFor(() => latest('p') === null, 5000, 'timed-out probes reported as null');
    link.restore();
    await waitFor(() => typeof latest('p') === 'number', 10_000, 'measurements again after the link returns');
  } finally {
    prober.stop();
    await link.close();
    await r.close();
  }
});

test('a responder that does not share the key counts as failed', async () => {
  const r = await responder(randomBytes(32));
  const { prober, latest } = recordingProber(200);
  try {
    prober.update(KEY, INTERVAL, [peer('stranger', r.address.port)]);
    await waitFor(() => latest('stranger') === null, 5000, 'null for a responder with another key');
    assert.equal(r.stats.answered, 0);
  } finally {
    prober.stop();
    await r.close();
  }
});

test('an update keeps unchanged peers, drops removed ones and adds new ones', async () => {
  const a = await responder();
  const b = await responder();
  const { prober, reports } = recordingProber();
  try {
    prober.update(KEY, INTERVAL, [peer('a', a.address.port)]);
    await waitFor(() => reports.some((rep) => rep.some((p) => p.node === 'a' && p.rttMs !== null)), 5000, 'a measured');
    prober.update(KEY, INTERVAL, [peer('b', b.address.port)]);
    assert.deepEqual(prober.peers, ['b']);
    const from = reports.length;
    await waitFor(() => reports.slice(from).some((rep) => rep.some((p) => p.node === 'b' && p.rttMs !== null)), 5000, 'b measured');
    assert.ok(reports.slice(from + 1).every((rep) => rep.every((p) => p.node !== 'a')), 'a no longer reported');
  } finally {
    prober.stop();
    await a.close();
    await b.close();
  }
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
