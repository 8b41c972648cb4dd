import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import type { Rule } from '../../core/index.ts';
import { promtoolProblems, spawnGedge, startPlatform, waitFor, type Platform } from '../../testkit/index.ts';
import { tableRows } from '../uplink/test-helpers.ts';

const EDGE = 'edge-a-1';

const jsonDoc = (o: unknown): string => JSON.stringify(o);
const rule = (name: string, spec: Record<string, unknown>) => jsonDoc({ apiVersion: 'gedge.io/v1', kind: 'Rule', metadata: { name }, spec });

/** The rule of the scenario: a queue (5 or more slow vehicles in a second on an approach) turns that approach's light red. */
const QUEUE_SQL = `
SELECT a.light AS light, s.approach AS approach, count(*) AS queue, avg(s.speed) AS v
FROM "traffic/+/loop" AS s JOIN approaches AS a ON a.id = s.approach
WHERE s.speed < 15
GROUP BY s.approach, TUMBLING(1s)
HAVING queue >= 5`;

describe('rules at the edge', () => {
  let p: Platform;
  const devices: MqttClient[] = [];
  let hook: Server;
  const hookBodies: unknown[][] = [];
  let hookFailures = 3;

  const connect = async (name: string, clean = true): Promise<MqttClient> => {
    const { password } = await p.center.api.issueDeviceCredential('default', name);
    const port = p.agents.get(EDGE)!.mqttPort!;
    const c = await waitFor(() => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: name, username: name, password, reconnectPeriod: 200, clean }, false).catch(() => undefined), 20_000, `${name} signed in`);
    devices.push(c);
    return c;
  };
  const status = async (name: string) => (await p.center.api.get<Rule>('Rule', name)).status?.nodes?.[EDGE];

  before(async () => {
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (hookFailures-- > 0) return void res.writeHead(503).end();
        hookBodies.push(JSON.parse(body) as unknown[]);
        res.writeHead(204).end();
      });
    }).listen(0, '127.0.0.1');
    await once(hook, 'listening');
    p = await startPlatform({ heartbeatMs: 300, agents: [{ name: EDGE, site: 'edge-a', mqtt: true }, { name: 'cloud-1', site: 'cloud', mqtt: true }] });
    const api = p.center.api;
    await api.apply(
      [
        ...['loop-1', 'loop-2'].map((name) => jsonDoc({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name }, spec: { site: 'edge-a', grants: { publish: ['traffic/#'] } } })),
        ...['light-n', 'panel'].map((name) => jsonDoc({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name }, spec: { site: 'edge-a', grants: { subscribe: ['signals/#'] } } })),
        jsonDoc({ apiVersion: 'gedge.io/v1', kind: 'Route', metadata: { name: 'flows' }, spec: { topic: 'flows/#', sink: { type: 'table' } } }),
      ].join('\n---\n'),
    );
  });

  after(async () => {
    for (const c of devices) await c.endAsync(true);
    hook.close();
    await p?.close();
  });

  it('a queue forming on an approach turns its light red: sensor -> rule -> actuator on the edge broker, seen by a real MQTT subscriber', async () => {
    await p.center.api.apply(rule('queue-light', {
      sql: QUEUE_SQL,
      tables: { approaches: { rows: [{ id: 'north', light: 'light-n' }, { id: 'south', light: 'light-s' }] } },
      actions: [{ mqtt: { topic: 'signals/{{light}}/set', qos: 1, payload: '{"color":"red","queue":{{queue}}}' } }],
    }));
    const light = await connect('light-n');
    const commands: { topic: string; body: { color: string; queue: number } }[] = [];
    light.on('message', (topic, payload) => commands.push({ topic, body: JSON.parse(payload.toString()) as { color: string; queue: number } }));
    await light.subscribeAsync('signals/light-n/set', { qos: 1 });
    const [loop1, loop2] = [await connect('loop-1'), await connect('loop-2')];
    await waitFor(async () => (await status('queue-light'))?.phase === 'Running', 20_000, 'the rule running on the edge');

    // Free flow: fast vehicles, no queue, no command.
    for (let i = 0; i < 10; i++) await loop1.publishAsync('traffic/n1/loop', JSON.stringify({ approach: 'north', speed: 50 }), { qos: 1 });
    // Wait for the rule to have taken all ten and left them out (WHERE), not for a while.
    await waitFor(async () => { const x = await status('queue-light'); return x && x.in >= 10 && x.filtered >= 10; }, 10_000, 'the free-flow readings counted and filtered');
    assert.equal(commands.length, 0, 'no command in free flow');
    // A queue forms in the north: slow vehicles seen by both loops within the same second.
    for (let i = 0; i < 4; i++) {
      await loop1.publishAsync('traffic/n1/loop', JSON.stringify({ approach: 'north', speed: 3 }), { qos: 1 });
      await loop2.publishAsync('traffic/n2/loop', JSON.stringify({ approach: 'north', speed: 5 }), { qos: 1 });
    }
    const red = await waitFor(() => commands[0], 5000, 'the light told to turn red');
    assert.equal(red.topic, 'signals/light-n/set');
    assert.equal(red.body.color, 'red');
    assert.ok(red.body.queue >= 5, `queue ${red.body.queue}`);

    const s = await waitFor(async () => { const x = await status('queue-light'); return x && x.out >= 1 ? x : undefined; }, 10_000, 'the rule reporting its counters');
    assert.ok(s.in >= 18 && s.filtered >= 10, JSON.stringify(s));
    assert.ok(s.latencyMs.count >= 18 && s.latencyMs.p99 !== null);
    const cloud = (await p.center.api.get<Rule>('Rule', 'queue-light')).status?.nodes?.['cloud-1'];
    assert.equal(cloud, undefined, 'by default a rule runs only at edge-tier sites');
  });

  it('aggregates go up the uplink, not the raw stream; a failing webhook is retried with backoff and counted; a malformed payload is dropped with a sample', async () => {
    await p.center.api.apply(rule('flows', {
      sql: `SELECT approach, count(*) AS n, round(avg(speed), 1) AS v FROM "traffic/+/loop" GROUP BY approach, TUMBLING(1s)`,
      actions: [{ uplink: { route: 'flows', topic: 'flows/{{approach}}' } }, { webhook: { url: `http://127.0.0.1:${(hook.address() as { port: number }).port}/flows` } }],
      retry: { initialBackoff: '50ms', maxBackoff: '200ms' },
    }));
    const loop = devices.find((d) => d.options.clientId === 'loop-1')!;
    await waitFor(async () => (await status('flows'))?.phase === 'Running', 20_000, 'the flows rule running');
    for (let i = 0; i < 30; i++) await loop.publishAsync('traffic/n1/loop', JSON.stringify({ approach: i % 3 ? 'north' : 'east', speed: 20 + i }), { qos: 1 });
    await loop.publishAsync('traffic/n1/loop', 'not json at all', { qos: 1 });

    // On a busy machine the 30 readings may span several 1 s windows: wait until the aggregates account for all of them.
    const counted = (rs: { payload: string }[]) => rs.reduce((n, r) => n + (JSON.parse(r.payload) as { n: number }).n, 0);
    const rows = await waitFor(async () => { const r = await tableRows(p.center.api, 'flows'); return r.length >= 2 && counted(r) >= 30 ? r : undefined; }, 15_000, 'aggregates of every reading in the cloud table');
    const bodies = rows.map((r) => JSON.parse(r.payload) as { approach: string; n: number });
    assert.equal(bodies.reduce((n, b) => n + b.n, 0), 30, 'every message counted once, in aggregates');
    assert.ok(rows.length <= 6, `${rows.length} rows up for 30 raw messages`);
    assert.deepEqual(new Set(bodies.map((b) => b.approach)), new Set(['north', 'east']));

    await waitFor(() => hookBodies.flat().length >= rows.length || undefined, 15_000, 'the webhook delivered once it recovered');
    assert.deepEqual(hookBodies.flat(), bodies, 'the same rows, in order, after 3 failed attempts');
    const s = await waitFor(async () => { const x = await status('flows'); return x && x.sinkErrors >= 3 && x.dropped >= 1 ? x : undefined; }, 10_000, 'sink errors and the drop reported');
    assert.equal(s.lastDropped?.reason, 'payload is not JSON');
    assert.equal(s.lastDropped?.sample, 'not json at all');
    assert.match(s.lastSinkError?.message ?? '', /HTTP 503/);

    const describe = spawnGedge('cli', ['describe', 'rule', 'flows'], { GEDGE_SERVER: p.center.url, GEDGE_TOKEN: p.center.adminToken, GEDGE_CA_FILE: p.center.caFile, GEDGE_CONFIG: '/nonexistent/gedge-config' });
    assert.equal(await describe.exited, 0);
    const text = describe.lines.map((l) => l.msg ?? '').join('\n');
    assert.match(text, /NODE\s+PHASE\s+IN\s+OUT\s+FILTERED\s+DROPPED\s+LATE\s+SINK ERRORS/);
    assert.match(text, new RegExp(`${EDGE}\\s+Running\\s+\\d+`));
    assert.match(text, /last dropped .* payload is not JSON; payload "not json at all"/);

    const metrics = await (await p.center.api.raw('GET', '/metrics')).text();
    assert.match(metrics, /gedge_rule_messages_total\{project="default",rule="flows",node="edge-a-1",outcome="in"\} \d+/);
    assert.match(metrics, /gedge_rule_sink_errors_total\{project="default",rule="flows",node="edge-a-1"\} [3-9]/);
    assert.match(metrics, /gedge_rule_latency_seconds_bucket\{project="default",rule="flows",node="edge-a-1",le="\+Inf"\} [1-9]\d*/);
    assert.match(metrics, /gedge_rule_latency_seconds_count\{project="default",rule="flows",node="edge-a-1"\} [1-9]\d*/);
    // Prometheus' own linter: names, units, types (no gauge ending in _total, histograms in base units).
    assert.deepEqual(promtoolProblems(metrics), []);
  });

  it('updating a rule in place loses no message, and an agent restart in the middle of a window counts nothing twice', async () => {
    const counter = (having: string) => rule('counter', {
      sql: `SELECT count(*) AS n, window_start() AS ws FROM "traffic/+/count" GROUP BY TUMBLING(2s) HAVING ${having}`,
      actions: [{ mqtt: { topic: 'signals/counts', qos: 1 } }],
    });
    await p.center.api.apply(counter('n > 0'));
    await waitFor(async () => (await status('counter'))?.phase === 'Running', 20_000, 'the counter running');
    // A persistent session: what is published while the edge restarts waits for it (QoS 1).
    const panel = await connect('panel', false);
    const loop = devices.find((d) => d.options.clientId === 'loop-2')!;
    const windows = new Map<number, number>();
    panel.on('message', (topic, payload) => {
      const { n, ws } = JSON.parse(payload.toString()) as { n: number; ws: number };
      assert.ok(!windows.has(ws), `window ${ws} emitted twice`);
      windows.set(ws, n);
    });
    await panel.subscribeAsync('signals/counts', { qos: 1 });

    // 60 messages while the rule is updated twice (HAVING only: the window state carries over).
    let sent = 0;
    const publish = async (n: number) => {
      for (let i = 0; i < n; i++, sent++) await loop.publishAsync('traffic/x/count', JSON.stringify({ i: sent }), { qos: 1 });
    };
    const updates = (async () => {
      for (const having of ['n >= 1', 'count(*) > 0']) {
        await new Promise((r) => setTimeout(r, 150));
        await p.center.api.apply(counter(having));
      }
    })();
    for (let k = 0; k < 6; k++) {
      await publish(10);
      await new Promise((r) => setTimeout(r, 50));
    }
    await updates;

    // A graceful restart of the agent in the middle of a window (every message above was acknowledged).
    await publish(20);
    const edge = p.agents.get(EDGE)!;
    await edge.process.stop();
    await p.startAgent(EDGE);
    await waitFor(async () => (await p.readyNodes()).includes(EDGE), 20_000, 'the edge back');
    const again = await waitFor(() => (loop.connected && panel.connected) || undefined, 20_000, 'devices reconnected');
    assert.ok(again);
    await publish(20);
    await waitFor(() => [...windows.values()].reduce((a, b) => a + b, 0) >= sent || undefined, 15_000, `${sent} messages counted`);
    await new Promise((r) => setTimeout(r, 2500)); // one more window: nothing arrives twice
    assert.equal([...windows.values()].reduce((a, b) => a + b, 0), sent);
  });

  it('retargeting a rule moves it: the nodes it leaves stop it and drop out of its status', async () => {
    const flows = await p.center.api.get<Rule>('Rule', 'flows');
    await p.center.api.apply(jsonDoc({ ...flows, metadata: { name: 'flows' }, status: undefined, spec: { ...flows.spec, target: { sites: ['cloud'] } } }));
    const nodes = await waitFor(async () => {
      const n = (await p.center.api.get<Rule>('Rule', 'flows')).status?.nodes ?? {};
      return n['cloud-1']?.phase === 'Running' && !n[EDGE] ? n : undefined;
    }, 15_000, 'flows running on cloud-1 only');
    assert.deepEqual(Object.keys(nodes), ['cloud-1']);
  });

  it('a bad rule is refused at apply with the line and column of the problem, and nothing changes', async () => {
    const res = await p.center.api.raw('POST', '/api/v1/apply', `apiVersion: gedge.io/v1
kind: Rule
metadata: { name: broken }
spec:
  sql: |
    SELECT approach, avg(speed) AS v
    FROM "traffic/+/loop"
    WHERE avg(speed) < 20
  actions: [{ log: {} }]
`, 'application/yaml');
    assert.equal(res.status, 422);
    const body = (await res.json()) as { code: string; details: { path: string; message: string; line?: number }[] };
    assert.equal(body.code, 'Invalid');
    assert.deepEqual(body.details.map((d) => [d.path, d.message]), [['spec.sql', 'line 3, column 7: aggregate avg() is not allowed in WHERE']]);
    assert.equal(body.details[0]!.line, 5, 'and the manifest line of spec.sql');
    const missing = await p.center.api.raw('GET', '/api/v1/rules/broken');
    assert.equal(missing.status, 404);
  });
});
