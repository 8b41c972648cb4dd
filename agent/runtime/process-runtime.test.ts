import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StartFailedError } from './errors.ts';
import { ProcessRuntime, killProcessGroup } from './process-runtime.ts';
import { runtimeContract } from './runtime-contract.ts';
import { isAlive, makeTempDir, nodeCommand, readAll, template, waitFor } from './test-helpers.ts';

runtimeContract('process', () => new ProcessRuntime());

describe('ProcessRuntime', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir: root, cleanup } = await makeTempDir()));
  after(async () => cleanup());

  it('rejects a missing working directory with StartFailedError', async () => {
    const spec = { id: 'default.nocwd', template: template({ command: ['/bin/sh', '-c', 'true'], cwd: join(root, 'missing') }), env: {}, ports: {}, volumes: {}, logDir: join(root, 'nocwd') };
    await assert.rejects(new ProcessRuntime().start(spec), (err: unknown) => err instanceof StartFailedError && /working directory/.test(err.message));
  });

  it('runs in the template cwd', async () => {
    const runtime = new ProcessRuntime();
    const spec = { id: 'default.cwd', template: template({ command: ['/bin/sh', '-c', 'pwd'], cwd: root }), env: {}, ports: {}, volumes: {}, logDir: join(root, 'cwd') };
    await (await runtime.start(spec)).exited;
    assert.equal(await readAll(runtime, spec.logDir), `${root}\n`);
  });

  it('reap ends what a crashed agent left, and leaves alone a process that now holds the recorded id', async () => {
    const runtime = new ProcessRuntime();
    const spec = { id: 'default.left', template: template({ command: nodeCommand('setInterval(() => {}, 1000);'), stopGracePeriod: '100ms' }), env: { GEDGE_INSTANCE: 'left', PORT: '4711' }, ports: {}, volumes: {}, logDir: join(root, 'left') };
    const left = await runtime.start(spec);
    // Another process (a pid that wrapped round): the same id, not the workload's environment.
    const stranger = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000);'], { detached: true, stdio: 'ignore', env: { GEDGE_INSTANCE: 'left', PORT: '4712' } });
    try {
      await runtime.reap(spec, stranger.pid!);
      assert.ok(isAlive(stranger.pid!), 'not the workload: left alone');
      await runtime.reap(spec, left.pid!);
      assert.equal((await left.exited).signal, 'SIGTERM');
    } finally {
      stranger.kill('SIGKILL');
    }
  });

  it('caps the log with the given rotation limits', async () => {
    const runtime = new ProcessRuntime({ log: { maxBytes: 1000, keep: 1 } });
    const spec = { id: 'default.chatty', template: template({ command: nodeCommand("for (let i = 0; i < 100; i++) console.log('x'.repeat(49));") }), env: {}, ports: {}, volumes: {}, logDir: join(root, 'chatty') };
    await (await runtime.start(spec)).exited;
    const files = (await readdir(spec.logDir)).filter((f) => !f.endsWith('.idx')).sort(); // the time indexes rotate with them
    assert.deepEqual(files, ['current.log', 'current.log.1']);
    for (const file of files) assert.ok((await stat(join(spec.logDir, file))).size <= 1000);
  });
});

describe('killProcessGroup', () => {
  it('ends a group left behind by a crashed agent, with SIGKILL when SIGTERM is ignored', async () => {
    const child = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); console.log('armed'); setInterval(() => {}, 1000);"], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    await once(child.stdout, 'data');
    const pid = child.pid ?? 0;
    const exited = once(child, 'exit');
    const began = Date.now();
    await killProcessGroup(pid, 200);
    assert.ok(Date.now() - began >= 190, 'waited out the grace period');
    assert.deepEqual(await exited, [null, 'SIGKILL']);
    await waitFor(() => !isAlive(pid), 2000, 'the leader to be reaped');
  });

  it('does nothing for a group that is already gone', async () => {
    const child = spawn('/bin/sh', ['-c', 'exit 0'], { detached: true, stdio: 'ignore' });
    await once(child, 'exit');
    const began = Date.now();
    await killProcessGroup(child.pid ?? 0, 10_000);
    assert.ok(Date.now() - began < 1000);
  });

  it('refuses ids that would signal other processes', async () => {
    for (const id of [0, 1, -3, 1.5, process.pid]) await assert.rejects(killProcessGroup(id, 0), RangeError);
  });
});
