import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { chown, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { InstanceStatus, WorkloadTemplate } from '../../core/index.ts';
import { ContainerRuntime } from './container-runtime.ts';
import type { ContainerRuntimeOptions } from './container-runtime.ts';
import { ExecFailedError, StartFailedError } from './errors.ts';
import { Podman } from './podman.ts';
import { subordinateIds } from '../workload-users.ts';
import { requirePodman, TEST_PODMAN_DIR } from './container-test-helpers.ts';
import { runtimeContract } from './runtime-contract.ts';
import type { ExecSession, Execution, ExitInfo, RunSpec } from './runtime.ts';
import { InstanceSupervisor } from './supervisor.ts';
import { ensureTestImage } from './test-image.ts';
import { makeTempDir, nodeCommand, readAll, template, waitFor } from './test-helpers.ts';

// Throws under CI=true when podman is missing; skips with the reason elsewhere.
const skip = requirePodman();
// The runtime's store is shared by every test process using TEST_PODMAN_DIR: a per-run prefix keeps parallel runs apart.
const opts: ContainerRuntimeOptions = { dir: TEST_PODMAN_DIR, namePrefix: `gedge-t${process.pid}-`, pull: 'never' };
/** The runtime's own store (the test image is built in the node's, and copied in on first use). */
const podman = new Podman(TEST_PODMAN_DIR, { ownStore: true });
const image = skip ? 'none' : await ensureTestImage(podman.nodeStore());
const naming = new ContainerRuntime(opts);

runtimeContract('container', () => new ContainerRuntime(opts), {
  skip,
  template: { runtime: 'container', image },
  agentPathAndHome: false,
  runtimeEnv: ['PATH', 'HOME', 'HOSTNAME', 'TERM', 'container'],
  // The pid is the workload's own (pid namespace); gone once the container no longer lists it.
  pidGone: async (spec, pid) => {
    const r = await podman.run(['top', naming.containerName(spec.id), 'pid']);
    return r.code !== 0 || !r.stdout.split('\n').slice(1).some((line) => Number(line.trim()) === pid);
  },
});

describe('ContainerRuntime', { skip }, () => {
  const runtime = new ContainerRuntime(opts);
  let root: string;
  let cleanup: () => Promise<void>;
  const running: Execution[] = [];
  let seq = 0;
  before(async () => ({ dir: root, cleanup } = await makeTempDir('gedge-container-')));
  afterEach(async () => {
    await Promise.all(running.splice(0).map((e) => e.stop(0)));
  });
  after(async () => cleanup());

  function specFor(fields: Partial<WorkloadTemplate>, extra: Partial<RunSpec> = {}): RunSpec {
    seq++;
    return { id: `default.ctr-${seq}`, template: template({ runtime: 'container', image, ...fields, command: fields.command ?? [] }), env: {}, logDir: join(root, `ctr-${seq}`), ports: {}, volumes: {}, ...extra };
  }
  async function start(spec: RunSpec): Promise<Execution> {
    const execution = await runtime.start(spec);
    running.push(execution);
    return execution;
  }
  const sleeper = (): Partial<WorkloadTemplate> => ({ command: ['sleep', '60'], stopGracePeriod: '0s' });

  it('restarts a crashing container through the supervisor and stops it for good', async () => {
    const spec = specFor({ command: ['/bin/sh', '-c', 'echo run; exit 2'], restartPolicy: 'Always' });
    const supervisor = new InstanceSupervisor(runtime, spec, { backoffInitialMs: 50, backoffMaxMs: 200, resetAfterMs: 60_000 });
    const statuses: InstanceStatus[] = [];
    supervisor.on('status', (s) => statuses.push(s));
    supervisor.start();
    try {
      await waitFor(() => supervisor.status.restarts >= 2, 20_000, 'two restarts');
      assert.ok(statuses.some((s) => s.phase === 'Running' && typeof s.pid === 'number'));
      assert.ok(statuses.some((s) => s.exitCode === 2));
    } finally {
      await supervisor.stop();
    }
    assert.equal(supervisor.status.phase, 'Succeeded');
    assert.match(await readAll(runtime, spec.logDir), /run\nrun\n/);
    assert.notEqual((await podman.run(['container', 'exists', naming.containerName(spec.id)])).code, 0, 'no container left behind');
  });

  it('stops a long-running container through the supervisor within its grace period', async () => {
    const spec = specFor({ command: nodeCommand("process.on('SIGTERM', () => { console.log('bye'); process.exit(0); }); console.log('up'); setInterval(() => {}, 1000);"), stopGracePeriod: '5s' });
    const supervisor = new InstanceSupervisor(runtime, spec);
    supervisor.start();
    await waitFor(async () => (await readAll(runtime, spec.logDir)).includes('up'), 10_000, 'the workload');
    const began = Date.now();
    await supervisor.stop();
    assert.ok(Date.now() - began < 3000, `took ${Date.now() - began}ms`);
    assert.equal(supervisor.status.exitCode, 0);
    assert.match(await readAll(runtime, spec.logDir), /bye/);
  });

  it('applies cpu and memory limits', async () => {
    const spec = specFor({ ...sleeper(), resources: { cpu: 0.5, memoryMiB: 64, diskMiB: 0, accelerators: {} } });
    await start(spec);
    const out = await podman.check(['container', 'inspect', '--format', '{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}', naming.containerName(spec.id)]);
    assert.equal(out.trim(), `${0.5e9} ${64 * 1024 * 1024}`);
  });

  it('maps a declared port on 127.0.0.1', async () => {
    const port = await freePort();
    // Inside its own network namespace the server must listen on the container's address; the host side is 127.0.0.1 only.
    const server = "require('http').createServer((q, s) => s.end('hello from ' + process.env.GEDGE_NAME)).listen(8080, '0.0.0.0')";
    const spec = specFor({ command: nodeCommand(server), ports: [{ name: 'http', port, containerPort: 8080 }] }, { ports: { http: port }, env: { GEDGE_NAME: 'ctr' } });
    await start(spec);
    const body = await waitFor(() => get(port).catch(() => ''), 10_000, 'the port mapping');
    assert.equal(body, 'hello from ctr');
  });

  it('mounts volumes, read-only ones read-only', async () => {
    const data = join(root, 'data');
    const config = join(root, 'config');
    await mkdir(data);
    await mkdir(config);
    const spec = specFor(
      { command: ['/bin/sh', '-c', 'echo kept > /data/f; echo x > /config/f || echo refused'], volumes: [{ name: 'data', mountPath: '/data', readOnly: false }, { name: 'config', mountPath: '/config', readOnly: true }] },
      { volumes: { data, config } },
    );
    assert.deepEqual(await (await start(spec)).exited, { code: 0, signal: null });
    assert.equal(await readFile(join(data, 'f'), 'utf8'), 'kept\n');
    assert.match(await readAll(runtime, spec.logDir), /refused/);
  });

  it("runs a project's container in a user namespace: its root is the project's user on the host, its other ids the project's range", { skip: process.getuid?.() !== 0 ? 'needs root to map ids' : undefined }, async () => {
    const user = { uid: 200_123, gid: 200_123, home: root, subordinate: subordinateIds(200_123) };
    const data = join(root, 'ns-data');
    await mkdir(data);
    await chown(data, user.uid, user.gid);
    const spec = specFor({ command: ['/bin/sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map; echo "uid=$(id -u)"; echo x > /data/f; echo finished; exec sleep 600'], volumes: [{ name: 'data', mountPath: '/data', readOnly: false }] }, { volumes: { data }, user });
    const execution = await start(spec);
    const out = await waitFor(async () => {
      const text = await readAll(runtime, spec.logDir);
      return text.includes('finished') ? text : undefined;
    }, 30_000, 'the container\'s output');
    const maps = [...out.matchAll(/^\s*(\d+)\s+(\d+)\s+(\d+)\s*$/gm)].map((m) => m.slice(1).map(Number));
    const expected = [[0, user.uid, 1], [1, user.subordinate.first, user.subordinate.count]];
    assert.deepEqual(maps, [...expected, ...expected], `uid and gid maps: ${out}`);
    assert.match(out, /uid=0\n/, 'root inside');
    // On the host, the container's init and the file it wrote belong to the project's user, not root.
    const status = await readFile(`/proc/${execution.pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${user.uid}\\s+${user.uid}\\s+${user.uid}\\s+${user.uid}$`, 'm'), status);
    assert.equal((await stat(join(data, 'f'))).uid, user.uid);
  });

  it('execs with stdout, stderr, exit code and stdin', async () => {
    const spec = specFor(sleeper());
    await start(spec);
    const { session, out, err } = collect(await runtime.exec(spec, { command: ['/bin/sh', '-c', 'echo out; echo err >&2; exit 4'], tty: false }));
    assert.deepEqual(await session.exited, { code: 4, signal: null });
    assert.equal(out(), 'out\n');
    assert.equal(err(), 'err\n');

    const cat = collect(await runtime.exec(spec, { command: ['cat'], tty: false }));
    cat.session.write(Buffer.from('ping\n'));
    cat.session.endInput();
    assert.deepEqual(await cat.session.exited, { code: 0, signal: null });
    assert.equal(cat.out(), 'ping\n');
  });

  it('execs on a terminal: merged output, its size, input', async () => {
    const spec = specFor(sleeper());
    await start(spec);
    const { session, out } = collect(await runtime.exec(spec, { command: ['/bin/sh', '-c', 'stty size; echo err >&2; read line; echo "got $line"'], tty: true, cols: 100, rows: 30 }));
    await waitFor(() => out().includes('30 100'), 10_000, 'the terminal size');
    session.write(Buffer.from('hi\r'));
    assert.deepEqual(await session.exited, { code: 0, signal: null });
    assert.match(out(), /err\r\n/);
    assert.match(out(), /got hi\r\n/);
  });

  it('exec kill ends the command inside the container', async () => {
    const spec = specFor(sleeper());
    await start(spec);
    const listed = async (): Promise<boolean> => (await podman.check(['top', naming.containerName(spec.id), 'args'])).includes('sleep 97');
    const session = (await runtime.exec(spec, { command: ['sleep', '97'], tty: false })) as ExecSession;
    await waitFor(listed, 10_000, 'the exec');
    session.kill();
    const exit: ExitInfo = await session.exited;
    assert.notEqual(exit.code, 0);
    await waitFor(async () => !(await listed()), 5000, 'sleep 97 to end');
  });

  it('rejects exec into a container that is not running with ExecFailedError', async () => {
    const spec = specFor(sleeper());
    await assert.rejects(runtime.exec(spec, { command: ['true'], tty: false }), ExecFailedError);
    const execution = await start(spec);
    await execution.stop(0);
    await assert.rejects(runtime.exec(spec, { command: ['true'], tty: false }), ExecFailedError);
  });

  it('rejects a missing image with StartFailedError naming it', async () => {
    const spec = specFor({ image: 'localhost/gedge-no-such-image:1', command: ['true'] });
    await assert.rejects(runtime.start(spec), (err: unknown) => err instanceof StartFailedError && err.message.includes('localhost/gedge-no-such-image:1'));
  });

  it('reports 128+N as an exit code unless the agent sent signal N', async () => {
    assert.deepEqual(await (await start(specFor({ command: ['/bin/sh', '-c', 'exit 137'] }))).exited, { code: 137, signal: null });
  });

  it('reap removes a container a crashed agent left behind, and start replaces a stale one', async () => {
    const spec = specFor(sleeper());
    const name = naming.containerName(spec.id);
    const leftOver = () => podman.check(['run', '-d', '--name', name, '--init', image, 'sleep', '1000']);
    await podman.adopt(image);
    await leftOver();
    await runtime.reap(spec, null);
    assert.notEqual((await podman.run(['container', 'exists', name])).code, 0);

    await leftOver();
    const execution = await start(spec);
    assert.equal((await podman.check(['container', 'inspect', '--format', '{{.State.Pid}}', name])).trim(), String(execution.pid));
  });

  it("reap removes the instance's container from the node's store too (started there by an agent from before stores of their own)", async () => {
    const spec = specFor(sleeper());
    const name = naming.containerName(spec.id);
    const node = podman.nodeStore();
    await node.check(['run', '-d', '--name', name, '--init', image, 'sleep', '1000']);
    await runtime.reap(spec, null);
    assert.notEqual((await node.run(['container', 'exists', name])).code, 0, 'gone from the node store');
  });
});

function collect(session: ExecSession): { session: ExecSession; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  session.onOutput((fd, data) => (fd === 1 ? (out += data.toString()) : (err += data.toString())));
  return { session, out: () => out, err: () => err };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve(body));
    });
    req.on('socket', (socket) => socket.setNoDelay(true));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
