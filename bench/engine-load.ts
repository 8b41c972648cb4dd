// MQTT client load for bench/engine.ts, forked into processes of its own
// (loaders and a sink) so that no client shares a thread with another or
// with the coordinator; driven over IPC. MQTT.js connects, subscribes and
// paces; a blast writes pre-encoded packets (see blast()). Times that cross
// processes are epoch milliseconds with sub-millisecond precision
// (performance.timeOrigin + performance.now()); the processes are forked
// together, so their origins agree to microseconds.
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import type { Creds } from './broker-load.ts';

export type { Creds };
export type EngineLoadCommand =
  /** `count` loop-detector messages over the clients, QoS 0, as fast as the sockets take them. */
  | { op: 'blast'; url: string; creds: Creds[]; count: number; devices: number }
  /** Sums `n` over the JSON rows on `filter` until it reaches `expect`, or nothing came for `idleMs` (`firstMs` before the first row). */
  | { op: 'sum'; url: string; creds: Creds; filter: string; expect: number; idleMs: number; firstMs: number }
  /** Queue readings at `rate` msg/s for warmupMs + measureMs; every `redEvery`-th one has queue > 5 and ts = its send time. */
  | { op: 'pace'; url: string; creds: Creds; rate: number; warmupMs: number; measureMs: number; redEvery: number; devices: number }
  /** Latency sink: every message on `filter` gives (ts, now - ts). */
  | { op: 'listen'; url: string; creds: Creds; filter: string }
  /** Ends the listen once `expect` messages came, or `graceMs` from now. */
  | { op: 'stop'; expect: number; graceMs: number };
export type EngineLoadReply =
  | { op: 'ready' }
  | { op: 'blasted'; startAt: number; endAt: number }
  | { op: 'summed'; sum: number; rows: number; lastAt: number }
  | { op: 'paced'; from: number; until: number; sent: number; red: number; redMeasured: number }
  | { op: 'latencies'; ts: number[]; ms: number[] }
  | { op: 'error'; message: string };

/** Epoch milliseconds, sub-millisecond precision, comparable across processes. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

const deviceId = (i: number): string => `loop-${String(i).padStart(4, '0')}`;

/**
 * `count` loop-detector readings over `devices` ids, ~65 bytes of JSON each,
 * speeds uniform in 0..100 (so ~20% are under 20): topics and payloads.
 */
export function loopMessages(count: number, devices: number): { topics: string[]; payloads: Buffer[] } {
  const topics: string[] = [];
  const payloads: Buffer[] = [];
  const ts = Date.now();
  for (let i = 0; i < count; i++) {
    const d = Math.floor(Math.random() * devices);
    const speed = Math.round(Math.random() * 10_000) / 100;
    topics.push(`traffic/${deviceId(d)}/loop`);
    payloads.push(Buffer.from(JSON.stringify({ deviceId: deviceId(d), speed, lane: 1 + (d % 3), ts: ts + i })));
  }
  return { topics, payloads };
}

const send = (r: EngineLoadReply): void => void process.send!(r);

async function connect(url: string, c: Creds): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { ...c, reconnectPeriod: 0, clean: true, keepalive: 60 }, false);
  // MQTT.js has no option for it and Node 20's sockets default to Nagle on.
  if (client.stream instanceof net.Socket) client.stream.setNoDelay(true);
  return client;
}

const POOL = 1 << 14;
/** Messages per socket write in a blast. */
const CHUNK = 256;

/**
 * Each client writes pre-encoded PUBLISH packets straight to its socket, in
 * chunks, as fast as the socket drains: MQTT.js's publish() costs more CPU per
 * message than the broker and the rule together, and on a small machine the
 * loaders would measure themselves. MQTT.js still connects, pings and ends.
 */
async function blast(m: Extract<EngineLoadCommand, { op: 'blast' }>): Promise<void> {
  const clients = await Promise.all(m.creds.map((c) => connect(m.url, c)));
  const { topics, payloads } = loopMessages(POOL, m.devices);
  const packets = topics.map((t, i) => publishPacket(t, payloads[i]!));
  const chunks: Buffer[] = [];
  for (let i = 0; i < POOL; i += CHUNK) chunks.push(Buffer.concat(packets.slice(i, i + CHUNK)));
  const startAt = epochMs();
  const per = Math.ceil(m.count / clients.length);
  await Promise.all(clients.map((c, i) => pump(c.stream as net.Socket, Math.min(per, m.count - i * per), chunks, packets, i * 7)));
  const endAt = epochMs();
  await Promise.all(clients.map((c) => c.endAsync()));
  send({ op: 'blasted', startAt, endAt });
}

