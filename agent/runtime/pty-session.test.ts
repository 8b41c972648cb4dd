import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ExecFailedError } from './errors.ts';
import { spawnPtySession } from './pty-session.ts';
import type { ExecSession } from './runtime.ts';
import { waitFor } from '../../core/index.ts';

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

function collect(s: ExecSession): { text: () => string; fds: Set<number> } {
  const chunks: Buffer[] = [];
  const fds = new Set<number>();
  s.onOutput((fd, d) => {
    fds.add(fd);
    chunks.push(d);
  });
  return { text: () => Buffer.concat(chunks).toString(), fds };
}

describe('pty session', () => {
  it('runs on a terminal of the requested size and follows resize', async () => {
    const s = spawnPtySession('sh', ['-c', 'stty size; read x; stty size; [ -t 0 ] && [ -t 1 ] && echo on-a-tty'], { env, cols: 101, rows: 31 });
    const out = collect(s);
    await waitFor(() => out.text().includes('31 101'), 10_000, 'the first size');
    s.resize(120, 40);
    s.write(Buffer.from('go\n'));
    assert.deepEqual(await s.exited, { code: 0, signal: null });
    assert.match(out.text(), /31 101\r\n[\s\S]*40 120\r\non-a-tty\r\n$/);
    assert.deepEqual([...out.fds], [1], 'a terminal merges everything into stdout');
  });

  it('reports the exit code only after all output is delivered', async () => {
    // ~200 KiB, much more than a terminal buffers, written just before exiting.
    const s = spawnPtySession('sh', ['-c', 'i=0; while [ $i -lt 2000 ]; do echo "line $i ................................................................................................"; i=$((i+1)); done; exit 3'], { env });
    const out = collect(s);
    assert.deepEqual(await s.exited, { code: 3, signal: null });
    assert.match(out.text(), /line 1999 \.+\r\n$/);
    assert.equal(out.text().split('\r\n').length - 1, 2000);
  });

  it('EOF ends the input of a reading command; kill() ends it with SIGKILL', async () => {
    const cat = spawnPtySession('cat', [], { env });
    const out = collect(cat);
    cat.write(Buffer.from('hello\n'));
    await waitFor(() => out.text().includes('hello\r\nhello\r\n'), 10_000, 'the echo and cat\'s copy');
    cat.endInput();
    assert.deepEqual(await cat.exited, { code: 0, signal: null });

    const sleeper = spawnPtySession('sleep', ['60'], { env });
    sleeper.kill();
    assert.deepEqual(await sleeper.exited, { code: null, signal: 'SIGKILL' });
    sleeper.kill(); // safe after exit
  });

  it('pause holds output back until resume', async () => {
    const s = spawnPtySession('sh', ['-c', 'read x; echo after-$x'], { env });
    const out = collect(s);
    s.pause?.();
    s.write(Buffer.from('go\n'));
    // Absence can only be seen over time: give the command a moment it does not need.
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!out.text().includes('after-go'), 'nothing while paused');
    s.resume?.();
    await s.exited;
    assert.match(out.text(), /after-go/);
  });

  it('a missing executable or working directory fails at once, with the reason', () => {
    assert.throws(() => spawnPtySession('no-such-command-here', [], { env }), (e: Error) => e instanceof ExecFailedError && /no such executable/.test(e.message));
    assert.throws(() => spawnPtySession('sh', [], { env, cwd: '/no/such/dir' }), (e: Error) => e instanceof ExecFailedError && /working directory/.test(e.message));
  });
});
