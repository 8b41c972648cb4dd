import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startAgentProcess, startCenterProcess, waitFor, type AgentHandle, type CenterHandle } from '../../testkit/index.ts';

const mode = (path: string) => statSync(path).mode & 0o777;

/** The small doors: secrets in files and the environment, private data dirs, probes without a token, a scraper's token, guessing slowed, browser headers. */
describe('hardening', () => {
  let c: CenterHandle;
  let agent: AgentHandle;
  const stderr: string[] = [];

  before(async () => {
    c = await startCenterProcess();
    c.process.proc.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
    await c.api.apply('apiVersion: gedge.io/v1\nkind: Site\nmetadata: { name: edge-a }\nspec: { tier: edge }\n');
    const join = (await c.api.createToken({ site: 'edge-a' })).token;
    agent = await startAgentProcess({ center: c.url, name: 'n1', site: 'edge-a', joinToken: join, caPin: c.caPin });
  });
  after(async () => {
    await agent?.process.stop();
    await c?.process.stop();
    if (agent) removeDir(agent.dataDir);
    if (c) removeDir(c.dataDir);
  });

  test('secrets stay out of logs and argv; data dirs are private and secret files 0600', async () => {
    await waitFor(async () => (await c.api.list('Node')).items.length === 1, 20_000, 'n1 joined');
    assert.ok(!stderr.join('').includes(c.adminToken), 'the admin token went to its file, not to the log');
    assert.ok(!agent.process.proc.spawnargs.join(' ').includes('gdg_'), 'no token in the agent\'s arguments');
    const cmdline = readFileSync(`/proc/${agent.process.pid}/cmdline`, 'utf8');
    assert.ok(!cmdline.includes('gdg_'), 'nor in what ps shows');
    assert.equal(mode(c.dataDir), 0o700);
    assert.equal(mode(join(c.dataDir, 'center.db')), 0o600);
    assert.equal(mode(join(c.dataDir, 'admin.token')), 0o600);
    assert.equal(mode(agent.dataDir), 0o711, 'workloads may pass through to their own dirs, not list');
    for (const name of readdirSync(agent.dataDir)) {
      const path = join(agent.dataDir, name);
      const want = ['homes', 'volumes', 'models'].includes(name) ? 0o711 : statSync(path).isDirectory() ? 0o700 : 0o600;
      assert.equal(mode(path), want, `${name}: ${mode(path).toString(8)}`);
    }
    assert.equal(mode(join(agent.dataDir, 'identity.json')), 0o600);
  });

  test('/livez and /readyz answer without a token and tell nothing else; /metrics takes a metrics token, which reads nothing else', async () => {
    for (const path of ['/livez', '/readyz']) {
      const res = await c.fetch(c.url + path);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { ok: true });
    }
    const scraper = (await c.api.createToken({ kind: 'metrics' })).token;
    const get = (path: string, token: string | null) => c.fetch(c.url + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const m = await get('/metrics', scraper);
    assert.equal(m.status, 200);
    assert.match(await m.text(), /gedge_store_revision/);
    assert.equal((await get('/metrics', null)).status, 401);
    for (const path of ['/api/v1/nodes', '/api/v1/tokens', '/healthz']) assert.equal((await get(path, scraper)).status, 403, path);
  });

  test("the dashboard's session: the token goes into an HttpOnly SameSite=Strict cookie, taken only with the dashboard's header; signing out clears it", async () => {
    for (const base of [c.url, c.localUrl]) {
      const start = await c.fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: c.adminToken }) });
      assert.equal(start.status, 200);
      const cookie = start.headers.get('set-cookie') ?? '';
      assert.match(cookie, /^gedge_session=gdg_[^;]+; HttpOnly; SameSite=Strict; Path=\//);
      assert.equal(/; Secure/.test(cookie), base.startsWith('https:'), `Secure exactly over HTTPS: ${cookie}`);
      const pair = cookie.split(';')[0]!;
      const nodes = (headers: Record<string, string>) => c.fetch(`${base}/api/v1/nodes`, { headers }).then((r) => r.status);
      assert.equal(await nodes({ cookie: pair }), 401, 'the cookie alone (a form or image on another page of this host) is refused');
      assert.equal(await nodes({ cookie: pair, 'x-gedge-session': '1' }), 200);
      const end = await c.fetch(`${base}/api/v1/session`, { method: 'DELETE' });
      assert.match(end.headers.get('set-cookie') ?? '', /^gedge_session=; .*Max-Age=0/);
    }
    const bad = await c.fetch(`${c.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'gdg_0000000000000000_' + 'B'.repeat(43) }) });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers.get('set-cookie'), null);
  });

  test("/healthz says how durable the center's commits are, as its store connection reports it, and how each of its modules is", async () => {
    const res = await c.fetch(c.url + '/healthz', { headers: { authorization: `Bearer ${c.adminToken}` } });
    const body = (await res.json()) as { ok: boolean; store: { durability: string }; modules: { name: string; essential: boolean; state: string; restarts: number }[] };
    assert.equal(body.store.durability, 'sqlite synchronous=FULL');
    assert.equal(body.ok, true);
    assert.deepEqual(
      body.modules.map((m) => [m.name, m.essential, m.state, m.restarts]),
      [['store', true, 'running', 0], ['authority', true, 'running', 0], ['network', true, 'running', 0], ['telemetry', true, 'running', 0], ['uplink', true, 'running', 0], ['api', true, 'running', 0], ['controllers', true, 'running', 0], ['housekeeping', false, 'running', 0]],
    );
    const metrics = await (await c.fetch(c.url + '/metrics', { headers: { authorization: `Bearer ${c.adminToken}` } })).text();
    assert.match(metrics, /^gedge_module_up\{module="controllers"\} 1$/m);
    assert.match(metrics, /^gedge_module_restarts_total\{module="api"\} 0$/m);
  });

  test('repeated failed authentications from one address get 429, for HTTP and the agent endpoint, while a valid token elsewhere is unaffected', async () => {
    const bad = 'gdg_0000000000000000_' + 'A'.repeat(43);
    let status = 0;
    for (let i = 0; i < 30 && status !== 429; i++) status = (await c.fetch(`${c.url}/api/v1/nodes`, { headers: { authorization: `Bearer ${bad}` } })).status;
    assert.equal(status, 429);
    const res = await c.fetch(`${c.url}/api/v1/nodes`, { headers: { authorization: `Bearer ${c.adminToken}` } });
    assert.equal(res.status, 429, 'the address is refused before any token is looked at');
    assert.match(((await res.json()) as { message: string }).message, /retry in \d+ s/);
  });

  test('answers carry CSP, no framing and nosniff', async () => {
    const res = await c.fetch(c.url + '/livez');
    assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  });
});