/** n messages, whole chunks from chunk `from` on, then the rest one by one; waits for 'drain' when the socket is full. */
async function pump(socket: net.Socket, n: number, chunks: Buffer[], packets: Buffer[], from: number): Promise<void> {
  const whole = Math.floor(n / CHUNK);
  for (let c = 0; c < whole; c++) {
    if (!socket.write(chunks[(from + c) % chunks.length]!)) await new Promise((r) => socket.once('drain', r));
  }
  const rest = n - whole * CHUNK;
  if (rest > 0) socket.write(Buffer.concat(packets.slice(0, rest)));
}

/** A QoS 0 PUBLISH (MQTT 3.1.1, 3.3): fixed header, remaining length, topic, payload. */
function publishPacket(topic: string, payload: Buffer): Buffer {
  const t = Buffer.from(topic);
  const remaining = 2 + t.length + payload.length;
  const len: number[] = [];
  for (let x = remaining; ; ) {
    const byte = x % 128;
    x = Math.floor(x / 128);
    len.push(x > 0 ? byte | 128 : byte);
    if (x === 0) break;
  }
  const head = Buffer.from([0x30, ...len, t.length >> 8, t.length & 255]);
  return Buffer.concat([head, t, payload]);
}

async function sum(m: Extract<EngineLoadCommand, { op: 'sum' }>): Promise<void> {
  const client = await connect(m.url, m.creds);
  await client.subscribeAsync(m.filter, { qos: 0 });
  let total = 0;
  let rows = 0;
  let lastAt = 0;
  const finish = () => {
    clearTimeout(idle);
    client.removeAllListeners('message');
    send({ op: 'summed', sum: total, rows, lastAt });
    void client.endAsync();
  };
  let idle = setTimeout(finish, m.firstMs);
  client.on('message', (_topic, payload) => {
    const n = (JSON.parse(payload.toString()) as { n?: unknown }).n;
    lastAt = epochMs();
    if (rows++ === 0) {
      clearTimeout(idle);
      idle = setTimeout(finish, m.idleMs);
    } else idle.refresh();
    if (typeof n === 'number') total += n;
    if (total >= m.expect) finish();
  });
  send({ op: 'ready' });
}

async function pace(m: Extract<EngineLoadCommand, { op: 'pace' }>): Promise<void> {
  const client = await connect(m.url, m.creds);
  const topics = Array.from({ length: m.devices }, (_, d) => `traffic/${deviceId(d)}/queue`);
  const t0 = performance.now();
  const from = performance.timeOrigin + t0 + m.warmupMs;
  const until = from + m.measureMs;
  const total = Math.round(((m.warmupMs + m.measureMs) * m.rate) / 1000);
  let sent = 0;
  let red = 0;
  let redMeasured = 0;
  await new Promise<void>((resolve) => {
    // Ticks of ~1 ms; each sends what is due by then, so the rate holds when a tick is late.
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * m.rate) / 1000));
      for (; sent < due; sent++) {
        const d = Math.floor(Math.random() * m.devices);
        const isRed = sent % m.redEvery === m.redEvery - 1;
        const ts = epochMs();
        const queue = isRed ? 6 + (sent % 4) : sent % 6;
        client.publish(topics[d]!, JSON.stringify({ deviceId: deviceId(d), queue, lane: 1 + (d % 3), ts }), { qos: 0 });
        if (isRed) {
          red++;
          if (ts >= from && ts < until) redMeasured++;
        }
      }
      if (sent >= total) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  await client.endAsync();
  send({ op: 'paced', from, until, sent, red, redMeasured });
}

let listening: { client: MqttClient; ts: number[]; ms: number[] } | undefined;

async function listen(m: Extract<EngineLoadCommand, { op: 'listen' }>): Promise<void> {
  const client = await connect(m.url, m.creds);
  const l = { client, ts: [] as number[], ms: [] as number[] };
  client.on('message', (_topic, payload) => {
    const now = epochMs();
    const ts = (JSON.parse(payload.toString()) as { ts?: unknown }).ts;
    if (typeof ts !== 'number') return;
    l.ts.push(ts);
    l.ms.push(now - ts);
  });
  await client.subscribeAsync(m.filter, { qos: 0 });
  listening = l;
  send({ op: 'ready' });
}

async function stop(m: Extract<EngineLoadCommand, { op: 'stop' }>): Promise<void> {
  const l = listening;
  if (!l) throw new Error('stop without a listen');
  listening = undefined;
  const end = Date.now() + m.graceMs;
  while (l.ts.length < m.expect && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  l.client.removeAllListeners('message');
  await l.client.endAsync();
  send({ op: 'latencies', ts: l.ts, ms: l.ms });
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain && process.send) {
  process.on('message', (m: EngineLoadCommand) => {
    const run = m.op === 'blast' ? blast(m) : m.op === 'sum' ? sum(m) : m.op === 'pace' ? pace(m) : m.op === 'listen' ? listen(m) : stop(m);
    run.catch((err: Error) => send({ op: 'error', message: err.message }));
  });
}
