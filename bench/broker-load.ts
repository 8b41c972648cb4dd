// MQTT.js client load for bench/broker.ts, forked into its own process (one
// for the subscriber, one for the publishers) so that the clients neither
// share a thread with each other nor with the coordinator. Driven over IPC.
import mqtt, { type MqttClient } from 'mqtt';

export interface Creds {
  clientId: string;
  username?: string;
  password?: string;
  /** mqtts://: the CA (PEM) that signed the broker's certificate. */
  ca?: string;
}
export type LoadCommand =
  | { op: 'subscribe'; url: string; creds: Creds; filter: string; qos: 0 | 1; expect: number }
  | { op: 'publish'; url: string; creds: Creds[]; topic: string; count: number; qos: 0 | 1; window: number; size: number }
  | { op: 'latency'; url: string; pub: Creds; sub: Creds; topic: string; qos: 0 | 1; samples: number; warmup: number; size: number };
export type LoadReply =
  | { op: 'ready' }
  | { op: 'received'; count: number; firstMs: number; lastMs: number }
  | { op: 'published'; ms: number }
  | { op: 'latency'; us: number[] }
  | { op: 'error'; message: string };

/** A subscriber gives up this long after its last message (a peer that dropped some). */
const IDLE_MS = 3000;

const send = (r: LoadReply): void => void process.send!(r);

async function connect(url: string, c: Creds): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { ...c, reconnectPeriod: 0, clean: true, keepalive: 60 }, false);
  // MQTT.js leaves Nagle on; every broker's clients get TCP_NODELAY alike.
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  return client;
}

async function subscribe(m: Extract<LoadCommand, { op: 'subscribe' }>): Promise<void> {
  const client = await connect(m.url, m.creds);
  await client.subscribeAsync(m.filter, { qos: m.qos });
  let count = 0;
  let firstMs = 0;
  let lastMs = 0;
  const finish = () => {
    clearTimeout(idle);
    client.removeAllListeners('message');
    client.end(true);
    send({ op: 'received', count, firstMs, lastMs });
  };
  const idle = setTimeout(finish, IDLE_MS);
  client.on('message', () => {
    lastMs = performance.now();
    if (count++ === 0) firstMs = lastMs;
    if (count === m.expect) return finish();
    if (count % 1000 === 0) idle.refresh();
  });
  send({ op: 'ready' });
}

/** `count` messages spread over the publishers, each keeping at most `window` unacknowledged (QoS 1) or unwritten (QoS 0). */
async function publish(m: Extract<LoadCommand, { op: 'publish' }>): Promise<void> {
  const clients = await Promise.all(m.creds.map((c) => connect(m.url, c)));
  const payload = Buffer.alloc(m.size, 120);
  const t0 = performance.now();
  await Promise.all(clients.map((c, i) => blast(c, `${m.topic}/${i}`, Math.ceil(m.count / clients.length), m.qos, m.window, payload)));
  send({ op: 'published', ms: performance.now() - t0 });
  await Promise.all(clients.map((c) => c.endAsync()));
}

function blast(client: MqttClient, topic: string, n: number, qos: 0 | 1, window: number, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let done = 0;
    const onDone = (err?: Error) => {
      if (err) return reject(err);
      if (++done === n) return resolve();
      pump();
    };
    const pump = () => {
      while (sent - done < window && sent < n) {
        sent++;
        client.publish(topic, payload, { qos }, onDone);
      }
    };
    pump();
  });
}

/** One message at a time, publisher and subscriber in this process: publish-to-deliver round trips, us. */
async function latency(m: Extract<LoadCommand, { op: 'latency' }>): Promise<void> {
  const [pub, sub] = await Promise.all([connect(m.url, m.pub), connect(m.url, m.sub)]);
  await sub.subscribeAsync(m.topic, { qos: m.qos });
  const payload = Buffer.alloc(m.size, 120);
  const us: number[] = [];
  let arrived: () => void = () => undefined;
  sub.on('message', () => arrived());
  for (let i = 0; i < m.warmup + m.samples; i++) {
    const got = new Promise<void>((resolve) => (arrived = resolve));
    const t0 = process.hrtime.bigint();
    pub.publish(m.topic, payload, { qos: m.qos });
    await got;
    if (i >= m.warmup) us.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  send({ op: 'latency', us });
  await Promise.all([pub.endAsync(), sub.endAsync()]);
}

process.on('message', (m: LoadCommand) => {
  const run = m.op === 'subscribe' ? subscribe(m) : m.op === 'publish' ? publish(m) : latency(m);
  run.catch((err: Error) => send({ op: 'error', message: err.message }));
});
