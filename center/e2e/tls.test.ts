import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ApiClient, UPLINK_PATH, tlsFetch, type Node, type Instance } from '../../core/index.ts';
import { certificateInfo } from '../../core/pki.ts';
import { REPO_ROOT, RawNode, removeDir, startAgentProcess, startCenterProcess, startPlatform, testService, waitFor, type CenterHandle, type NodeIdentity, type Platform } from '../../testkit/index.ts';

/**
 * TLS and node certificates (docs/security.md): a node and the CLI trust only
 * the center their pin names; a node is its credential and its certificate
 * together; certificates rotate over the live connection without dropping it
 * or any workload; a node back after its certificate expired renews within
 * the grace and is refused after it; devices reach their edge over MQTTS.
 */

const nodeTls = (dataDir: string) => JSON.parse(readFileSync(join(dataDir, 'pki', 'node.json'), 'utf8')) as NodeIdentity['tls'];
const uplink = (c: CenterHandle, who: NodeIdentity, tls: Partial<NodeIdentity['tls']> = who.tls, base = c.url) =>
  tlsFetch({ ca: c.ca, ...tls })(new URL(UPLINK_PATH, base), {
    method: 'POST',
    headers: { authorization: `Bearer ${who.credential}`, 'content-type': 'application/json' },
    body: JSON.stringify({ node: who.node, project: 'default', route: 'none', messages: [{ seq: 1, topic: 't', payload: '', qos: 1, at: new Date().toISOString() }] }),
  });

