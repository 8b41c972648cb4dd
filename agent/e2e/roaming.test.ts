import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type IConnackPacket, type MqttClient } from 'mqtt';
import type { Device } from '../../core/index.ts';
import { startPlatform, waitFor, type Platform } from '../../testkit/index.ts';

const MOVES = 50;

const manifest = (docs: object[]) => docs.map((d) => JSON.stringify(d)).join('\n---\n');
const device = (name: string, site: string, spec: object = {}) => ({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name }, spec: { site, ...spec } });

/**
 * MQTT 5, no retries; resolves at CONNACK with it (sessionPresent), rejects on a refusal. `onMessage` is
 * attached before the CONNACK: queued messages may come in the same read, before the promise resolves.
 */
function connect(port: number, clientId: string, password: string, o: { clean: boolean; onMessage?: (topic: string, payload: Buffer) => void }): Promise<{ client: MqttClient; connack: IConnackPacket }> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId, username: clientId, password, clean: o.clean, protocolVersion: 5, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 0, connectTimeout: 10_000 });
    if (o.onMessage) client.on('message', o.onMessage);
    client.once('connect', (connack) => resolve({ client, connack }));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

/** A device publishing `{from, seq}` at QoS 1 to the car's inbox, one after another, until stopped; `sent` is the last seq acknowledged. */
function dispatcher(client: MqttClient, from: string): { sent: () => number; stop: () => Promise<void> } {
  let seq = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      await client.publishAsync('devices/car-1/inbox', JSON.stringify({ from, seq: seq + 1 }), { qos: 1 });
      seq++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    sent: () => seq,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

test(`a roaming device moving between two edges ${MOVES} times keeps its MQTT session: present at every CONNACK, and every QoS 1 message sent to it at either edge arrives`, async () => {
  const p: Platform = await startPlatform({
    heartbeatMs: 300,
    agents: [
      { name: 'edge-a-1', site: 'edge-a', mqtt: true, viaLink: true },
      { name: 'edge-b-1', site: 'edge-b', mqtt: true, viaLink: true },
      { name: 'edge-c-1', site: 'edge-c', mqtt: true },
    ],
  });
  try {
    // Each edge 5 ms one way from the center: a session's trip between them crosses that link four times.
    p.setSiteDelay('edge-a', 5);
    p.setSiteDelay('edge-b', 5);
    const api = p.center.api;
    const grant = { grants: { publish: ['devices/car-1/inbox'] } };
    await api.apply(manifest([device('car-1', 'edge-a', { roaming: { sites: ['edge-b'] } }), device('disp-a', 'edge-a', grant), device('disp-b', 'edge-b', grant)]));
    const [car, dispA, dispB] = await Promise.all(['car-1', 'disp-a', 'disp-b'].map((d) => api.issueDeviceCredential('default', d)));
    const port = (agent: string) => p.agents.get(agent)!.mqttPort!;
    const ports: [number, number] = [port('edge-a-1'), port('edge-b-1')];

    // The car's credential works at both of its sites (and nowhere else); the dispatchers at their own.
    for (const at of [...ports, port('edge-c-1')]) {
      const expected = at !== port('edge-c-1');
      await waitFor(async () => (await connect(at, car!.clientId, car!.password, { clean: true }).then((c) => c.client.endAsync().then(() => true), () => false)) === expected || undefined, 20_000, `the car's credential ${expected ? 'synced to' : 'refused at'} port ${at}`);
    }
    const a = await waitFor(() => connect(ports[0], dispA!.clientId, dispA!.password, { clean: true }).catch(() => undefined), 20_000, 'disp-a connected');
    const b = await waitFor(() => connect(ports[1], dispB!.clientId, dispB!.password, { clean: true }).catch(() => undefined), 20_000, 'disp-b connected');

    const got = new Map<string, Set<number>>([['a', new Set()], ['b', new Set()]]);
    let received = 0;
    let duplicates = 0;
    const onMessage = (_topic: string, payload: Buffer) => {
      const m = JSON.parse(payload.toString()) as { from: string; seq: number };
      const seen = got.get(m.from)!;
      if (seen.has(m.seq)) duplicates++;
      seen.add(m.seq);
      received++;
    };

    // The car starts at edge-a with a persistent session.
    let at = 0;
    let conn = await connect(ports[at]!, car!.clientId, car!.password, { clean: false, onMessage });
    await conn.client.subscribeAsync('devices/car-1/inbox', { qos: 1 });
    const fromA = dispatcher(a.client, 'a');
    let fromB: ReturnType<typeof dispatcher> | undefined;

    for (let move = 1; move <= MOVES; move++) {
      const before = received;
      await waitFor(() => received > before || undefined, 20_000, `a message at the car before move ${move}`);
      await conn.client.endAsync();
      at = 1 - at;
      conn = await connect(ports[at]!, car!.clientId, car!.password, { clean: false, onMessage });
      assert.equal(conn.connack.sessionPresent, true, `move ${move}: the session came along (session present)`);
      // Once the car's session has been at edge-b, what is sent to it there follows it too.
      fromB ??= dispatcher(b.client, 'b');
    }
    await Promise.all([fromA.stop(), fromB!.stop()]);
    const sent = { a: fromA.sent(), b: fromB!.sent() };
    const missing = () =>
      Object.entries(sent).flatMap(([from, n]) => {
        const seen = got.get(from)!;
        return Array.from({ length: n }, (_, i) => i + 1).filter((s) => !seen.has(s)).map((s) => `${from}${s}`);
      });
    await waitFor(() => missing().length === 0 || undefined, 30_000, 'every message sent to the car').catch(async (err: Error) => {
      for (const n of ['edge-a-1', 'edge-b-1']) console.log(n, (await (await api.raw('GET', `/api/v1/nodes/${n}/metrics`)).text()).split('\n').filter((l) => l.startsWith('gedge_roaming')).join('\n'));
      console.log((await (await api.raw('GET', '/metrics')).text()).split('\n').filter((l) => l.startsWith('gedge_roaming')).join('\n'));
      throw new Error(`${err.message}: missing ${missing().length} (${missing().slice(0, 30).join(', ')}) of ${sent.a} + ${sent.b}`);
    });
    assert.ok(sent.a > MOVES && sent.b > 0, `both dispatchers sent (${sent.a}, ${sent.b})`);
    console.log(`# roaming: ${MOVES} moves, ${sent.a} + ${sent.b} messages sent, all received (${duplicates} duplicates)`);

    // The center knows where the car is, and both edges' metrics say what moved.
    const car1 = await waitFor(async () => {
      const d = await api.get<Device>('Device', 'car-1');
      return d.status?.connected && d.status.node === (at === 0 ? 'edge-a-1' : 'edge-b-1') ? d : undefined;
    }, 10_000, "the car's status at its last edge");
    assert.equal(car1.status!.connected, true);
    const metrics = await (await api.raw('GET', '/api/v1/nodes/edge-a-1/metrics')).text();
    assert.match(metrics, /gedge_roaming_exported_total \d+/);
    assert.match(metrics, /gedge_roaming_pulls_total\{outcome="moved"\} [1-9]/);

    // A clean start ends the session where it was: the next persistent connection elsewhere finds none.
    await conn.client.endAsync();
    const fresh = await connect(ports[1 - at]!, car!.clientId, car!.password, { clean: true });
    await fresh.client.endAsync();
    const after = await connect(ports[at]!, car!.clientId, car!.password, { clean: false });
    assert.equal(after.connack.sessionPresent, false, 'the clean start ended the session at the other edge');
    await Promise.all([after.client.endAsync(), a.client.endAsync(), b.client.endAsync()]);
  } finally {
    await p.close();
  }
});
