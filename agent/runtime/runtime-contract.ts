import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { join } from 'node:path';
import type { WorkloadTemplate } from '../../core/index.ts';
import { StartFailedError } from './errors.ts';
import type { Execution, RunSpec, Runtime } from './runtime.ts';
import { isAlive, makeTempDir, nodeCommand, readAll, template, waitFor } from './test-helpers.ts';

/** Where runtimes legitimately differ; the defaults describe the process runtime. */
export interface ContractOptions {
  /** Template fields every spec gets, e.g. a container's runtime and image. */
  template?: Partial<WorkloadTemplate>;
  /** PATH and HOME come from the agent (a process) rather than from the runtime (a container image's own). Default true. */
  agentPathAndHome?: boolean;
  /** Variables the runtime itself adds, e.g. a container's HOSTNAME, HOME, TERM, container. */
  runtimeEnv?: string[];
  /** True once the process the workload reported as `pid` (in its own pid namespace) is gone. Default: no such live process on the host. */
  pidGone?: (spec: RunSpec, pid: number) => Promise<boolean>;
  /** A reason to skip the whole suite (e.g. podman missing outside CI). */
  skip?: string;
}

/**
 * The behaviour every Runtime must show, whatever it runs on. Each
 * implementation's test file calls runtimeContract once.
 */
