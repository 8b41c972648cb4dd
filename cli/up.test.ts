import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, type Instance, type Node } from '../core/index.ts';
import { REPO_ROOT, removeDir, waitFor, pidAlive } from '../testkit/index.ts';

/** Runs `gedge up` as `npm start` does and stops it as Ctrl-C does (SIGINT to the process group). */
function up(dir: string, env: Record<string, string>) {
  const proc = spawn(process.execPath, ['bin/gedge.mjs', 'up', '--data-dir', dir, '--port', '0'], { cwd: REPO_ROOT, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  return {
    output: () => out,
    exited,
    interrupt: () => process.kill(-proc.pid!, 'SIGINT'),
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

test('gedge up (npm start) runs the platform with hello on the edges, stops cleanly on Ctrl-C and resumes from the same state', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-up-'));
  const env = { GEDGE_CONFIG: join(dir, 'cli-config') };
  try {
    const first = up(dir, env);
    await waitFor(() => /hello: 3\/3 ready/.test(first.output()), 90_000, 'hello ready');
    const out = first.output();
    const url = /API:\s+(\S+)\/api\/v1/.exec(out)![1]!;
    const token = /Admin token:\s+(\S+)/.exec(out)![1]!;
    for (const cmd of ['npx gedge get nodes', 'npx gedge get instances -o wide', 'npx gedge describe service hello']) assert.ok(out.includes(cmd), `suggests ${cmd}`);
    assert.equal(JSON.parse(readFileSync(env.GEDGE_CONFIG, 'utf8')).server, url, 'the CLI is logged in');
    const brokers = [...out.matchAll(/(edge-[ab]) mqtt:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => [`${m[1]}-1`, Number(m[2])]);
    assert.equal(brokers.length, 2, 'each edge runs a broker for its devices');
    const api = new ApiClient(url, token);
    const nodes = (await api.list<Node>('Node')).items;
    assert.deepEqual(brokers.map(([node]) => nodes.find((n) => n.metadata.name === node)?.status?.mqtt?.tcp), brokers.map(([, port]) => port), 'as the nodes report them');
    const before = (await api.list<Instance>('Instance')).items;
    assert.equal(before.length, 3);
    assert.ok(before.every((i) => i.spec.node === 'edge-a-1' || i.spec.node === 'edge-b-1'));

    first.interrupt();
    assert.equal(await first.exited, 0);
    await waitFor(async () => (await processesUnder(dir)) === 0, 10_000, 'no center or agent left running');
        assert.ok(before.every((i) => i.status?.pid && !pidAlive(i.status.pid)), 'no workload left running');

    const second = up(dir, env);
    await waitFor(() => /hello: 3\/3 ready/.test(second.output()), 90_000, 'hello ready again');
    const url2 = /API:\s+(\S+)\/api\/v1/.exec(second.output())![1]!;
    const after = (await new ApiClient(url2, token).list<Instance>('Instance')).items;
    assert.deepEqual(after.map((i) => i.metadata.name).sort(), before.map((i) => i.metadata.name).sort(), 'same instances, resumed from state');
    second.interrupt();
    assert.equal(await second.exited, 0);
  } finally {
    removeDir(dir);
  }
});
