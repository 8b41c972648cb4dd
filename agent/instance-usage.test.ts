import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { platform } from 'node:os';
import { agentMessageSchema, waitFor } from '../core/index.ts';
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
    const tree = { project: 'default', name: 'busy', pid: root.pid! };
    const first = await sampler.sample([tree]);
    assert.equal(first.length, 1);
    assert.equal(first[0]!.cpu, 0, 'an instance seen for the first time has no interval yet');
    // The reference: the spinning child as a root of its own, in the same sampler, so that both figures come from
    // one /proc scan over one interval. Whatever share of a busy machine the child got, the tree at its idle root
    // must show at least as much; without the sum the root would show next to nothing. Rather than sleep a fixed
    // time, wait for an interval in which the child was seen to spin (a tenth of a core: a few clock ticks).
    const roots = [tree, { project: 'default', name: 'child', pid: child }];
    const [second, own] = await waitFor(
      async () => {
        const out = await sampler.sample(roots);
        const [atRoot, alone] = [out.find((u) => u.name === 'busy'), out.find((u) => u.name === 'child')];
        return atRoot && alone && alone.cpu >= 0.1 ? ([atRoot, alone] as const) : undefined;
      },
      30_000,
      'an interval in which the spinning child used CPU',
      200,
    );
    assert.ok(second.cpu >= own.cpu, `the spinning grandchild counts at the root: ${second.cpu} cores at the root, ${own.cpu} in the child`);
    assert.ok(second.memoryMiB > 5, `two node processes' RSS: ${second.memoryMiB} MiB`);
    // The child alone, as a root of its own, shows memory too; the tree at the root holds more.
    assert.ok(own.memoryMiB > 5 && own.memoryMiB < second.memoryMiB);
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
