import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, type Instance, type Node, type SiteLink } from '../core/index.ts';
import { REPO_ROOT, removeDir, waitFor, pidAlive } from '../testkit/index.ts';

/** Runs `gedge up` as `npm start` does and stops it as Ctrl-C does (SIGINT to the process group). */
function up(dir: string, env: Record<string, string>) {
  const proc = spawn(process.execPath, ['bin/gedge.mjs', 'up', '--data-dir', dir, '--port', '0', '--devices', '48', '--rate', '5'], { cwd: REPO_ROOT, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  return {
    output: () => out,
    exited,
    interrupt: () => process.kill(-proc.pid!, 'SIGINT'),
    /** After a failure: the whole process group, at once. */
    kill: () => proc.exitCode === null && proc.signalCode === null && process.kill(-proc.pid!, 'SIGKILL'),
  };
}

const processesUnder = (dir: string) => {
  const ps = spawn('pgrep', ['-f', dir]);
  return new Promise<number>((r) => {
    let o = '';
    ps.stdout.on('data', (d: Buffer) => (o += d.toString()));
    ps.on('close', () => r(o.trim() ? o.trim().split('\n').length : 0));
  });
};

/** hello's 3 replicas Running and ready (on the edges). */
const helloReady = async (api: ApiClient) => {
  const all = (await api.list<Instance>('Instance', { selector: 'app=hello' })).items;
  return all.length === 3 && all.every((i) => i.status?.phase === 'Running' && i.status.ready) ? all : undefined;
};

test('gedge up (npm start) runs the smart city and hello on the edges, stops cleanly on Ctrl-C and resumes from the same state', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-up-'));
  const env = { GEDGE_CONFIG: join(dir, 'cli-config') };
  const runs: ReturnType<typeof up>[] = [];
  try {
    const first = up(dir, env);
    runs.push(first);
    // Up: the banner, then the status line once the edges and the cloud have decided lights (the scenario runs).
    // The cloud's figures need the bridge Routes, center to broker over MQTTS, both ways.
    await waitFor(() => /control loop: edge p50 [\d.]+ \/ p99 [\d.]+ ms, cloud p50 [\d.]+/.test(first.output()), 150_000, 'edge and cloud control-loop figures');
    const out = first.output();
    const url = /API:\s+(\S+)\/api\/v1/.exec(out)![1]!;
    const token = /Admin token:\s+(\S+)/.exec(out)![1]!;
    for (const cmd of ['npx gedge get rules -p city', 'npx gedge get nodes', 'npx gedge messages city-view -p city']) assert.ok(out.includes(cmd), `suggests ${cmd}`);
    const cli = JSON.parse(readFileSync(env.GEDGE_CONFIG, 'utf8')) as { current: string; contexts: Record<string, { server: string }> };
    assert.equal(cli.contexts[cli.current]?.server, url, 'the CLI is logged in (context gedge-up)');
    const brokers = [...out.matchAll(/(cloud|edge-[a-d]) mqtts:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => [`${m[1]}-1`, Number(m[2])]);
    assert.equal(brokers.length, 5, 'the cloud and each edge run a broker');
    const ca = readFileSync(join(dir, 'center', 'pki', 'ca.crt'), 'utf8');
    const api = new ApiClient(url, token, ca);
    const nodes = (await api.list<Node>('Node')).items;
    assert.equal(nodes.length, 6, 'a node per site');
    assert.deepEqual(brokers.map(([node]) => nodes.find((n) => n.metadata.name === node)?.status?.mqtt?.tls), brokers.map(([, port]) => port), 'as the nodes report them');
    // The scenario's brokers speak MQTTS only: its devices (the control loop above) and bridges verify the edges' certificates.
    for (const [node] of brokers) {
      const n = nodes.find((x) => x.metadata.name === node)!;
      assert.equal(n.status?.mqtt?.tcp, undefined, `${String(node)} has no plain listener`);
      assert.equal(n.status?.conditions.find((c) => c.type === 'MqttEncrypted')?.status, 'True', `${String(node)} reports MQTT encrypted`);
    }
    // The latency map measures the city's WAN (each agent's probes cross its site's link), not the machine's loopback:
    // edge to cloud 2 (5 + 20) ms, edge to edge 2 (5 + 5), edge to region 2 (5 + 0). Delays are floors: busier adds, never less.
    const rtt = async (a: string, b: string) => (await api.list<SiteLink>('SiteLink')).items.find((l) => l.spec.sites.join() === [a, b].sort().join())?.status?.rttMs ?? undefined;
    // The center keeps a pair's mean once both directions reported (one direction alone crosses one site's link only): wait for the city.
    let seen = {};
    const map = await waitFor(async () => {
      const [ce, ee, re] = await Promise.all([rtt('cloud', 'edge-a'), rtt('edge-a', 'edge-b'), rtt('edge-a', 'region-gangnam')]);
      seen = { ce, ee, re };
      return ce !== undefined && ee !== undefined && re !== undefined && ce >= 45 && ee >= 18 && re >= 9 ? { ce, ee, re } : undefined;
    }, 90_000, 'the map to show the city').catch((e: unknown) => {
      throw new Error(`${(e as Error).message}: last seen ${JSON.stringify(seen)}`);
    });
    t.diagnostic(`the latency map: cloud-edge ${map.ce} ms, edge-edge ${map.ee} ms, region-edge ${map.re} ms`);
    const before = await waitFor(() => helloReady(api), 90_000, 'hello ready');
    assert.ok(before.every((i) => /^edge-[a-d]-1$/.test(i.spec.node ?? '')));

    first.interrupt();
    assert.equal(await first.exited, 0);
    await waitFor(async () => (await processesUnder(dir)) === 0, 10_000, 'no center or agent left running');
    assert.ok(before.every((i) => i.status?.pid && !pidAlive(i.status.pid)), 'no workload left running');

    const second = up(dir, env);
    runs.push(second);
    await waitFor(() => /Dashboard:/.test(second.output()), 120_000, 'up again');
    const url2 = /API:\s+(\S+)\/api\/v1/.exec(second.output())![1]!;
    const after = await waitFor(() => helloReady(new ApiClient(url2, token, ca)), 90_000, 'hello ready again');
    assert.deepEqual(after.map((i) => i.metadata.name).sort(), before.map((i) => i.metadata.name).sort(), 'same instances, resumed from state');
    second.interrupt();
    assert.equal(await second.exited, 0);
  } finally {
    for (const r of runs) r.kill();
    removeDir(dir);
  }
});
