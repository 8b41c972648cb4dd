import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import pty from 'node-pty';
import { ApiClient, ForbiddenError, NotFoundError, UnauthorizedError, ValidationError, type GedgeEvent, type Instance } from '../../core/index.ts';
import { REPO_ROOT, pidAlive, startPlatform, testService, waitFor, type Platform } from '../../testkit/index.ts';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real gedge CLI; resolves on 'close', when all its output is in. */
function gedge(p: Platform, args: string[], o: { token?: string; input?: Buffer | string } = {}): Promise<CliResult> {
  const proc = spawn(process.execPath, ['bin/gedge.mjs', '--server', p.center.url, '--ca-file', p.center.caFile, '--token', o.token ?? p.center.adminToken, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, GEDGE_CONFIG: '/nonexistent/gedge-config' },
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  proc.stdout.on('data', (d: Buffer) => out.push(d));
  proc.stderr.on('data', (d: Buffer) => err.push(d));
  proc.stdin.end(o.input ?? '');
  return new Promise((resolve) => proc.once('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })));
}

test('exec and logs through the agent connection, authorised per project', async () => {
  const p = await startPlatform({ heartbeatMs: 300, agents: [{ name: 'edge-a-1', site: 'edge-a', viaLink: true }] });
  try {
    const api = p.center.api;
    await api.apply('apiVersion: gedge.io/v1\nkind: Project\nmetadata: { name: other }\nspec: {}\n');
    // One line every 50 ms, each with the time it was written.
    await api.apply(JSON.stringify(testService('talker', { script: "let n = 0; setInterval(() => console.log('tick ' + n++ + ' ' + Date.now()), 50)" })));
    const inst = await waitFor(async () => (await api.list<Instance>('Instance', { selector: 'app=talker' })).items.find((i) => i.status?.phase === 'Running'), 20_000, 'talker running');
    const name = inst.metadata.name;

    // exec: stdout and stderr apart, the command's exit code is the CLI's.
    let r = await gedge(p, ['exec', name, '--', 'sh', '-c', 'echo out; echo err >&2; echo "$GEDGE_INSTANCE"; exit 7']);
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, `out\n${name}\n`, 'stdout, in the workload environment');
    assert.equal(r.stderr, 'err\n');

    // -i: stdin goes through, to its end; 3 MiB both ways (more than the flow-control window).
    const big = Buffer.alloc(3 * 1024 * 1024, 'gedge exec flow control\n');
    r = await gedge(p, ['exec', name, '--', 'cat'], { input: 'not passed on' });
    assert.deepEqual([r.code, r.stdout], [0, ''], 'without -i the command sees end of input at once');
    r = await gedge(p, ['exec', '-i', name, '--', 'sh', '-c', 'cat | sha256sum'], { input: big });
    assert.equal(r.stdout.split(' ')[0], createHash('sha256').update(big).digest('hex'), 'stdin arrives whole');
    r = await gedge(p, ['exec', '-i', name, '--', 'cat'], { input: big });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Buffer.from(r.stdout).equals(big), `stdout comes back whole (${r.stdout.length} bytes)`);

    // -t on a real terminal: raw mode, the terminal's size, SIGWINCH -> resize.
    const term = pty.spawn(process.execPath, ['bin/gedge.mjs', '--server', p.center.url, '--ca-file', p.center.caFile, '--token', p.center.adminToken, 'exec', '-it', name, '--', 'sh', '-c', 'stty size; while [ "$(stty size)" = "31 101" ]; do sleep 0.05; done; stty size; read x; echo "got $x"; exit 3'], {
      cols: 101,
      rows: 31,
      cwd: REPO_ROOT,
      env: { ...process.env, GEDGE_CONFIG: '/nonexistent/gedge-config' } as Record<string, string>,
    });
    let screen = '';
    term.onData((d) => (screen += d));
    const termExit = new Promise<number>((resolve) => term.onExit((e) => resolve(e.exitCode)));
    await waitFor(() => screen.includes('31 101'), 20_000, 'the remote terminal has the local size');
    term.resize(120, 40);
    await waitFor(() => screen.includes('40 120'), 20_000, 'the resize reached the remote terminal');
    term.write('go\r');
    assert.equal(await termExit, 3, screen);
    assert.match(screen, /got go/, 'typed input reaches the remote terminal');

    // Bad requests are refused before anything runs.
    r = await gedge(p, ['exec', 'no-such-instance', '--', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Instance "no-such-instance" not found/);
    await assert.rejects(api.exec(name, { command: [] }), ValidationError);
    await assert.rejects(new ApiClient(p.center.url, `gdg_${'0'.repeat(16)}_${'a'.repeat(43)}`, p.center.ca).exec(name, { command: ['true'] }), UnauthorizedError);
    const plain = await api.raw('GET', `/api/v1/instances/${name}/exec?command=true`);
    assert.equal(plain.status, 400);
    assert.match(((await plain.json()) as { message: string }).message, /needs a WebSocket upgrade/);

    // The client going away kills the command; so does the agent's connection dropping.
    for (const how of ['client', 'agent'] as const) {
      let out = '';
      const session = await api.exec(name, { command: ['sh', '-c', 'echo $$; exec sleep 300'] }, { stdout: (d) => (out += d.toString()) });
      const pid = Number(await waitFor(() => /^(\d+)\n/.exec(out)?.[1], 10_000, 'the pid'));
      assert.ok(pidAlive(pid));
      if (how === 'client') session.close();
      else p.links.get('edge-a-1')!.cut();
      if (how === 'agent') await assert.rejects(session.exit, /disconnected/);
      await waitFor(() => !pidAlive(pid), 10_000, `the command gone after the ${how} left`);
      p.links.get('edge-a-1')!.restore();
    }
    await waitFor(async () => (await p.readyNodes()).length === 1 && (await gedge(p, ['exec', name, '--', 'true'])).code === 0, 20_000, 'the agent back');

    // Every exec is audited: who ran what, and how it ended.
    const events = await waitFor(async () => {
      const all = (await api.list<GedgeEvent>('Event', { selector: `gedge.io/involved-name=${name}` })).items;
      return all.some((e) => e.spec.reason === 'ExecEnded' && /exit code 7/.test(e.spec.message)) ? all : undefined;
    }, 10_000, 'exec events');
    const admin = (await api.listTokens()).find((t) => t.kind === 'admin')!;
    const started = events.find((e) => e.spec.reason === 'Exec' && e.spec.message.includes('echo out'));
    assert.ok(started, 'an Exec event for the command');
    assert.match(started.spec.message, new RegExp(`token ${admin.id} \\(admin, "bootstrap admin"\\) runs sh -c 'echo out; echo err >&2;`));
    assert.equal(started.spec.involved.project, 'default');

    // logs -f follows lines as they are written.
    const follow = spawn(process.execPath, ['bin/gedge.mjs', '--server', p.center.url, '--ca-file', p.center.caFile, '--token', p.center.adminToken, 'logs', name, '-f', '--tail', '0'], { cwd: REPO_ROOT });
    let followed = '';
    follow.stdout.on('data', (d: Buffer) => (followed += d.toString()));
    const first = Number(await waitFor(() => /tick (\d+) /.exec(followed)?.[1], 10_000, 'a followed line'));
    await waitFor(() => followed.includes(`tick ${first + 20} `), 10_000, 'lines written after the start');
    const followClosed = new Promise((resolve) => follow.once('close', resolve));
    follow.kill('SIGINT');
    await followClosed;

    // --since drops what was written before (to the index's one second), keeps all after.
    const since = Date.now();
    await waitFor(async () => (await gedge(p, ['logs', name, '--tail', '200'])).stdout.split('\n').some((l) => Number(l.split(' ')[2]) > since + 500), 10_000, 'lines after the mark');
    for (const arg of [new Date(since).toISOString(), '1s']) {
      const before = Date.now();
      r = await gedge(p, ['logs', name, '--since', arg]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n').map((l) => l.split(' '));
      const times = lines.map((l) => Number(l[2]));
      const from = arg === '1s' ? before - 1000 : since;
      assert.ok(times[0]! >= from - 1000, `${arg}: the first line (${times[0]}) is at most a second before ${from}`);
      assert.ok(Number(lines[0]![1]) > 0, `${arg}: older lines are dropped`);
      lines.forEach((l, i) => i && assert.equal(Number(l[1]), Number(lines[i - 1]![1]) + 1, `${arg}: no line missing`));
    }
    r = await gedge(p, ['logs', name, '--since', 'yesterday']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--since: expected a duration like 10m/);

    // User tokens: their projects only; another project's instance is refused whether or not it exists.
    r = await gedge(p, ['token', 'create', '--kind', 'user', '--project', 'other', '--description', 'other team']);
    assert.equal(r.code, 0, r.stderr);
    const otherToken = r.stdout.trim();
    const other = new ApiClient(p.center.url, otherToken, p.center.ca);
    for (const target of [name, 'no-such-instance']) {
      const res = await other.raw('GET', `/api/v1/instances/${target}/logs`);
      assert.equal(res.status, 403);
      assert.deepEqual(Object.keys((await res.json()) as object), ['code', 'message', 'details']);
      await assert.rejects(other.exec(target, { command: ['true'] }), (e: Error) => e instanceof ForbiddenError && /may not use project "default"/.test(e.message));
    }
    r = await gedge(p, ['exec', name, '--', 'true'], { token: otherToken });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /may not use project "default"/);
    r = await gedge(p, ['logs', name], { token: otherToken });
    assert.match(r.stderr, /may not use project "default"/);
    await assert.rejects(other.list('Instance', { project: 'default' }), ForbiddenError);
    assert.deepEqual((await other.list('Instance')).items, [], 'a list across projects shows only its own');
    assert.ok(!(await other.list<GedgeEvent>('Event')).items.some((e) => e.spec.involved.project !== 'other'), 'events of its projects only');
    await assert.rejects(other.apply(JSON.stringify(testService('intruder'))), ForbiddenError);
    await assert.rejects(other.apply('apiVersion: gedge.io/v1\nkind: Project\nmetadata: { name: mine }\nspec: {}\n'), ForbiddenError);
    await assert.rejects(other.delete('Project', 'other'), ForbiddenError);
    await assert.rejects(other.listTokens(), ForbiddenError);
    assert.equal((await other.get('Node', 'edge-a-1')).metadata.name, 'edge-a-1', 'cluster-scoped objects are readable');
    // In its own project it may do what a user does.
    const svc = { ...testService('theirs'), metadata: { name: 'theirs', project: 'other', labels: { app: 'theirs' } } };
    assert.equal((await other.apply(JSON.stringify(svc)))[0]!.action, 'created');
    const theirs = await waitFor(async () => (await other.list<Instance>('Instance', { project: 'other' })).items.find((i) => i.status?.phase === 'Running'), 20_000, 'their instance running');
    r = await gedge(p, ['exec', '-p', 'other', theirs.metadata.name, '--', 'echo', 'hi'], { token: otherToken });
    assert.deepEqual([r.code, r.stdout], [0, 'hi\n'], r.stderr);
    await assert.rejects(other.get('Instance', theirs.metadata.name, 'default'), ForbiddenError);
    await assert.rejects(other.get('Instance', 'nope', 'other'), NotFoundError);
    await other.delete('Service', 'theirs', 'other');
  } finally {
    await p.close();
  }
});
