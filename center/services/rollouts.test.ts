import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError, serviceSchema, templateHash, type Service } from '../../core/index.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import type { TokenRecord } from '../store/store.ts';
import { Rollouts } from './rollouts.ts';

const token = (kind: TokenRecord['kind'], projects: string[] = []): TokenRecord => ({ id: `t-${kind}`, kind, hash: 'h', description: 'ops', subject: null, projects, createdAt: '', expiresAt: null, usedAt: null });

/** A service whose history has revisions 1-3 (commands v1-v3), 3 current: as the service controller leaves it. */
async function withHistory() {
  const store = await openSqliteStore(':memory:');
  const s = serviceSchema.parse({ apiVersion: 'gedge.io/v1', kind: 'Service', metadata: { name: 'web', project: 'p1', labels: {} }, spec: { template: { command: ['v3'] } } }) as Service;
  const revisions = [1, 2, 3].map((n) => {
    const template = { ...s.spec.template, command: [`v${n}`] };
    return { revision: n, hash: templateHash(template, s.spec.placement), template, placement: s.spec.placement, createdAt: '2026-12-06T00:00:00.000Z' };
  });
  await store.create(s);
  await store.updateStatus('Service', 'p1', 'web', { replicas: 1, ready: 1, conditions: [], revision: 3, revisions });
  return store;
}

test('undo, without HTTP: back to the newest earlier revision, or the one named; refused (changing nothing) for the current or an unknown one', async (t) => {
  const store = await withHistory();
  t.after(() => store.close());
  const rollouts = new Rollouts(store);
  const command = async () => ((await store.get('Service', 'p1', 'web')) as Service).spec.template.command;

  await assert.rejects(rollouts.undo(token('admin'), 'p1', 'web', 3), ConflictError);
  await assert.rejects(rollouts.undo(token('admin'), 'p1', 'web', 7), (e: ValidationError) => e instanceof ValidationError && /known revisions: 1, 2, 3/.test(e.details[0]!.message));
  assert.deepEqual(await command(), ['v3'], 'refusals change nothing');

  await rollouts.undo(token('user', ['p1']), 'p1', 'web');
  assert.deepEqual(await command(), ['v2']);
  await rollouts.undo(token('admin'), 'p1', 'web', 1);
  assert.deepEqual(await command(), ['v1']);
  const events = (await store.list('Event')).items;
  assert.deepEqual(events.map((e) => e.spec.message).sort(), ['token t-admin (admin, ops) went back to revision 1 (command v1)', 'token t-user (user, ops) went back to revision 2 (command v2)']);
});

test("pause and resume; another project's token learns nothing, not even whether the service exists", async (t) => {
  const store = await withHistory();
  t.after(() => store.close());
  const rollouts = new Rollouts(store);
  assert.equal(((await rollouts.setPaused(token('admin'), 'p1', 'web', true)) as Service).spec.rollout.paused, true);
  assert.equal(((await rollouts.setPaused(token('admin'), 'p1', 'web', false)) as Service).spec.rollout.paused, false);
  await assert.rejects(rollouts.setPaused(token('user', ['p2']), 'p1', 'web', true), ForbiddenError);
  await assert.rejects(rollouts.setPaused(token('user', ['p2']), 'p1', 'nothing', true), ForbiddenError);
  await assert.rejects(rollouts.undo(token('admin'), 'p1', 'nothing'), NotFoundError);
});
