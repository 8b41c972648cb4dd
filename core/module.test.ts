import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Supervisor, ModuleFailedError, type Module, type ModuleContext } from './module.ts';
import { waitFor } from './wait-for.ts';

const log = pino({ level: 'silent' });
const fast = { log, backoff: { initialMs: 5, maxMs: 20, jitter: 0 } };

/** A module that records what happens to it; `failStarts` of its starts throw. */
function recorder(name: string, journal: string[], o: { essential?: boolean; failStarts?: number; startGate?: Promise<void> } = {}) {
  let failStarts = o.failStarts ?? 0;
  const m: Module & { ctx?: ModuleContext; signal?: AbortSignal } = {
    name,
    essential: o.essential,
    async start(ctx, signal) {
      m.ctx = ctx;
      m.signal = signal;
      journal.push(`start ${name}`);
      await o.startGate;
      if (failStarts > 0) {
        failStarts--;
        throw new Error(`${name} cannot start`);
      }
    },
    async stop() {
      journal.push(`stop ${name}`);
    },
  };
  return m;
}

test('modules start in order and stop in reverse, each once', async () => {
  const journal: string[] = [];
  const sup = new Supervisor([recorder('a', journal), recorder('b', journal), recorder('c', journal)], fast);
  await sup.start();
  assert.deepEqual(sup.health().map((h) => h.state), ['running', 'running', 'running']);
  assert.equal(sup.ready, true);
  await Promise.all([sup.stop(), sup.stop()]);
  assert.deepEqual(journal, ['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  assert.deepEqual(sup.health().map((h) => h.state), ['stopped', 'stopped', 'stopped']);
});

test('an essential module that cannot start fails the start; what started is stopped in reverse, what did not is left alone', async () => {
  const journal: string[] = [];
  const sup = new Supervisor([recorder('store', journal, { essential: true }), recorder('api', journal, { essential: true, failStarts: 1 }), recorder('later', journal)], fast);
  await assert.rejects(sup.start(), (err: unknown) => err instanceof ModuleFailedError && err.module === 'api' && /module "api" failed to start: api cannot start/.test(err.message));
  assert.deepEqual(journal, ['start store', 'start api', 'stop api', 'stop store']);
  assert.deepEqual(
    sup.health().map((h) => [h.name, h.state]),
    [['store', 'stopped'], ['api', 'failed'], ['later', 'pending']],
  );
});

test('a module that cannot start is retried with backoff while the others run; its health says why', async () => {
  const journal: string[] = [];
  const states: string[] = [];
  const sup = new Supervisor([recorder('workloads', journal, { essential: true }), recorder('probing', journal, { failStarts: 2 }), recorder('channel', journal, { essential: true })], fast);
  sup.on('health', (h) => h.name === 'probing' && states.push(h.state));
  await sup.start();
  // The rest started although probing did not.
  assert.ok(journal.includes('start channel'));
  assert.equal(sup.ready, true);
  const probing = await waitFor(() => sup.health().find((h) => h.name === 'probing' && h.state === 'running'), 10_000, 'probing running');
  assert.equal(probing.restarts, 2);
  assert.equal(probing.error, undefined);
  assert.deepEqual(states, ['starting', 'backoff', 'starting', 'backoff', 'starting', 'running']);
  // Each failed start was stopped (cleaning up a partial start) before the next.
  assert.deepEqual(journal.filter((j) => j.endsWith('probing')), ['start probing', 'stop probing', 'start probing', 'stop probing', 'start probing']);
  await sup.stop();
});

test('stopping cancels a pending restart', async () => {
  const journal: string[] = [];
  const sup = new Supervisor([recorder('probing', journal, { failStarts: 1 })], { log, backoff: { initialMs: 60_000, maxMs: 60_000, jitter: 0 } });
  await sup.start();
  assert.equal(sup.health()[0]!.state, 'backoff');
  assert.match(sup.health()[0]!.error!, /probing cannot start/);
  await sup.stop();
  assert.deepEqual(journal, ['start probing', 'stop probing']);
  assert.equal(sup.health()[0]!.state, 'stopped');
});

test('a running module that fails is stopped and started again; a stale run cannot fail the new one', async () => {
  const journal: string[] = [];
  const broker = recorder('broker', journal);
  const sup = new Supervisor([broker], fast);
  await sup.start();
  const first = broker.ctx!;
  const firstSignal = broker.signal!;
  first.fail(new Error('listener died'));
  assert.equal(firstSignal.aborted, true, 'the failed run is told to give up');
  await waitFor(() => sup.health()[0]!.restarts === 1 && sup.health()[0]!.state === 'running', 10_000, 'restarted');
  assert.notEqual(broker.ctx, first);
  first.fail(new Error('late echo of the old run'));
  first.fail(new Error('and again'));
  assert.equal(sup.health()[0]!.state, 'running');
  assert.deepEqual(journal, ['start broker', 'stop broker', 'start broker']);
  await sup.stop();
});

test('an essential module that fails after the start stops everything and reports fatal', async () => {
  const journal: string[] = [];
  const store = recorder('store', journal, { essential: true });
  const sup = new Supervisor([store, recorder('api', journal, { essential: true })], fast);
  await sup.start();
  const fatal = new Promise<ModuleFailedError>((resolve) => sup.once('fatal', resolve));
  store.ctx!.fail(new Error('database gone'));
  const err = await fatal;
  assert.equal(err.module, 'store');
  assert.match(err.message, /module "store" failed: database gone/);
  assert.deepEqual(journal, ['start store', 'start api', 'stop api', 'stop store']);
  assert.equal(sup.ready, false);
});

test('a stop during a start waits for it, stops the module once, and the start returns quietly', async () => {
  const journal: string[] = [];
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const slow = recorder('slow', journal, { essential: true, startGate: gate });
  const sup = new Supervisor([recorder('first', journal), slow, recorder('never', journal)], fast);
  const started = sup.start();
  await waitFor(() => slow.signal, 5000, 'slow starting');
  const stopped = sup.stop();
  assert.equal(slow.signal!.aborted, true, 'the start may give up early');
  open();
  await Promise.all([started, stopped]);
  assert.deepEqual(journal, ['start first', 'start slow', 'stop slow', 'stop first']);
  assert.equal(sup.health().find((h) => h.name === 'never')!.state, 'pending');
});

test('a module that fails while starting is a failed start', async () => {
  const journal: string[] = [];
  const m: Module = {
    name: 'flaky',
    async start(ctx) {
      ctx.fail(new Error('gave up half-way'));
    },
    async stop() {
      journal.push('stop');
    },
  };
  const sup = new Supervisor([m], { log, backoff: { initialMs: 60_000, maxMs: 60_000 } });
  await sup.start();
  assert.equal(sup.health()[0]!.state, 'backoff');
  assert.equal(sup.health()[0]!.error, 'gave up half-way');
  await sup.stop();
  assert.deepEqual(journal, ['stop']);
});

test('two modules of one name are refused', () => {
  const j: string[] = [];
  assert.throws(() => new Supervisor([recorder('x', j), recorder('x', j)], fast), /two modules are named "x"/);
});
