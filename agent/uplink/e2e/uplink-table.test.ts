import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pino, type Logger } from 'pino';
import { LinkEmulator, REPO_ROOT, startCenterProcess, waitFor } from '../../../testkit/index.ts';
import { UplinkQueue, UplinkSender, type UplinkOptionsInput, type UplinkSenderEvent } from '../index.ts';
import { joinNode, routeManifest, tableRows, uplinkEnv } from '../test-helpers.ts';

// A real center process; the edge side (queue + sender) runs in this process
// or, for the crash test, in child processes.
const env = uplinkEnv('gedge-uplink-e2e-');
const FAST: UplinkOptionsInput = { retryInitialMs: 20, retryMaxMs: 200, lingerMs: 5 };

function edge(url: string, options: UplinkOptionsInput = {}, log?: Logger) {
  const queue = UplinkQueue.open(env.tempDir(), { ...FAST, ...options });
  const sender = new UplinkSender(queue, { center: url, node: 'edge-1', credential: env.credential, tls: () => env.tls, log });
  const events: UplinkSenderEvent[] = [];
  sender.onEvent((e) => events.push(e));
  sender.start();
  let n = 0;
  const append = (route: string, count: number) => {
    const texts: string[] = [];
    for (let i = 0; i < count; i++, n++) {
      const device = `d${n % 3}`;
      const text = `{"n":${n}}`;
      queue.append({ project: 'default', route, topic: `devices/${device}/temp`, device, payload: Buffer.from(text), qos: 1 });
      texts.push(text);
    }
    return texts;
  };
  const close = async () => {
    await sender.stop();
    queue.close();
  };
  return { queue, sender, events, append, close };
}

test('a lost answer: the batch is sent again and the center skips it; every message lands once, in order', async () => {
  await env.center.api.apply(routeManifest('lost-answer'));
  // A slow link, so the answer is still on its way when the link is cut.
  const link = await LinkEmulator.start({ upstreamPort: env.center.port, delayMs: 1500 });
  const e = edge(`https://127.0.0.1:${link.port}`);
  try {
    const sent = e.append('lost-answer', 5);
    await waitFor(async () => (await tableRows(env.center.api, 'lost-answer')).length === 5, 10_000, 'the batch in the table');
    link.cut('reset');
    await waitFor(() => e.events.some((ev) => ev.type === 'retrying'), 10_000, 'the sender retrying');
    assert.equal(e.queue.stats().depthMessages, 5, 'not acked: the answer was lost');
    link.setDelay(0);
    link.restore();
    await waitFor(() => e.queue.stats().depthMessages === 0, 10_000, 'the queue drained');
    const rows = await tableRows(env.center.api, 'lost-answer');
    assert.deepEqual(rows.map((r) => r.payload), sent);
    assert.equal(e.queue.stats().delivered, 5);
    assert.ok(e.sender.stats().retries >= 1);
    assert.ok(e.events.some((ev) => ev.type === 'delivered' && ev.count === 5));
  } finally {
    await e.close();
    await link.close();
  }
});

test('the link back: a lane waiting out a long retry delay sends at once on linkRestored, and the log tells the outage and the recovery', async () => {
  await env.center.api.apply(routeManifest('link-back'));
  const link = await LinkEmulator.start({ upstreamPort: env.center.port });
  const lines: { msg: string; retries?: number }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) });
  // The next try after a failure is ten minutes away: only linkRestored can get it going within this test.
  const e = edge(`https://127.0.0.1:${link.port}`, { retryInitialMs: 600_000, retryMaxMs: 600_000 }, log);
  try {
    link.cut('reset');
    const sent = e.append('link-back', 5);
    await waitFor(() => e.events.some((ev) => ev.type === 'retrying'), 10_000, 'the sender retrying');
    assert.ok(lines.some((l) => l.msg === 'uplink to the center failing; retrying'), JSON.stringify(lines));
    link.restore();
    e.sender.linkRestored();
    await waitFor(() => e.queue.stats().depthMessages === 0, 20_000, 'the queue drained');
    assert.deepEqual((await tableRows(env.center.api, 'link-back')).map((r) => r.payload), sent);
    assert.ok(lines.some((l) => l.msg === 'uplink resumed' && l.retries === 1), JSON.stringify(lines));
    const stats = e.sender.stats();
    assert.equal(stats.retries, 1);
    assert.equal(stats.outages, 1, 'one outage, over');
    assert.ok(stats.outageSeconds > 0, JSON.stringify(stats));
    const over = stats.outageSeconds;
    await new Promise((r) => setImmediate(r));
    assert.equal(e.sender.stats().outageSeconds, over, 'no longer growing');
  } finally {
    await e.close();
    await link.close();
  }
});

