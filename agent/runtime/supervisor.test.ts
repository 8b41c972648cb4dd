import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, describe, it } from 'node:test';
import type { InstanceStatus, WorkloadTemplate } from '../../core/index.ts';
import { ProcessRuntime } from './process-runtime.ts';
import { InstanceSupervisor } from './supervisor.ts';
import type { SupervisorEvent, SupervisorOptions } from './supervisor.ts';
import { makeTempDir, nodeCommand, readAll, template, waitFor } from './test-helpers.ts';

describe('InstanceSupervisor', () => {
  const runtime = new ProcessRuntime();
  let root: string;
  let cleanup: () => Promise<void>;
  const supervisors: InstanceSupervisor[] = [];
  let seq = 0;
  before(async () => ({ dir: root, cleanup } = await makeTempDir('gedge-supervisor-')));
  afterEach(async () => {
    await Promise.all(supervisors.splice(0).map((s) => s.stop()));
  });
  after(async () => cleanup());

  function supervise(
    fields: Partial<WorkloadTemplate> & { command: string[] },
    { env = {}, ports = {}, ...opts }: SupervisorOptions & { env?: Record<string, string>; ports?: Record<string, number> } = {},
  ) {
    seq++;
    const spec = { id: `default.sup-${seq}`, template: template(fields), env, logDir: join(root, `sup-${seq}`), ports, volumes: {} };
    const supervisor = new InstanceSupervisor(runtime, spec, { backoffInitialMs: 50, backoffMaxMs: 10_000, resetAfterMs: 60_000, ...opts });
    const events: SupervisorEvent[] = [];
    const statuses: InstanceStatus[] = [];
    supervisor.on('event', (e) => events.push(e));
    supervisor.on('status', (s) => statuses.push(s));
    supervisors.push(supervisor);
    supervisor.start();
    const count = (reason: string): number => events.filter((e) => e.reason === reason).length;
    return { supervisor, spec, events, statuses, count };
  }
  const backOffDelays = (events: SupervisorEvent[]): number[] =>
    events.filter((e) => e.reason === 'BackOff').map((e) => Number(/back-off (\d+)ms/.exec(e.message)?.[1]));

  it('Always restarts with growing backoff and counts restarts', async () => {
    const { supervisor, events, count } = supervise({ command: ['/bin/sh', '-c', 'exit 0'], restartPolicy: 'Always' });
    await waitFor(() => supervisor.status.restarts >= 3 && count('Started') >= 4, 10_000, 'three restarts');
    await supervisor.stop();
    const delays = backOffDelays(events);
    assert.ok(delays.length >= 3);
    // 50 ms doubling with 20 % jitter: [40, 50], [80, 100], [160, 200] ...
    delays.forEach((delay, i) => {
      const base = Math.min(10_000, 50 * 2 ** i);
      assert.ok(delay >= base * 0.8 && delay <= base, `delay ${i} = ${delay}ms`);
    });
    assert.equal(supervisor.status.restarts, count('Started') - 1);
    assert.ok(count('Exited') >= 3);
  });

  it('a run that lasts resetAfterMs resets the backoff', async () => {
    const { supervisor, events } = supervise({ command: ['/bin/sh', '-c', 'exit 1'], restartPolicy: 'Always' }, { resetAfterMs: 0 });
    await waitFor(() => backOffDelays(events).length >= 4, 10_000, 'four back-offs');
    await supervisor.stop();
    for (const delay of backOffDelays(events)) assert.ok(delay >= 40 && delay <= 50, `delay ${delay}ms was not reset`);
  });

  it('OnFailure does not restart after exit 0 -> Succeeded', async () => {
    const { supervisor, count } = supervise({ command: ['/bin/sh', '-c', 'exit 0'], restartPolicy: 'OnFailure' });
    const status = await waitFor(() => supervisor.status.phase === 'Succeeded' && supervisor.status, 5000, 'Succeeded');
    assert.equal(status.exitCode, 0);
    assert.equal(status.restarts, 0);
    assert.equal(status.pid, undefined);
    assert.equal(count('Started'), 1);
    assert.equal(count('BackOff'), 0);
  });

  it('OnFailure restarts a failed run until it succeeds', async () => {
    // Fails on the first run only: the marker file survives the restart.
    const marker = join(root, `marker-${seq + 1}`);
    const script = 'if [ -f "$MARKER" ]; then exit 0; fi; touch "$MARKER"; exit 4';
    const { supervisor, count } = supervise({ command: ['/bin/sh', '-c', script], restartPolicy: 'OnFailure' }, { env: { MARKER: marker } });
    const status = await waitFor(() => supervisor.status.phase === 'Succeeded' && supervisor.status, 5000, 'Succeeded');
    assert.equal(status.restarts, 1);
    assert.equal(count('BackOff'), 1);
  });

  it('Never leaves a failed instance Failed with its exit code', async () => {
    const { supervisor, events, statuses } = supervise({ command: ['/bin/sh', '-c', 'exit 7'], restartPolicy: 'Never' });
    const status = await waitFor(() => supervisor.status.phase === 'Failed' && supervisor.status, 5000, 'Failed');
    assert.equal(status.exitCode, 7);
    assert.equal(status.signal, null);
    assert.equal(status.restarts, 0);
    assert.deepEqual(
      statuses.map((s) => s.phase),
      ['Starting', 'Running', 'Failed'],
    );
    assert.deepEqual(
      events.map((e) => [e.reason, e.type]),
      [
        ['Started', 'Normal'],
        ['Exited', 'Warning'],
      ],
    );
  });

  it('a missing executable is a failed run under the same policy', async () => {
    const never = supervise({ command: ['/nonexistent/gedge-binary'], restartPolicy: 'Never' });
    const status = await waitFor(() => never.supervisor.status.phase === 'Failed' && never.supervisor.status, 5000, 'Failed');
    assert.match(status.message ?? '', /gedge-binary/);
    assert.equal(never.count('StartFailed'), 1);

    const onFailure = supervise({ command: ['/nonexistent/gedge-binary'], restartPolicy: 'OnFailure' });
    await waitFor(() => onFailure.supervisor.status.restarts >= 2, 5000, 'restarts after start failures');
    assert.ok(onFailure.count('StartFailed') >= 2);
    assert.ok(onFailure.count('BackOff') >= 2);
  });

  it('readiness flips ready when the http probe passes', async () => {
    const port = await freePort();
    // Listens only after a while, so "running but not ready" is observable;
    // SIGUSR2 makes it unhealthy.
    const server = `
      const http = require('node:http');
      let healthy = true;
      process.on('SIGUSR2', () => { healthy = false; });
      setTimeout(() => http.createServer((req, res) => {
        res.writeHead(req.url === '/healthz' && healthy ? 200 : 503).end();
      }).listen(Number(process.env.PORT), '127.0.0.1'), 300);`;
    const { supervisor, statuses, count } = supervise(
      {
        command: nodeCommand(server),
        ports: [{ name: 'http', port }],
        readiness: { http: { port: 'http', path: '/healthz' }, initialDelay: '0s', period: '50ms', timeout: '500ms', failureThreshold: 2 },
      },
      { env: { PORT: String(port) }, ports: { http: port } },
    );
    await waitFor(() => supervisor.status.ready, 5000, 'ready');
    const running = statuses.find((s) => s.phase === 'Running');
    assert.equal(running?.ready, false, 'not ready before the probe passed');
    assert.deepEqual(supervisor.status.ports, { http: port });
    assert.equal(statuses.filter((s) => s.ready).length, 1, 'status is emitted once when ready flips');

    process.kill(supervisor.pid ?? 0, 'SIGUSR2');
    await waitFor(() => !supervisor.status.ready, 5000, 'not ready');
    assert.equal(count('Unhealthy'), 1);
    assert.equal(supervisor.status.phase, 'Running', 'readiness does not restart the instance');
  });

  it('a failing liveness probe restarts the instance with back-off; readiness is not liveness', async () => {
    // Healthy for its first 300 ms, then the liveness file is gone: the probe fails.
    const script = "require('fs').writeFileSync(process.env.ALIVE, 'y'); setTimeout(() => require('fs').rmSync(process.env.ALIVE), 300); setInterval(() => {}, 1000);";
    const alive = join(root, `alive-${seq + 1}`);
    const { supervisor, events, count } = supervise(
      {
        command: nodeCommand(script),
        restartPolicy: 'Always',
        stopGracePeriod: '200ms',
        liveness: { exec: { command: ['/bin/sh', '-c', `test -f ${alive}`] }, initialDelay: '100ms', period: '50ms', timeout: '1s', failureThreshold: 3 },
      },
      { env: { ALIVE: alive } },
    );
    // The restart count moves when a restart is decided; its Started comes after the back-off.
    await waitFor(() => supervisor.status.restarts >= 2 && count('Started') >= 3, 10_000, 'two liveness restarts, started again');
    const unhealthy = events.filter((e) => e.reason === 'Unhealthy');
    assert.ok(unhealthy.length >= 2);
    assert.match(unhealthy[0]!.message, /liveness probe failed 3 times; restarting/);
    const backOffs = events.filter((e) => e.reason === 'BackOff');
    assert.match(backOffs[0]!.message, /after liveness probe failed 3 times/);
  });

  it('liveness over HTTP: a hung server is restarted, a healthy one is left alone', async (t) => {
    const INITIAL_DELAY_MS = 2000;
    const port = await freePort();
    const server = `
      const http = require('node:http');
      let healthy = true;
      process.on('SIGUSR2', () => { healthy = false; });
      let probes = 0;
      // /probes tells the test how many liveness probes (GET /) it has answered.
      http.createServer((req, res) => { if (req.url === '/probes') return res.end(String(probes)); if (healthy) { probes++; res.writeHead(200).end(); } }).listen(Number(process.env.PORT), '127.0.0.1');`;
    const { supervisor, count } = supervise(
      {
        command: nodeCommand(server),
        ports: [{ name: 'http', port }],
        stopGracePeriod: '200ms',
        // The initial delay covers a slow start of the server on a busy machine (as it would in Kubernetes): probing a port nobody listens on yet is no hang.
        liveness: { http: { port: 'http', path: '/' }, initialDelay: `${INITIAL_DELAY_MS}ms`, period: '50ms', timeout: '100ms', failureThreshold: 2 },
      },
      { env: { PORT: String(port) }, ports: { http: port } },
    );
    await waitFor(() => supervisor.status.phase === 'Running' && supervisor.pid, 5000, 'Running');
    const runningAt = Date.now();
    await waitFor(() => probesAnswered(port).then((n) => n !== undefined), 10_000, 'the server answering');
    if (Date.now() - runningAt > INITIAL_DELAY_MS) return t.skip('the server took longer to start than the probe waits: nothing to learn here');
    // Probing has started and gone on against the healthy server a dozen times.
    await waitFor(async () => ((await probesAnswered(port)) ?? 0) >= 12, 15_000, 'a dozen liveness probes answered');
    assert.equal(count('Unhealthy'), 0, 'a healthy server is not restarted');
    assert.equal(supervisor.status.restarts, 0);
    process.kill(supervisor.pid ?? 0, 'SIGUSR2');
    await waitFor(() => supervisor.status.restarts === 1, 5000, 'the restart');
    assert.equal(count('Unhealthy'), 1);
  });

  it('is ready at once without a readiness probe', async () => {
    const { supervisor } = supervise({ command: nodeCommand('setInterval(() => {}, 1000)') });
    const status = await waitFor(() => supervisor.status.phase === 'Running' && supervisor.status, 5000, 'Running');
    assert.equal(status.ready, true);
    assert.equal(typeof status.pid, 'number');
    assert.ok(status.startedAt && !Number.isNaN(Date.parse(status.startedAt)));
  });

  it('stop is graceful and stops restarting', async () => {
    const script = "process.on('SIGTERM', () => { console.log('bye'); setTimeout(() => process.exit(0), 50); }); console.log('up'); setInterval(() => {}, 1000);";
    const { supervisor, spec, count } = supervise({ command: nodeCommand(script), restartPolicy: 'Always', stopGracePeriod: '5s' });
    await waitFor(async () => (await readAll(runtime, spec.logDir)).includes('up'), 5000, 'the workload');
    const began = Date.now();
    await supervisor.stop();
    assert.ok(Date.now() - began < 2000, 'ended by SIGTERM, not by the grace timeout');
    const status = supervisor.status;
    assert.equal(status.phase, 'Succeeded');
    assert.equal(status.exitCode, 0);
    assert.equal(status.ready, false);
    assert.equal(status.pid, undefined);
    assert.match(await readAll(runtime, spec.logDir), /bye/);
    assert.equal(count('Stopped'), 1);
    await supervisor.stop(); // idempotent
    // Nothing to wait for when asserting that no restart happens: give a
    // restart (50 ms back-off) ample time to show up.
    await sleep(300);
    assert.equal(count('Started'), 1);
    assert.equal(count('Stopped'), 1);
  });

  it('stop during a back-off ends it at once', async () => {
    const { supervisor, count } = supervise({ command: ['/bin/sh', '-c', 'exit 1'] }, { backoffInitialMs: 30_000 });
    await waitFor(() => count('BackOff') === 1, 5000, 'the back-off');
    const began = Date.now();
    await supervisor.stop();
    assert.ok(Date.now() - began < 1000);
    assert.equal(count('Started'), 1);
    assert.equal(supervisor.status.phase, 'Succeeded');
  });
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** How many liveness probes the test server has answered (its /probes); undefined while it does not answer. */
async function probesAnswered(port: number): Promise<number | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/probes`, { signal: AbortSignal.timeout(1000) });
    return r.status === 200 ? Number(await r.text()) : undefined;
  } catch {
    return undefined;
  }
}
