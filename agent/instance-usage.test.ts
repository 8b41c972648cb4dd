import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { platform } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentMessageSchema } from '../core/index.ts';
import { InstanceUsageSampler, parseStat } from './instance-usage.ts';

const linux = platform() === 'linux';
// Spins until the test kills it (30 s at most, should the test die first); a slow machine may take seconds to get there.
const BUSY = 'const e=Date.now()+30000;while(Date.now()<e){}';

/** A root that only waits while its child spins: CPU seen at the root must come from a descendant. */
async function busyTree(): Promise<{ root: ChildProcess; child: number }> {
  const parent = `const c=require('child_process').spawn(process.execPath,['-e',${JSON.stringify(BUSY)}],{stdio:'ignore'});console.log(c.pid);c.on('exit',()=>process.exit(0));`;
  const root = spawn(process.execPath, ['-e', parent], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(root.stdout!, 'data')) as [Buffer];
  return { root, child: Number(line.toString().trim()) };
}

test('parseStat counts fields after the last parenthesis of the command name', () => {
  const fields = ['S', '42', ...Array.from({ length: 9 }, () => '0'), '7', '3', '2', '1', ...Array.from({ length: 6 }, () => '0'), '2560', '0'];
  const stat = parseStat(`1234 (a b) (c)) ${fields.join(' ')}`);
  assert.deepEqual(stat, { ppid: 42, ticks: 13, rssPages: 2560 });
  assert.equal(parseStat('garbage'), undefined);
});

test('CPU and memory are summed over the whole process tree', { skip: !linux }, async () => {
  const { root, child } = await busyTree();
  try {
    const sampler = new InstanceUsageSampler();
    const roots = [{ project: 'default', name: 'busy', pid: root.pid! }];
    const first = await sampler.sample(roots);
    assert.equal(first.length, 1);
    assert.equal(first[0]!.cpu, 0, 'an instance seen for the first time has no interval yet');
    await sleep(1000); // the measured interval itself
    const [second] = await sampler.sample(roots);
    assert.ok(second!.cpu > 0.3, `the spinning grandchild counts at the root: ${second!.cpu} cores`);
    assert.ok(second!.memoryMiB > 5, `two node processes' RSS: ${second!.memoryMiB} MiB`);
    // The child alone, as a root of its own, shows memory too; the tree at the root holds more.
    const [own] = await new InstanceUsageSampler().sample([{ project: 'default', name: 'child', pid: child }]);
    assert.ok(own!.memoryMiB > 5 && own!.memoryMiB < second!.memoryMiB);
    // What the heartbeat carries satisfies the protocol.
    agentMessageSchema.parse({ t: 'hb', usage: { cpu: 0, memoryMiB: 0, diskMiB: 0 }, instances: [second] });
  } finally {
    process.kill(child, 'SIGKILL');
    root.kill('SIGKILL');
  }
});

test('a vanished pid yields no entry, and the instance starts over when it comes back', { skip: !linux }, async () => {
  const gone = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await once(gone, 'exit');
  const live = spawn(process.execPath, ['-e', 'setTimeout(()=>{},5000)'], { stdio: 'ignore' });
  await once(live, 'spawn');
  try {
    const sampler = new InstanceUsageSampler();
    const out = await sampler.sample([
      { project: 'p', name: 'gone', pid: gone.pid! },
      { project: 'p', name: 'live', pid: live.pid! },
    ]);
    assert.deepEqual(out.map((u) => u.name), ['live']);
    // Forgotten when not passed; a restarted instance (new pid) has no interval either.
    assert.deepEqual(await sampler.sample([]), []);
    const again = await sampler.sample([{ project: 'p', name: 'gone', pid: live.pid! }]);
    assert.equal(again[0]!.cpu, 0);
  } finally {
    live.kill('SIGKILL');
  }
});
