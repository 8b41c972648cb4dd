import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { join } from 'node:path';
import type { WorkloadTemplate } from '../../core/index.ts';
import { StartFailedError } from './errors.ts';
import type { Execution, ExitInfo, RunSpec, Runtime } from './runtime.ts';
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

/** A long-running workload of one runtime, for the part of the contract every runtime shares whatever its workloads are. */
export interface LifecycleWorkload {
  /** A spec whose workload runs until stopped, writes `marker` to its log once up, and has `env` in its environment. */
  running: (root: string, id: string, env: Record<string, string>) => Promise<RunSpec>;
  marker: RegExp;
  /** A spec whose start cannot succeed (a missing executable, image or model). */
  broken: (root: string, id: string) => Promise<RunSpec>;
  /** How it ends when stopped (SIGTERM first): a workload that honours it. */
  stopped: ExitInfo;
  /** True once the process it reported as `pid` is gone. Default: no such live process on the host. */
  pidGone?: (spec: RunSpec, pid: number) => Promise<boolean>;
  skip?: string;
}

/**
 * What every Runtime does with its workloads, process, container or model
 * alike: start one and report its pid, put its output in its log, stop it
 * (SIGTERM first) and report the same exit to every caller, refuse a start
 * that cannot happen with StartFailedError, run exec in its environment,
 * and end one a crashed agent left running (reap). runtimeContract runs it
 * for command workloads; the model runtime with its model server.
 */
export function lifecycleContract(name: string, make: () => Runtime, w: LifecycleWorkload): void {
  const pidGone = w.pidGone ?? (async (_spec: RunSpec, pid: number) => !isAlive(pid));
  describe(`${name} runtime contract: lifecycle`, { skip: w.skip }, () => {
    let root: string;
    let cleanup: () => Promise<void>;
    const running: Execution[] = [];
    let seq = 0;
    const id = () => `default.lifecycle-${++seq}`;
    before(async () => ({ dir: root, cleanup } = await makeTempDir()));
    afterEach(async () => {
      await Promise.all(running.splice(0).map((execution) => execution.stop(0)));
    });
    after(async () => cleanup());
    async function started(runtime: Runtime, env: Record<string, string> = {}): Promise<{ spec: RunSpec; execution: Execution }> {
      const spec = await w.running(root, id(), env);
      const execution = await runtime.start(spec);
      running.push(execution);
      await waitFor(async () => w.marker.test(await readAll(runtime, spec.logDir)), 30_000, 'the workload up, its output in the log');
      return { spec, execution };
    }

    it('starts the workload, reports its pid, and its output reaches the log', async () => {
      const { execution } = await started(make());
      assert.equal(typeof execution.pid, 'number');
    });

    it('stop ends it without waiting for the grace period, and every stop reports the same exit', async () => {
      const { execution } = await started(make());
      const began = Date.now();
      const [first, second] = await Promise.all([execution.stop(10_000), execution.stop(10_000)]);
      assert.ok(Date.now() - began < 5000, `stopped after ${Date.now() - began} ms`);
      assert.deepEqual(first, w.stopped);
      assert.deepEqual(second, first);
      assert.deepEqual(await execution.stop(10_000), first, 'stop after exit reports the same exit');
    });

    it('a start that cannot happen is a StartFailedError', async () => {
      await assert.rejects(make().start(await w.broken(root, id())), StartFailedError);
    });

    it("runs exec in the workload's environment", async () => {
      const runtime = make();
      const { spec } = await started(runtime, { GREETING: 'hi' });
      const session = await runtime.exec(spec, { command: ['/bin/sh', '-c', 'echo "$GREETING"'], tty: false });
      let out = '';
      session.onOutput((_fd, d) => (out += d.toString()));
      assert.deepEqual(await session.exited, { code: 0, signal: null });
      assert.equal(out, 'hi\n');
    });

    it('reap ends a workload a crashed agent left running', async () => {
      // Started by one runtime (the agent before its crash), reaped by another (the agent started again).
      const { spec, execution } = await started(make());
      await make().reap(spec, execution.pid ?? null);
      await waitFor(() => pidGone(spec, execution.pid!), 15_000, 'the left-behind workload ended');
    });
  });
}

/**
 * The behaviour every Runtime of commands (process, container) must show,
 * whatever it runs on: the lifecycle above, and exit codes, environment,
 * logs, signals and process groups. Each implementation's test file calls
 * runtimeContract once.
 */
export function runtimeContract(name: string, make: () => Runtime, opts: ContractOptions = {}): void {
  const { agentPathAndHome = true, runtimeEnv = [], pidGone = async (_spec: RunSpec, pid: number) => !isAlive(pid) } = opts;
  const commandSpec = (root: string, id: string, command: string[], env: Record<string, string>): RunSpec => ({ id, template: template({ ...opts.template, command }), env, logDir: join(root, id), ports: {}, volumes: {} });
  lifecycleContract(name, make, {
    running: async (root, id, env) => commandSpec(root, id, nodeCommand("console.log('lifecycle-up'); setInterval(() => {}, 1000);"), env),
    marker: /lifecycle-up/,
    broken: async (root, id) => commandSpec(root, id, ['/nonexistent/gedge-no-such-binary'], {}),
    stopped: { code: null, signal: 'SIGTERM' },
    pidGone,
    ...(opts.skip ? { skip: opts.skip } : {}),
  });
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

    it('rejects the start of an executable missing from PATH with StartFailedError', async () => {
      const runtime = make();
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
