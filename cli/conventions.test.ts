import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KINDS } from '../core/index.ts';
import { REPO_ROOT, removeDir, startCenterProcess, waitFor, type CenterHandle } from '../testkit/index.ts';

/** The CLI as a kubectl user expects it, against a real center. */
describe('CLI conventions', () => {
  let c: CenterHandle;
  const dir = mkdtempSync(join(tmpdir(), 'gedge-cli-conv-'));
  const gedge = (...args: string[]) => spawnSync(process.execPath, ['bin/gedge.mjs', '--server', c.url, '--ca-file', c.caFile, '--token', c.adminToken, ...args], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, GEDGE_CONFIG: join(dir, 'config') } });
  const service = (name: string, labels: Record<string, string>) => JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Service', metadata: { name, project: 'conv', labels }, spec: { template: { command: ['x'] } } });

  before(async () => {
    c = await startCenterProcess();
    await c.api.apply([JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: 'conv' }, spec: {} }), service('a', { app: 'web' }), service('b', { app: 'web' }), service('c', { app: 'db' })].join('\n---\n'));
  });
  after(async () => {
    await c.process.stop();
    removeDir(c.dataDir);
    removeDir(dir);
  });

  test('get --help and an unknown kind list every kind', () => {
    const help = gedge('get', '--help').stdout.replace(/\s+/g, ' ');
    for (const k of Object.values(KINDS)) assert.ok(help.includes(k.plural), `${k.plural} in: ${help}`);
    const bad = gedge('get', 'widgets');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /unknown resource type "widgets" \(one of: projects/);
  });

  test('-o name prints kind/name; an empty list says so on stderr and prints nothing on stdout', () => {
    const names = gedge('get', 'services', '-p', 'conv', '-o', 'name');
    assert.equal(names.status, 0, names.stderr);
    assert.deepEqual(names.stdout.trim().split('\n'), ['service/a', 'service/b', 'service/c']);
    const none = gedge('get', 'services', '-p', 'conv', '-l', 'app=nothing');
    assert.equal(none.status, 0);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /No services found in project conv\./);
    assert.equal(JSON.parse(gedge('get', 'services', '-p', 'conv', '-l', 'app=nothing', '-o', 'json').stdout).items.length, 0, 'json still prints an empty list');
  });

  test('-o jsonpath and -o custom-columns read fields as kubectl does; a bad template is refused with where it fails', () => {
    const names = gedge('get', 'services', '-p', 'conv', '-o', 'jsonpath={.items[*].metadata.name}');
    assert.equal(names.status, 0, names.stderr);
    assert.equal(names.stdout.trim(), 'a b c');
    const ranged = gedge('get', 'services', '-p', 'conv', '-l', 'app=web', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.metadata.labels.app}{"\\n"}{end}');
    assert.equal(ranged.stdout, 'a=web\nb=web\n');
    const filtered = gedge('get', 'services', '-p', 'conv', '-o', 'jsonpath={.items[?(@.metadata.labels.app=="db")].metadata.name}');
    assert.equal(filtered.stdout.trim(), 'c');
    assert.equal(gedge('get', 'service', 'a', '-p', 'conv', '-o', 'jsonpath={.metadata.project}/{.metadata.name}').stdout.trim(), 'conv/a', 'one object: the template reads it, not a list');
    const cols = gedge('get', 'services', '-p', 'conv', '-o', 'custom-columns=NAME:.metadata.name,APP:.metadata.labels.app,NODE:.spec.node');
    assert.equal(cols.status, 0, cols.stderr);
    assert.deepEqual(cols.stdout.trim().split('\n').map((l) => l.split(/\s+/)), [['NAME', 'APP', 'NODE'], ['a', 'web', '<none>'], ['b', 'web', '<none>'], ['c', 'db', '<none>']]);
    for (const [output, message] of [
      ['jsonpath={.items[*].metadata.name', /the "\{" at character 1 is never closed/],
      ['jsonpath={range .items[*]}{.metadata.name}', /the \{range\} at character 1 has no \{end\}/],
      ['custom-columns=NAME', /column 1 \("NAME"\) is not HEADER:EXPRESSION/],
      ['yml', /unknown format "yml" \(table \| wide \| json \| yaml \| name \| jsonpath=TEMPLATE/],
    ] as const) {
      const bad = gedge('get', 'services', '-p', 'conv', '-o', output);
      assert.equal(bad.status, 1, output);
      assert.match(bad.stderr, message);
      assert.equal(bad.stdout, '');
    }
  });

  test('shell completion: bash completes commands, kinds, flags and, from the center, object names', () => {
    // `gedge` on PATH as a user has it, talking to this center through the environment.
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'gedge'), `#!/bin/sh\nexec "${process.execPath}" "${join(REPO_ROOT, 'bin', 'gedge.mjs')}" "$@"\n`, { mode: 0o755 });
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, GEDGE_CONFIG: join(dir, 'config'), GEDGE_SERVER: c.url, GEDGE_TOKEN: c.adminToken, GEDGE_CA_FILE: c.caFile };
    const complete = (...words: string[]) => {
      const line = words.map((w) => `'${w}'`).join(' ');
      const script = `source <(gedge completion bash); COMP_WORDS=(gedge ${line}); COMP_CWORD=${words.length}; _gedge; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', env });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean);
    };
    assert.deepEqual(complete('ge'), ['get']);
    assert.ok(complete('get', '').includes('services') && complete('get', '').includes('sitelinks'));
    assert.deepEqual(complete('get', 'services', '--out'), ['--output']);
    assert.deepEqual(complete('get', 'services', '-p', 'conv', ''), ['a', 'b', 'c'], 'names from the center, in the project given');
    assert.deepEqual(complete('rollout', 'undo', '-p', 'conv', 'b'), ['b']);
    assert.deepEqual(complete('rollout', 'un'), ['undo']);
    assert.deepEqual(gedge('completion', 'tcsh').stderr.trim(), 'error: completion: unknown shell "tcsh" (bash, zsh or fish)');
  });

  test('get -w prints later rows in the columns of the header', async () => {
    const child = spawn(process.execPath, ['bin/gedge.mjs', '--server', c.url, '--ca-file', c.caFile, '--token', c.adminToken, 'get', 'services', '-p', 'conv', '-w'], { cwd: REPO_ROOT, env: { ...process.env, GEDGE_CONFIG: join(dir, 'config') } });
    const lines: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
    try {
      await waitFor(() => lines.length >= 4, 20_000, 'the header and three services');
      await c.api.apply(service('w', { app: 'later' }));
      const row = await waitFor(() => lines.find((l) => l.startsWith('w ')), 20_000, 'the new service\'s row');
      const starts = (l: string) => [...l.matchAll(/(?:^|\s{2,})(\S)/g)].map((m) => m.index! + m[0].length - 1);
      assert.deepEqual(starts(row).slice(0, 4), starts(lines[0]!).slice(0, 4), `${lines[0]}\n${row}`);
    } finally {
      child.kill();
      await c.api.delete('Service', 'w', 'conv');
    }
  });

  test('delete by selector, by manifest and --all; exactly one way of naming what to delete', async () => {
    const ambiguous = gedge('delete', 'services', 'a', '--all');
    assert.equal(ambiguous.status, 1);
    assert.match(ambiguous.stderr, /exactly one of: a NAME, -l SELECTOR, --all, or -f FILE/);

    const bySelector = gedge('delete', 'services', '-p', 'conv', '-l', 'app=web');
    assert.equal(bySelector.status, 0, bySelector.stderr);
    assert.deepEqual(bySelector.stdout.trim().split('\n'), ['service/a deleted', 'service/b deleted']);

    const file = join(dir, 'more.yaml');
    writeFileSync(file, [service('d', {}), service('e', {})].join('\n---\n'));
    assert.equal(gedge('apply', '-f', file).status, 0);
    const byFile = gedge('delete', '-f', file);
    assert.equal(byFile.status, 0, byFile.stderr);
    assert.deepEqual(byFile.stdout.trim().split('\n').sort(), ['service/d deleted', 'service/e deleted']);
    const again = gedge('delete', '-f', file);
    assert.equal(again.status, 1, 'deleting what is gone fails, naming each');
    assert.match(again.stderr, /service\/d: .*not found/);

    const all = gedge('delete', 'services', '-p', 'conv', '--all');
    assert.equal(all.status, 0, all.stderr);
    assert.deepEqual(all.stdout.trim().split('\n'), ['service/c deleted']);
    assert.equal((await c.api.list('Service', { project: 'conv' })).items.length, 0);
  });

  test('one duration grammar on every flag: 1h30m works wherever a duration goes, a bare number is refused naming the flag', () => {
    const token = gedge('token', 'create', '--kind', 'metrics', '--ttl', '1h30m');
    assert.equal(token.status, 0, token.stderr);
    const bare = gedge('token', 'create', '--kind', 'metrics', '--ttl', '3600');
    assert.equal(bare.status, 1);
    assert.match(bare.stderr, /--ttl: expected a duration like 90s, 1h30m, 500ms or 7d, got "3600"/);
    const timeout = gedge('rollout', 'status', 'nothing-here', '-p', 'conv', '--timeout', '1h30m');
    assert.doesNotMatch(timeout.stderr, /--timeout/, 'rollout status takes 1h30m too');
    const badTimeout = gedge('rollout', 'status', 'nothing-here', '--timeout', '10');
    assert.match(badTimeout.stderr, /--timeout: expected a duration/);
    // The process flags too: the ones that took milliseconds say what to write now, and nothing starts.
    const center = spawnSync(process.execPath, ['bin/gedge.mjs', 'center', '--data-dir', join(dir, 'never'), '--port', '0', '--heartbeat-ms', '300'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(center.status, 1);
    assert.match(center.stderr, /--heartbeat-ms is now --heartbeat-interval, a duration: write --heartbeat-interval 300ms/);
    const agent = spawnSync(process.execPath, ['bin/gedge.mjs', 'agent', '--center', c.url, '--data-dir', join(dir, 'never'), '--uplink-ttl', '3600'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(agent.status, 1);
    assert.match(agent.stderr, /--uplink-ttl: expected a duration like 90s/);
    assert.equal(existsSync(join(dir, 'never')), false, 'refused before anything was made');
  });

  test('contexts: login saves one per center and token, use-context switches, --context picks one for a command', async () => {
    const config = join(dir, 'contexts');
    const bare = (...args: string[]) => spawnSync(process.execPath, ['bin/gedge.mjs', ...args], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, GEDGE_CONFIG: config } });
    const user = await c.api.createToken({ kind: 'user', projects: ['conv'] });
    assert.equal(bare('login', '--server', c.url, '--token', c.adminToken, '--ca-file', c.caFile, '--context', 'admin').status, 0);
    const login = bare('login', '--server', c.url, '--token', user.token, '--ca-file', c.caFile, '--context', 'conv-user');
    assert.equal(login.status, 0, login.stderr);
    assert.match(login.stdout, /as context "conv-user"/);

    const listed = bare('config', 'get-contexts').stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
    assert.deepEqual(listed, [['CURRENT', 'NAME', 'SERVER'], ['admin', c.url], ['*', 'conv-user', c.url]]);
    assert.equal(bare('config', 'current-context').stdout.trim(), 'conv-user');
    // The user's context may not list tokens; the admin's may, through --context or once it is current.
    assert.equal(bare('token', 'list').status, 1);
    assert.equal(bare('--context', 'admin', 'token', 'list').status, 0);
    assert.equal(bare('config', 'use-context', 'admin').status, 0);
    assert.equal(bare('token', 'list').status, 0);
    const missing = bare('--context', 'nowhere', 'get', 'projects');
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no context "nowhere"/);
    assert.equal(bare('config', 'delete-context', 'conv-user').status, 0);
    assert.deepEqual(bare('config', 'get-contexts').stdout.trim().split('\n').length, 2);
  });

  test('a config from before contexts reads as the context "default"', () => {
    const config = join(dir, 'old-config');
    writeFileSync(config, JSON.stringify({ server: c.url, token: c.adminToken, ca: c.ca }));
    const r = spawnSync(process.execPath, ['bin/gedge.mjs', 'get', 'projects', '-o', 'name'], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, GEDGE_CONFIG: config } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /project\/default/);
    assert.match(spawnSync(process.execPath, ['bin/gedge.mjs', 'config', 'get-contexts'], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, GEDGE_CONFIG: config } }).stdout, /\*\s+default/);
  });
});