/**
 * A TCP proxy to the center that, while `hang` is set, takes connections and
 * carries nothing over them, and keeps them so after `hang` is cleared: a
 * blackholed link whose connections outlive the heal (TCP retransmits only
 * after its backoff). New connections go through once `hang` is cleared.
 */
async function hangingProxy(port: number) {
  const held = new Set<net.Socket>();
  const all = new Set<net.Socket>();
  const state = { hang: true };
  const server = net.createServer((c) => {
    all.add(c);
    c.on('error', () => undefined);
    c.on('close', () => all.delete(c));
    if (state.hang) return void (held.add(c), c.resume());
    const up = net.connect(port, '127.0.0.1');
    all.add(up);
    up.on('error', () => c.destroy());
    up.on('close', () => (all.delete(up), c.destroy()));
    c.on('close', () => up.destroy());
    c.pipe(up).pipe(c);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    state,
    held,
    url: `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () => new Promise<void>((r) => (all.forEach((s) => s.destroy()), server.close(() => r()))),
  };
}

test('a request hung on a dead link is sent again as soon as the link is back, not when its timeout runs out; the outage is counted from its start', async () => {
  await env.center.api.apply(routeManifest('hung'));
  const proxy = await hangingProxy(env.center.port);
  // Ten minutes to time out and to retry: only linkRestored can get the batch through within this test.
  const e = edge(proxy.url, { requestTimeoutMs: 600_000, retryInitialMs: 600_000, retryMaxMs: 600_000 });
  try {
    e.sender.linkLost();
    const sent = e.append('hung', 5);
    await waitFor(() => proxy.held.size > 0, 10_000, 'the batch in flight on a connection that carries nothing');
    // What is measured here is time: the outage must count the half second the request hung, not only the moment it failed.
    await new Promise((r) => setTimeout(r, 500));
    const before = e.sender.stats();
    assert.deepEqual([before.retries, before.outages, before.outageSeconds], [0, 0, 0], 'nothing has failed yet: the request just hangs');
    proxy.state.hang = false;
    e.sender.linkRestored();
    await waitFor(() => e.queue.stats().depthMessages === 0, 20_000, 'the queue drained');
    assert.deepEqual((await tableRows(env.center.api, 'hung')).map((r) => r.payload), sent);
    assert.ok(e.events.some((ev) => ev.type === 'retrying' && ev.delayMs === 0), JSON.stringify(e.events));
    const stats = e.sender.stats();
    assert.equal(stats.retries, 1);
    assert.equal(stats.outages, 1);
    assert.ok(stats.outageSeconds >= 0.5, JSON.stringify(stats));
  } finally {
    await e.close();
    await proxy.close();
  }
});

test('gedge messages: the table sink from the CLI, newest last, by device, paged, as JSON', () => {
  const gedge = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['bin/gedge.mjs', '--server', env.center.url, '--ca-file', env.center.caFile, '--token', env.center.adminToken, 'messages', 'lost-answer', ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r;
  };
  const table = gedge('--limit', '2').stdout.trimEnd().split('\n');
  assert.match(table[0]!, /^ID\s+AGE\s+NODE\s+DEVICE\s+TOPIC\s+PAYLOAD$/);
  assert.equal(table.length, 3);
  assert.match(table[2]!, /edge-1\s+d1\s+devices\/d1\/temp\s+\{"n":4\}$/, 'the newest last');
  const page = JSON.parse(gedge('--after', '0', '--limit', '3', '--device', 'd0', '-o', 'json').stdout) as { items: { device: string; payload: string }[]; next: number };
  assert.deepEqual(page.items.map((m) => [m.device, m.payload]), [['d0', '{"n":0}'], ['d0', '{"n":3}']]);
  const paged = gedge('--after', '0', '--limit', '3');
  assert.match(paged.stderr, /more: --after \d+/);
  const missing = spawnSync(process.execPath, ['bin/gedge.mjs', '--server', env.center.url, '--ca-file', env.center.caFile, '--token', env.center.adminToken, 'messages', 'nope'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /route "nope" not found/);
});

test('route gone: the backlog is dropped and counted; a revoked credential stops the sender', async () => {
  const e = edge(env.center.url);
  try {
    e.append('no-such-route', 7);
    await waitFor(() => e.events.find((ev) => ev.type === 'route-gone'), 10_000, 'route-gone');
    assert.deepEqual(e.events.find((ev) => ev.type === 'route-gone'), { type: 'route-gone', project: 'default', route: 'no-such-route', dropped: 7 });
    assert.equal(e.queue.stats().droppedRouteGone, 7);
    assert.equal(e.queue.stats().depthMessages, 0);
  } finally {
    await e.close();
  }
  const other = await joinNode(env.center, 'edge-2', 'edge-a');
  const tokens = await env.center.api.listTokens();
  const id = tokens.find((t) => t.kind === 'node' && t.subject === 'edge-2')!.id;
  assert.equal((await env.center.api.raw('DELETE', `/api/v1/tokens/${id}`)).status, 200);
  const queue = UplinkQueue.open(env.tempDir(), FAST);
  const sender = new UplinkSender(queue, { center: env.center.url, node: 'edge-2', credential: other.credential, tls: () => other.tls });
  const events: UplinkSenderEvent[] = [];
  sender.onEvent((ev) => events.push(ev));
  sender.start();
  try {
    queue.append({ project: 'default', route: 'lost-answer', topic: 'devices/x/t', payload: Buffer.from('x'), qos: 0 });
    const stopped = await waitFor(() => events.find((ev) => ev.type === 'stopped'), 10_000, 'stopped');
    assert.equal(stopped.type === 'stopped' && stopped.status, 401);
    assert.equal(sender.running, false);
    assert.equal(queue.stats().depthMessages, 1, 'kept for a sender with a valid credential');
  } finally {
    await sender.stop();
    queue.close();
  }
});

test('a queue file behind the center (restored from an old copy) is renumbered past what the center saw, nothing skipped', async () => {
  await env.center.api.apply(routeManifest('behind'));
  const ahead = edge(env.center.url);
  try {
    ahead.append('behind', 3);
    await waitFor(() => ahead.queue.stats().depthMessages === 0, 10_000, 'first queue drained');
  } finally {
    await ahead.close();
  }
  // A queue created "in 1970" hands out seqs far below the center's progress for edge-1.
  const queue = UplinkQueue.open(env.tempDir(), FAST, { now: () => 1000 });
  const sender = new UplinkSender(queue, { center: env.center.url, node: 'edge-1', credential: env.credential, tls: () => env.tls });
  const events: UplinkSenderEvent[] = [];
  sender.onEvent((ev) => events.push(ev));
  sender.start();
  try {
    for (let i = 0; i < 4; i++) queue.append({ project: 'default', route: 'behind', topic: 'devices/d0/t', payload: Buffer.from(`late${i}`), qos: 1 });
    await waitFor(() => queue.stats().depthMessages === 0, 10_000, 'second queue drained');
    assert.ok(events.some((ev) => ev.type === 'resequenced'));
    const rows = await tableRows(env.center.api, 'behind');
    assert.deepEqual(rows.slice(3).map((r) => r.payload), ['late0', 'late1', 'late2', 'late3']);
  } finally {
    await sender.stop();
    queue.close();
  }
});

test('an agent crash mid-send (SIGKILL): a new process on the same queue drains it; each message lands once, in order', async () => {
  await env.center.api.apply(routeManifest('crash'));
  const dir = env.tempDir();
  const lib = pathToFileURL(fileURLToPath(new URL('../index.ts', import.meta.url))).href;
  const script = `
    import { UplinkQueue, UplinkSender } from ${JSON.stringify(lib)};
    const q = UplinkQueue.open(process.env.DIR, { fsync: 'always', lingerMs: 1, batchMessages: 40, retryInitialMs: 20, retryMaxMs: 200 });
    new UplinkSender(q, { center: process.env.CENTER, node: 'edge-1', credential: process.env.CRED, tls: () => JSON.parse(process.env.TLS) }).start();
    if (process.env.APPEND) {
      let i = 0;
      setInterval(() => {
        const lines = [];
        for (let k = 0; k < 20; k++, i++) lines.push(q.append({ project: 'default', route: 'crash', topic: 't', device: 'd' + (i % 3), payload: Buffer.from('m' + i), qos: 1 }) + ' m' + i + '\\n');
        process.stdout.write(lines.join(''));
      }, 2);
    } else {
      setInterval(() => { if (q.stats().depthMessages === 0) { process.stdout.write('drained\\n'); process.exit(0); } }, 20);
    }`;
  const run = (append: boolean) =>
    spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, DIR: dir, CENTER: env.center.url, CRED: env.credential, TLS: JSON.stringify(env.tls), ...(append ? { APPEND: '1' } : {}) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });

  const first = run(true);
  const reported: string[] = [];
  createInterface({ input: first.stdout! }).on('line', (l) => reported.push(l.split(' ')[1]!));
  await waitFor(async () => (await tableRows(env.center.api, 'crash')).length >= 400, 30_000, 'messages landing while appends go on');
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));

  const second = run(false);
  const lines: string[] = [];
  createInterface({ input: second.stdout! }).on('line', (l) => lines.push(l));
  await new Promise((r) => second.once('exit', r));
  assert.deepEqual(lines, ['drained']);

  const rows = await tableRows(env.center.api, 'crash');
  assert.ok(rows.length >= reported.length, 'every append that returned landed');
  // Exactly once and in order: the table is m0, m1, ... with no gap and no repeat.
  assert.deepEqual(rows.map((r) => r.payload), rows.map((_, i) => `m${i}`));
  const seqs = rows.map((r) => r.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
});

test('a center outage: the queue grows while the center is down and drains, once each and in order, when it is back', async () => {
  await env.center.api.apply(routeManifest('outage'));
  const e = edge(env.center.url);
  try {
    const before = e.append('outage', 50);
    await waitFor(() => e.queue.stats().depthMessages === 0, 10_000, 'first messages delivered');
    await env.center.process.stop();
    const during = e.append('outage', 300);
    await waitFor(() => e.sender.stats().retries >= 3, 10_000, 'the sender retrying against a dead center');
    const during2 = e.append('outage', 200);
    assert.equal(e.queue.stats().depthMessages, 500, 'the queue holds everything while the center is down');
    env.center = await startCenterProcess({ dataDir: env.center.dataDir, port: env.center.port, adminToken: env.center.adminToken });
    await waitFor(() => e.queue.stats().depthMessages === 0, 30_000, 'the queue drained after the restart');
    const rows = await tableRows(env.center.api, 'outage');
    assert.deepEqual(rows.map((r) => r.payload), [...before, ...during, ...during2]);
    assert.equal(e.queue.stats().delivered, 550);
  } finally {
    await e.close();
  }
});
