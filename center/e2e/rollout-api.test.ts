import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiClient, ForbiddenError, ValidationError, type GedgeEvent, type Service } from '../../core/index.ts';
import { removeDir, startCenterProcess, testService, waitFor } from '../../testkit/index.ts';

test('rollout undo, pause and resume over the real API, with errors and project access', async () => {
  const c = await startCenterProcess();
  try {
    const api = c.api;
    const svc = (script: string) => JSON.stringify(testService('web', { script }));
    await api.apply(svc('/* v1 */'));
    await waitFor(async () => (await api.get<Service>('Service', 'web')).status?.revision === 1, 10_000, 'revision 1');
    await api.apply(svc('/* v2 */'));
    await waitFor(async () => (await api.get<Service>('Service', 'web')).status?.revision === 2, 10_000, 'revision 2');

    // Undo: back to revision 1's template, which keeps its number.
    const undone = await api.rollout<Service>('undo', 'web');
    assert.match(undone.spec.template.command.at(-1)!, /v1/);
    await waitFor(async () => (await api.get<Service>('Service', 'web')).status?.revision === 1, 10_000, 'revision 1 current again');
    await assert.rejects(api.rollout('undo', 'web', { toRevision: 9 }), (e: unknown) => e instanceof ValidationError && /revision 9 is not in the history/.test(e.message));
    await assert.rejects(api.rollout('undo', 'ghost'), /Service "ghost" not found/);
    const events = (await api.list<GedgeEvent>('Event', { selector: 'gedge.io/involved-name=web' })).items.map((e) => `${e.spec.reason}: ${e.spec.message}`);
    assert.ok(events.some((e) => /^RolloutUndo: token \S+ \(admin.*\) went back to revision 1/.test(e)), events.join('\n'));

    // Pause and resume edit spec.rollout.paused; both are idempotent.
    assert.equal((await api.rollout<Service>('pause', 'web')).spec.rollout.paused, true);
    assert.equal((await api.rollout<Service>('pause', 'web')).spec.rollout.paused, true);
    assert.equal((await api.rollout<Service>('resume', 'web')).spec.rollout.paused, false);

    // A user token of another project is refused before any lookup.
    await api.apply('apiVersion: gedge.io/v1\nkind: Project\nmetadata: { name: other }\nspec: {}\n');
    const other = await api.createToken({ kind: 'user', projects: ['other'] });
    const stranger = new ApiClient(c.url, other.token, c.ca);
    await assert.rejects(stranger.rollout('pause', 'web'), ForbiddenError);
    await assert.rejects(stranger.rollout('pause', 'ghost'), ForbiddenError);
    assert.equal((await api.get<Service>('Service', 'web')).spec.rollout.paused, false, 'nothing changed');
  } finally {
    await c.process.stop();
    removeDir(c.dataDir);
  }
});