describe('TLS: pinning and node identity', () => {
  let c: CenterHandle;
  let other: CenterHandle;
  before(async () => {
    [c, other] = await Promise.all([startCenterProcess(), startCenterProcess()]);
    const site = 'apiVersion: gedge.io/v1\nkind: Site\nmetadata: { name: edge-a }\nspec: { tier: edge }\n';
    await Promise.all([c.api.apply(site), other.api.apply(site)]);
  });
  after(async () => {
    await Promise.all([c, other].map((x) => x?.process.stop()));
    for (const x of [c, other]) if (x) removeDir(x.dataDir);
  });

  test('an agent refuses a center whose CA does not match its pin, and joins nothing', async () => {
    const join = (await c.api.createToken({ site: 'edge-a' })).token;
    // The right token, the other center's pin: as if someone in between answered with their own CA.
    const agent = await startAgentProcess({ center: c.url, name: 'pinned', site: 'edge-a', joinToken: join, caPin: other.caPin }).catch((e: Error) => e);
    assert.ok(agent instanceof Error, 'the agent does not start');
    assert.match(agent.message, /does not match the pin/);
    assert.equal((await c.api.list('Node')).items.length, 0, 'no node joined');
    assert.equal((await c.api.listTokens()).find((t) => t.kind === 'join')?.usedAt, null, 'the join token was not spent');
  });

  test('the CLI refuses a center whose CA does not match, and stores the CA it pinned', async () => {
    const config = join(c.dataDir, 'cli-config');
    const env = { ...process.env, GEDGE_CONFIG: config };
    const wrong = spawnSync(process.execPath, ['bin/gedge.mjs', 'login', '--server', c.url, '--token', c.adminToken, '--ca-pin', other.caPin], { cwd: REPO_ROOT, encoding: 'utf8', env });
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr, /does not match the pin/);
    const none = spawnSync(process.execPath, ['bin/gedge.mjs', 'login', '--server', c.url, '--token', c.adminToken], { cwd: REPO_ROOT, encoding: 'utf8', env });
    assert.match(none.stderr, /--ca-pin: required/);
    const right = spawnSync(process.execPath, ['bin/gedge.mjs', 'login', '--server', c.url, '--token', c.adminToken, '--ca-pin', c.caPin], { cwd: REPO_ROOT, encoding: 'utf8', env });
    assert.equal(right.status, 0, right.stderr);
    const saved = JSON.parse(readFileSync(config, 'utf8')) as { current: string; contexts: Record<string, { ca?: string }> };
    assert.equal(saved.contexts[saved.current]?.ca, c.ca);
    const get = spawnSync(process.execPath, ['bin/gedge.mjs', 'get', 'sites'], { cwd: REPO_ROOT, encoding: 'utf8', env });
    assert.equal(get.status, 0, get.stderr);
    assert.match(get.stdout, /edge-a/);
    // A config pinned to this center does not trust the other one's certificate.
    writeFileSync(config, JSON.stringify({ server: other.url, token: other.adminToken, ca: c.ca }));
    const mitm = spawnSync(process.execPath, ['bin/gedge.mjs', 'get', 'sites'], { cwd: REPO_ROOT, encoding: 'utf8', env });
    assert.notEqual(mitm.status, 0);
    assert.match(mitm.stderr, /cannot reach the center/);
  });

  test('a node is its credential and its certificate together: each alone, or mixed with another node\'s, is refused', async () => {
    const a = await RawNode.join(c, 'node-a', 'edge-a');
    const b = await RawNode.join(c, 'node-b', 'edge-a');
    const foreign = await RawNode.join(other, 'node-a', 'edge-a');
    assert.equal((await uplink(c, a)).status, 404, 'both together pass authentication (no such route)');
    const refusals = [
      ['no client certificate', await uplink(c, a, {})],
      ["node-b's certificate", await uplink(c, a, b.tls)],
      ['a certificate from another CA', await uplink(c, a, { cert: foreign.tls.cert, key: foreign.tls.key })],
      ['the loopback plain-HTTP listener', await fetch(new URL(UPLINK_PATH, c.localUrl), { method: 'POST', headers: { authorization: `Bearer ${a.credential}` }, body: '{}' })],
    ] as const;
    for (const [what, res] of refusals) assert.equal(res.status, 401, `${what}: ${res.status}`);
    await assert.rejects(RawNode.connect(c.url, { ...a, tls: b.tls }), (e: Error & { status?: number }) => e.status === 401, "the channel with node-b's certificate");
    // Renewal: only the node itself, with its own certificate; no other token kind.
    const renew = (token: string, tls: Partial<NodeIdentity['tls']>) =>
      tlsFetch({ ca: c.ca, ...tls })(new URL('/api/v1/node/certificate', c.url), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ csr: 'x' }) }).then((r) => r.status);
    assert.equal(await renew(a.credential, b.tls), 401, "renewal with node-b's certificate");
    assert.equal(await renew(a.credential, {}), 401, 'renewal without a certificate');
    assert.equal(await renew(c.adminToken, a.tls), 403, 'renewal with an admin token');
    const ok = await RawNode.connect(c.url, a);
    ok.close();
    // Deleting the certificate (as a token) revokes it: the node's live connection ends.
    const again = await RawNode.connect(c.url, a);
    const serial = certificateInfo(a.tls.cert).serial;
    assert.ok((await c.api.listTokens()).some((t) => t.kind === 'certificate' && t.id === serial && t.subject === 'node-a'), 'its certificate is listed with the tokens');
    assert.equal((await c.api.raw('DELETE', `/api/v1/tokens/${serial}`)).status, 200);
    await waitFor(() => again.closed, 5000, 'the connection closed');
    assert.equal(again.closed!.code, 4401);
    assert.equal((await uplink(c, a)).status, 401);
  });

  test('a CSR that is not one, or signed by another key, is a 422 naming the field; nothing is created', async () => {
    const join = (await c.api.createToken({ site: 'edge-a' })).token;
    const post = (csr: string) =>
      c.fetch(new URL('/api/v1/join', c.url), { method: 'POST', headers: { authorization: `Bearer ${join}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bad-csr', capacity: { cpu: 1, memoryMiB: 1 }, csr }) });
    for (const csr of ['hello', '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', c.ca]) {
      const res = await post(csr);
      assert.equal(res.status, 422);
      const body = (await res.json()) as { details: { path: string }[] };
      assert.equal(body.details[0]?.path, 'csr');
    }
    assert.equal(await c.api.get('Node', 'bad-csr').catch(() => undefined), undefined);
  });
});

describe('TLS: rotation and expiry', () => {
  let p: Platform;
  before(async () => {
    // Certificates of 20 s, renewed after about 13; a grace of 25 s.
    p = await startPlatform({ heartbeatMs: 300, args: ['--node-cert-ttl', '20s', '--node-cert-grace', '25s'], agents: [{ name: 'node-a', site: 'edge-a' }, { name: 'node-b', site: 'edge-b' }] });
  });
  after(async () => {
    await p?.close();
  });

  test('certificates rotate over the live connection: the socket stays up past the first one\'s end, the workload keeps running', async () => {
    const agent = p.agents.get('node-a')!;
    await p.center.api.apply(JSON.stringify(testService('steady', { nodeSelector: { 'gedge.io/site': 'edge-a' } })));
    const running = await waitFor(async () => (await p.instances('app=steady')).find((i) => i.status?.phase === 'Running'), 30_000, 'steady running');
    const first = certificateInfo(nodeTls(agent.dataDir).cert);
    const connectedBefore = agent.process.events('connected').length;
    // Two renewals: the second proves the first renewed certificate was accepted and itself renewed.
    await waitFor(() => agent.process.events('certificate').length >= 2 || undefined, 60_000, 'two renewals');
    await waitFor(() => Date.now() > first.notAfter.getTime() + 2000 || undefined, 30_000, "the first certificate's end");
    const now = certificateInfo(nodeTls(agent.dataDir).cert);
    assert.notEqual(now.serial, first.serial);
    assert.ok(now.notAfter > first.notAfter);
    assert.equal(agent.process.events('connected').length, connectedBefore, 'no reconnect: the socket stayed up');
    assert.equal(agent.process.events('disconnected').length, 0);
    const node = await p.center.api.get<Node>('Node', 'node-a');
    assert.equal(node.status?.phase, 'Ready');
    const still = (await p.instances('app=steady')).find((i) => i.metadata.name === running.metadata.name) as Instance;
    assert.equal(still.status?.phase, 'Running');
    assert.equal(still.status?.pid, running.status?.pid, 'the same process');
    // The superseded certificate is void once the new one has been used on a new connection.
    const certs = (await p.center.api.listTokens()).filter((t) => t.kind === 'certificate' && t.subject === 'node-a');
    assert.ok(certs.length <= 2 && certs.some((t) => t.id === now.serial));
    assert.ok(!certs.some((t) => t.id === first.serial), 'the first certificate is no longer on record');
  });

  test('a node offline past its certificate\'s end renews within the grace; past the grace it is refused and says so', async () => {
    const a = p.agents.get('node-a')!;
    const b = p.agents.get('node-b')!;
    await Promise.all([a.process.stop(), b.process.stop()]);
    const ends = (dir: string) => certificateInfo(nodeTls(dir).cert).notAfter.getTime();
    // node-a comes back just after its certificate ended, inside the 25 s grace.
    await waitFor(() => Date.now() > ends(a.dataDir) + 500 || undefined, 40_000, "node-a's certificate to end");
    const a2 = await p.startAgent('node-a');
    await a2.process.waitForLine((l) => l.event === 'rejected' && l.status === 495, 20_000);
    await a2.process.waitForLine((l) => l.event === 'certificate', 20_000);
    await a2.process.waitForLine((l) => l.event === 'connected', 20_000);
    assert.ok(certificateInfo(nodeTls(a2.dataDir).cert).notAfter.getTime() > Date.now(), 'a current certificate again');
    await waitFor(async () => (await p.center.api.get<Node>('Node', 'node-a')).status?.phase === 'Ready' || undefined, 20_000, 'node-a Ready');
    // node-b comes back after the grace: refused, with the way out named; it stops dialling.
    await waitFor(() => Date.now() > ends(b.dataDir) + 25_000 + 1000 || undefined, 60_000, "node-b's grace to end");
    const b2 = await p.startAgent('node-b');
    const refused = await b2.process.waitForLine((l) => l.event === 'revoked', 20_000);
    assert.match(String(refused.why), /past the renewal grace: join the node again/);
    assert.equal(b2.process.events('connected').length, 0);
  });
});

describe('TLS: devices over MQTTS', () => {
  let p: Platform;
  before(async () => {
    p = await startPlatform({ agents: [{ name: 'edge-a-1', site: 'edge-a', args: ['--mqtt-tls-listen', '127.0.0.1:0', '--mqtt-listen', 'off'] }] });
  });
  after(async () => {
    await p?.close();
  });

  test("mosquitto's clients verify the edge broker against the center's CA and talk over TLS; a wrong CA is refused; the node's status says it is TLS only", async () => {
    const agent = p.agents.get('edge-a-1')!;
    const broker = await agent.process.waitForLine((l) => l.event === 'broker', 20_000);
    const port = Number(broker.tls);
    assert.equal(broker.tcp, undefined, 'no plain listener unless asked');
    await p.center.api.apply(
      [
        { apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'sensor' }, spec: { site: 'edge-a' } },
        { apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'panel' }, spec: { site: 'edge-a', grants: { subscribe: ['devices/sensor/temp'] } } },
      ]
        .map((d) => JSON.stringify(d))
        .join('\n---\n'),
    );
    const sensor = await p.center.api.issueDeviceCredential('default', 'sensor');
    const panel = await p.center.api.issueDeviceCredential('default', 'panel');
    const tls = ['-h', '127.0.0.1', '-p', String(port), '--cafile', p.center.caFile, '-V', 'mqttv5'];
    const pub = (cafile: string) =>
      new Promise<number>((resolve) =>
        execFile('/usr/bin/mosquitto_pub', [...tls.map((x) => (x === p.center.caFile ? cafile : x)), '-i', sensor.clientId, '-u', sensor.username, '-P', sensor.password, '-t', 'devices/sensor/temp', '-m', '21.5', '-q', '1'], { timeout: 10_000 }, (err) => resolve(err ? Number((err as { code?: number }).code ?? -1) : 0)),
      );
    // The credentials reach the edge with the next sync.
    await waitFor(async () => (await pub(p.center.caFile)) === 0 || undefined, 20_000, 'a publish over MQTTS accepted');
    const sub = spawn('/usr/bin/mosquitto_sub', [...tls, '-i', panel.clientId, '-u', panel.username, '-P', panel.password, '-t', 'devices/sensor/temp', '-q', '1', '-v', '-C', '1', '-W', '20']);
    const lines: string[] = [];
    createInterface({ input: sub.stdout }).on('line', (l) => lines.push(l));
    const exited = new Promise<number | null>((resolve) => sub.on('close', (code) => resolve(code)));
    await waitFor(async () => ((await pub(p.center.caFile)) === 0 && lines.length > 0) || undefined, 20_000, 'the panel hears the sensor over TLS');
    assert.equal(await exited, 0);
    assert.equal(lines[0], 'devices/sensor/temp 21.5');
    // A client that trusts another CA does not get through the handshake.
    const otherCa = await startCenterProcess();
    try {
      assert.notEqual(await pub(otherCa.caFile), 0);
    } finally {
      await otherCa.process.stop();
      removeDir(otherCa.dataDir);
    }
    const node = await waitFor(async () => (await p.center.api.get<Node>('Node', 'edge-a-1')).status?.conditions.find((x) => x.type === 'MqttEncrypted'), 20_000, 'the MqttEncrypted condition');
    assert.equal(node.status, 'True');
    assert.equal((await new ApiClient(p.center.localUrl, p.center.adminToken).get<Node>('Node', 'edge-a-1')).metadata.name, 'edge-a-1', 'the loopback listener serves the same API');
  });

  test('devices sign in with X.509 client certificates from the center (their own key, a CSR); another device\'s, or a deleted one, is refused', async () => {
    const agent = p.agents.get('edge-a-1')!;
    const port = Number((await agent.process.waitForLine((l) => l.event === 'broker', 20_000)).tls);
    await p.center.api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'meter' }, spec: { site: 'edge-a' } }));
    const dir = mkdtempSync(join(tmpdir(), 'gedge-device-cert-'));
    try {
      const key = join(dir, 'meter.key');
      const csr = join(dir, 'meter.csr');
      const crt = join(dir, 'meter.crt');
      assert.equal(spawnSync('openssl', ['ecparam', '-genkey', '-name', 'prime256v1', '-noout', '-out', key]).status, 0);
      assert.equal(spawnSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=whatever-the-device-asks', '-out', csr]).status, 0);
      // Only an admin issues device certificates: a project's user is refused, and nothing is created.
      const user = new ApiClient(p.center.url, (await p.center.api.createToken({ kind: 'user', projects: ['default'] })).token, p.center.ca);
      await assert.rejects(user.issueDeviceCertificate('default', 'meter', { csr: readFileSync(csr, 'utf8') }), (e: Error & { status?: number }) => e.status === 403);
      // Through the CLI, as an operator would.
      const issued = spawnSync(process.execPath, ['bin/gedge.mjs', '--server', p.center.url, '--ca-file', p.center.caFile, '--token', p.center.adminToken, 'device', 'certificate', 'meter', '--csr', csr], { cwd: REPO_ROOT, encoding: 'utf8' });
      assert.equal(issued.status, 0, issued.stderr);
      writeFileSync(crt, issued.stdout);
      const info = certificateInfo(issued.stdout);
      assert.equal(info.commonName, 'default/meter', 'the center names the device, not the request');
      const pub = (clientId: string) =>
        new Promise<number>((resolve) =>
          execFile('/usr/bin/mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '--cafile', p.center.caFile, '--cert', crt, '--key', key, '-V', 'mqttv5', '-i', clientId, '-t', `devices/${clientId}/reading`, '-m', '1', '-q', '1'], { timeout: 10_000 }, (err) =>
            resolve(err ? Number((err as { code?: number }).code ?? -1) : 0),
          ),
        );
      await waitFor(async () => (await pub('meter')) === 0 || undefined, 20_000, 'the certificate accepted at the edge (no password)');
      assert.notEqual(await pub('sensor'), 0, "meter's certificate does not sign in as another device");
      await p.center.api.delete('DeviceCredential', info.serial);
      await waitFor(async () => (await pub('meter')) !== 0 || undefined, 20_000, 'the deleted certificate refused at the edge');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