export function runtimeContract(name: string, make: () => Runtime, opts: ContractOptions = {}): void {
  const { agentPathAndHome = true, runtimeEnv = [], pidGone = async (_spec: RunSpec, pid: number) => !isAlive(pid) } = opts;
  describe(`${name} runtime contract`, { skip: opts.skip }, () => {
    let root: string;
    let cleanup: () => Promise<void>;
    const running: Execution[] = [];
    let seq = 0;

    before(async () => ({ dir: root, cleanup } = await makeTempDir()));
    afterEach(async () => {
      await Promise.all(running.splice(0).map((execution) => execution.stop(0)));
    });
    after(async () => cleanup());

    function specFor(fields: Partial<WorkloadTemplate> & { command: string[] }, env: Record<string, string> = {}): RunSpec {
      seq++;
      return { id: `default.contract-${seq}`, template: template({ ...opts.template, ...fields }), env, logDir: join(root, `instance-${seq}`), ports: {}, volumes: {} };
    }
    async function start(runtime: Runtime, spec: RunSpec): Promise<Execution> {
      const execution = await runtime.start(spec);
      running.push(execution);
      return execution;
    }

    it('runs the command and reports its exit code', async () => {
      const runtime = make();
      const failing = await start(runtime, specFor({ command: ['/bin/sh', '-c', 'exit 3'] }));
      assert.equal(typeof failing.pid, 'number');
      assert.deepEqual(await failing.exited, { code: 3, signal: null });
      const succeeding = await start(runtime, specFor({ command: ['sh', '-c', 'exit 0'] }));
      assert.deepEqual(await succeeding.exited, { code: 0, signal: null });
    });

    it(`passes the given env and none of the agent environment${agentPathAndHome ? ' but PATH and HOME' : ''}`, async () => {
      const runtime = make();
      process.env.GEDGE_CONTRACT_SECRET = 'hunter2';
      try {
        const spec = specFor({ command: nodeCommand('process.stdout.write(JSON.stringify(process.env))') }, { GREETING: 'hi' });
        await (await start(runtime, spec)).exited;
        const env = JSON.parse(await readAll(runtime, spec.logDir)) as Record<string, string>;
        assert.equal(env.GREETING, 'hi');
        if (agentPathAndHome) assert.equal(env.PATH, process.env.PATH);
        assert.equal(env.GEDGE_CONTRACT_SECRET, undefined);
        const home = agentPathAndHome && process.env.HOME !== undefined ? ['HOME'] : [];
        const expected = [...new Set(['GREETING', 'PATH', ...home, ...runtimeEnv])].sort();
        assert.deepEqual(Object.keys(env).sort(), expected);
      } finally {
        delete process.env.GEDGE_CONTRACT_SECRET;
      }
    });

    it('captures stdout and stderr in the log and reads its tail', async () => {
      const runtime = make();
      // stdout and stderr are separate pipes, so their relative order is not asserted.
      const both = specFor({ command: ['/bin/sh', '-c', 'echo out-line; echo err-line >&2'] });
      await (await start(runtime, both)).exited;
      const all = await readAll(runtime, both.logDir);
      assert.match(all, /out-line\n/);
      assert.match(all, /err-line\n/);

      const lines = specFor({ command: ['/bin/sh', '-c', 'echo first-line; echo last-line'] });
      await (await start(runtime, lines)).exited;
      let tail = '';
      const signal = new AbortController().signal;
      for await (const chunk of runtime.logs(lines, { tailBytes: 10, follow: false, signal })) tail += chunk;
      assert.equal(tail, 'last-line\n');
    });

    it('follows the log while the workload writes', async () => {
      const runtime = make();
      const script = "console.log('first'); setTimeout(() => console.log('second'), 300); setInterval(() => {}, 1000);";
      const spec = specFor({ command: nodeCommand(script) });
      const execution = await start(runtime, spec);
      const abort = new AbortController();
      let seen = '';
      const reading = (async () => {
        for await (const chunk of runtime.logs(spec, { tailBytes: 0, follow: true, signal: abort.signal })) seen += chunk;
      })();
      await waitFor(() => seen.includes('second\n'), 5000, 'the second line');
      assert.equal(seen, 'first\nsecond\n');
      let settled = false;
      void execution.exited.then(() => (settled = true));
      await Promise.resolve();
      assert.equal(settled, false, 'the workload is still running while its log is followed');
      abort.abort();
      await reading;
    });

    it('stop sends SIGTERM, then SIGKILL once the grace period is over', async () => {
      const runtime = make();
      const script = "process.on('SIGTERM', () => console.log('got SIGTERM')); console.log('armed'); setInterval(() => {}, 1000);";
      const spec = specFor({ command: nodeCommand(script) });
      const execution = await start(runtime, spec);
      await waitFor(async () => (await readAll(runtime, spec.logDir)).includes('armed'), 5000, 'the SIGTERM handler');
      const began = Date.now();
      const exit = await execution.stop(300);
      assert.ok(Date.now() - began >= 290, `stopped after ${Date.now() - began}ms, before the grace period`);
      assert.deepEqual(exit, { code: null, signal: 'SIGKILL' });
      assert.match(await readAll(runtime, spec.logDir), /got SIGTERM/);
    });

    it('stop ends a workload that honours SIGTERM without waiting for the grace period', async () => {
      const runtime = make();
      const spec = specFor({ command: nodeCommand("console.log('up'); setInterval(() => {}, 1000);") });
      const execution = await start(runtime, spec);
      await waitFor(async () => (await readAll(runtime, spec.logDir)).includes('up'), 5000, 'the workload');
      const began = Date.now();
      const [first, second] = await Promise.all([execution.stop(10_000), execution.stop(10_000)]);
      assert.ok(Date.now() - began < 5000);
      assert.deepEqual(first, { code: null, signal: 'SIGTERM' });
      assert.deepEqual(second, first);
      assert.deepEqual(await execution.stop(10_000), first, 'stop after exit reports the same exit');
    });

    it('rejects the start of a missing executable with StartFailedError', async () => {
      const runtime = make();
      await assert.rejects(runtime.start(specFor({ command: ['/nonexistent/gedge-no-such-binary'] })), StartFailedError);
      await assert.rejects(runtime.start(specFor({ command: ['gedge-no-such-binary-on-path'] })), StartFailedError);
    });

    it('stop ends the whole process group, grandchildren included', async () => {
      const runtime = make();
      // The grandchild ignores SIGTERM, so only the group-wide SIGKILL can end it.
      const grandchild = "process.on('SIGTERM', () => {}); console.log('armed'); setInterval(() => {}, 1000);";
      const spec = specFor(
        { command: ['/bin/sh', '-c', '"$NODE" -e "$SCRIPT" & echo "grandchild $!"; wait'] },
        { NODE: process.execPath, SCRIPT: grandchild },
      );
      const execution = await start(runtime, spec);
      const log = await waitFor(async () => {
        const text = await readAll(runtime, spec.logDir);
        return text.includes('armed') && text;
      }, 5000, 'the grandchild');
      const pid = Number(/grandchild (\d+)/.exec(log)?.[1]);
      assert.equal(await pidGone(spec, pid), false);
      await execution.stop(200);
      await waitFor(() => pidGone(spec, pid), 5000, `grandchild ${pid} to end`);
    });

    it('ends what the workload leaves behind when it exits', async () => {
      const runtime = make();
      const spec = specFor({ command: ['/bin/sh', '-c', 'sleep 30 & echo "grandchild $!"'] });
      const execution = await start(runtime, spec);
      assert.deepEqual(await execution.exited, { code: 0, signal: null });
      const pid = Number(/grandchild (\d+)/.exec(await readAll(runtime, spec.logDir))?.[1]);
      assert.ok(pid > 0);
      await waitFor(() => pidGone(spec, pid), 5000, `left-behind ${pid} to end`);
    });
  });
}
