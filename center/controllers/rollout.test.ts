import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pino } from 'pino';
import { parseSelector, serviceSchema, SERVICE_LABEL, type GedgeEvent, type Instance, type Resource, type Service } from '../../core/index.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import type { Store } from '../store/store.ts';
import { planRollout, type PlanInstance } from './rollout-plan.ts';
import { ROLLOUT_SITE_LABEL, ServiceController } from './service-controller.ts';

describe('planRollout', () => {
  const instance = fc.record({
    current: fc.boolean(),
    site: fc.constantFrom('a', 'b', 'c', undefined),
    ready: fc.boolean(),
    restarts: fc.nat({ max: 1 }),
  });
  const input = fc.record({
    replicas: fc.integer({ min: 0, max: 8 }),
    maxSurge: fc.integer({ min: 0, max: 3 }),
    maxUnavailable: fc.integer({ min: 0, max: 3 }),
    instances: fc.array(instance, { maxLength: 12 }),
  });

  it('never takes ready instances below the floor, never creates beyond the surge, only removes old instances of one site', () => {
    fc.assert(
      fc.property(input, ({ replicas, maxSurge, maxUnavailable, instances }) => {
        fc.pre(maxSurge + maxUnavailable > 0);
        const all: PlanInstance[] = instances.map((i, n) => ({ ...i, name: `i${n}`, forSite: i.current ? i.site : undefined, failed: false, createdAtMs: 0 }));
        const plan = planRollout({ replicas, maxSurge, maxUnavailable, rollout: { paused: false, progressDeadline: '1m', maxRestarts: 3 }, instances: all, nowMs: 0 });
        if (plan.failure) return;
        // Each creation replaces a different old instance.
        assert.equal(new Set(plan.create.map((c) => c.replaces)).size, plan.create.length);
        const removed = all.filter((i) => plan.remove.includes(i.name));
        assert.ok(removed.every((i) => !i.current), 'only old instances are removed');
        const readyBefore = all.filter((i) => i.ready).length;
        const readyAfter = readyBefore - removed.filter((i) => i.ready).length;
        assert.ok(readyAfter >= Math.min(readyBefore, replicas - maxUnavailable), `ready ${readyBefore} -> ${readyAfter}, floor ${replicas - maxUnavailable}`);
        const totalAfter = all.length - removed.length + plan.create.length;
        if (plan.create.length > 0) assert.ok(totalAfter <= replicas + maxSurge, `${totalAfter} instances over ${replicas}+${maxSurge}`);
        assert.ok(all.filter((i) => i.current).length + plan.create.length <= Math.max(replicas, all.filter((i) => i.current).length));
        const site = (i: PlanInstance) => i.site ?? '-';
        const sitesTouched = new Set(removed.filter((i) => i.ready).map(site));
        assert.ok(sitesTouched.size <= 1 || removed.length > 0, 'ready old instances go one site at a time');
      }),
      { numRuns: 2000 },
    );
  });

  it('fails on a crash loop, a failed instance, or the progress deadline, and not before', () => {
    const base = { replicas: 1, maxSurge: 1, maxUnavailable: 0, nowMs: 10_000, rollout: { paused: false, progressDeadline: '5s', maxRestarts: 3 } };
    const old: PlanInstance = { name: 'old', current: false, site: 'a', forSite: undefined, ready: true, restarts: 0, failed: false, createdAtMs: 0 };
    const fresh = (o: Partial<PlanInstance>): PlanInstance => ({ name: 'new', current: true, site: 'a', forSite: 'a', ready: false, restarts: 0, failed: false, createdAtMs: 9000, ...o });
    assert.equal(planRollout({ ...base, instances: [old, fresh({ restarts: 2 })] }).failure, undefined);
    assert.match(planRollout({ ...base, instances: [old, fresh({ restarts: 3 })] }).failure ?? '', /crash loop/);
    assert.match(planRollout({ ...base, instances: [old, fresh({ failed: true })] }).failure ?? '', /failed/);
    assert.match(planRollout({ ...base, instances: [old, fresh({ createdAtMs: 4000 })] }).failure ?? '', /not ready within 5s/);
    assert.equal(planRollout({ ...base, instances: [old, fresh({ createdAtMs: 4000, ready: true })] }).failure, undefined);
  });

  it('fails at once when a new model version fails its model gate at its node', () => {
    const base = { replicas: 1, maxSurge: 1, maxUnavailable: 0, nowMs: 10_000, rollout: { paused: false, progressDeadline: '5m', maxRestarts: 3 } };
    const old: PlanInstance = { name: 'old', current: false, site: 'a', forSite: undefined, ready: true, restarts: 0, failed: false, createdAtMs: 0 };
    const candidate: PlanInstance = { name: 'new', current: true, site: 'a', forSite: 'a', ready: false, restarts: 0, failed: false, createdAtMs: 9000, gateFailure: 'accuracy 10.00 % against 87.50 %' };
    assert.equal(planRollout({ ...base, instances: [old, candidate] }).failure, 'instance new failed its model gate: accuracy 10.00 % against 87.50 %');
    assert.equal(planRollout({ ...base, instances: [old, { ...candidate, gateFailure: undefined }] }).failure, undefined, 'still being measured: no step, no failure');
  });

  it('a paused rollout makes no step', () => {
    const old: PlanInstance = { name: 'old', current: false, site: 'a', forSite: undefined, ready: true, restarts: 0, failed: false, createdAtMs: 0 };
    const plan = planRollout({ replicas: 1, maxSurge: 1, maxUnavailable: 1, nowMs: 0, rollout: { paused: true, progressDeadline: '5s', maxRestarts: 3 }, instances: [old] });
    assert.deepEqual([plan.create, plan.remove], [[], []]);
  });
});

describe('ServiceController rollouts', () => {
  async function setup(t: TestContext): Promise<{ store: Store; ctl: ServiceController }> {
    const store = await openSqliteStore(':memory:');
    t.after(() => store.close());
    await store.create({ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: 'default', labels: {} }, spec: { description: '' } });
    for (const site of ['east', 'west']) {
      await store.create({ apiVersion: 'gedge.io/v1', kind: 'Site', metadata: { name: site, labels: {} }, spec: { tier: 'edge', description: '' } } as Resource);
      for (const n of [1, 2]) await store.create({ apiVersion: 'gedge.io/v1', kind: 'Node', metadata: { name: `${site}-${n}`, labels: {} }, spec: { site, capacity: { cpu: 4, memoryMiB: 4096, diskMiB: 0, accelerators: {} }, unschedulable: false, taints: [] } } as Resource);
    }
    return { store, ctl: new ServiceController(store, pino({ level: 'silent' })) };
  }

  const instances = async (store: Store): Promise<Instance[]> => (await store.list('Instance', { project: 'default', selector: parseSelector(`${SERVICE_LABEL}=web`) })).items;
  const getService = async (store: Store): Promise<Service> => (await store.get('Service', 'default', 'web')) as Service;
  const events = async (store: Store): Promise<GedgeEvent[]> => (await store.list('Event', { selector: parseSelector('gedge.io/involved-kind=Service,gedge.io/involved-name=web') })).items;
  const siteOf = (node: string | undefined): string | undefined => node?.replace(/-\d$/, '');

  /** What the scheduler and the agents would do: place each new instance in its pinned site (alternating nodes) and report it. */
  async function placeAndRun(store: Store, healthy: (i: Instance) => boolean): Promise<void> {
    let n = 0;
    for (const i of await instances(store)) {
      if (i.spec.node) continue;
      const site = i.spec.placement.sites?.[0] ?? 'east';
      await store.update({ ...i, spec: { ...i.spec, node: `${site}-${(n++ % 2) + 1}` } });
      const ok = healthy(i);
      await store.updateStatus('Instance', 'default', i.metadata.name, { phase: 'Running', ready: ok, restarts: ok ? 0 : 3, ports: {}, conditions: [] });
    }
  }

  async function deploy(store: Store, ctl: ServiceController, command: string[]): Promise<void> {
    await store.create(serviceSchema.parse({ kind: 'Service', metadata: { name: 'web', project: 'default', labels: {} }, spec: { replicas: 4, maxSurge: 1, maxUnavailable: 1, template: { command }, placement: { policy: 'spread' } } }));
    // Two per site, as a spread placement would.
    await ctl.reconcile('default/web');
    const insts = await instances(store);
    for (const [k, i] of insts.entries()) {
      await store.update({ ...i, spec: { ...i.spec, node: k < 2 ? `east-${k + 1}` : `west-${k - 1}` } });
      await store.updateStatus('Instance', 'default', i.metadata.name, { phase: 'Running', ready: true, restarts: 0, ports: {}, conditions: [] });
    }
    await ctl.reconcile('default/web');
    assert.equal((await getService(store)).status?.rollout?.phase, 'Complete');
  }

  async function change(store: Store, command: string[]): Promise<void> {
    const s = await getService(store);
    await store.update({ ...s, spec: { ...s.spec, template: { ...s.spec.template, command } } });
  }

  it('rolls a new revision out site by site, never below the floor nor above the surge', async (t) => {
    const { store, ctl } = await setup(t);
    await deploy(store, ctl, ['v1']);
    await change(store, ['v2']);
    for (let step = 0; step < 30; step++) {
      await ctl.reconcile('default/web');
      const now = await instances(store);
      assert.ok(now.length <= 5, `${now.length} instances: over replicas + maxSurge`);
      assert.ok(now.filter((i) => i.status?.ready).length >= 3, 'fewer ready than replicas - maxUnavailable');
      const oldSites = new Set(now.filter((i) => i.spec.template.command[0] === 'v1').map((i) => siteOf(i.spec.node)));
      if (oldSites.has('east')) assert.ok(now.filter((i) => i.spec.template.command[0] === 'v1' && siteOf(i.spec.node) === 'west').length === 2, 'west is untouched while east rolls');
      if ((await getService(store)).status?.rollout?.phase === 'Complete') break;
      await placeAndRun(store, () => true);
    }
    const s = await getService(store);
    assert.equal(s.status?.rollout?.phase, 'Complete');
    assert.deepEqual([s.status?.revision, s.status?.rollout?.stableRevision, s.status?.revisions.map((r) => r.revision)], [2, 2, [1, 2]]);
    const final = await instances(store);
    assert.equal(final.length, 4);
    assert.ok(final.every((i) => i.spec.template.command[0] === 'v2' && i.spec.revision === 2));
    assert.deepEqual([...new Set(final.map((i) => i.metadata.labels[ROLLOUT_SITE_LABEL]))].sort(), ['east', 'west']);
    const reasons = (await events(store)).map((e) => `${e.spec.reason}: ${e.spec.message}`);
    assert.ok(reasons.some((r) => /RolloutStarted: rolling out revision 2 \(command v2\)/.test(r)), reasons.join('\n'));
    const siteDone = reasons.filter((r) => r.startsWith('RolloutSiteDone'));
    assert.deepEqual(siteDone, ['RolloutSiteDone: revision 2: site east updated (2 instances)']);
    assert.ok(reasons.some((r) => r === 'RolloutComplete: revision 2 rolled out: 4/4 ready'));
  });

  it('rolls a crash-looping revision back on its own, never below the floor', async (t) => {
    const { store, ctl } = await setup(t);
    await deploy(store, ctl, ['v1']);
    await change(store, ['v2-broken']);
    for (let step = 0; step < 30; step++) {
      await ctl.reconcile('default/web');
      const now = await instances(store);
      assert.ok(now.filter((i) => i.status?.ready).length >= 3, 'fewer ready than replicas - maxUnavailable');
      const s = await getService(store);
      if (s.status?.rollout?.phase === 'RolledBack' && now.length === 4 && now.every((i) => i.spec.template.command[0] === 'v1' && i.status?.ready)) break;
      await placeAndRun(store, (i) => i.spec.template.command[0] !== 'v2-broken');
    }
    const s = await getService(store);
    assert.deepEqual(s.spec.template.command, ['v1'], 'the stable template is back in the spec');
    assert.equal(s.status?.rollout?.phase, 'RolledBack');
    assert.equal(s.status?.revision, 1);
    assert.match(s.status?.rollout?.message ?? '', /revision 2 instance .* restarted 3 times without becoming ready \(crash loop\); rolled back to revision 1/);
    const final = await instances(store);
    assert.equal(final.length, 4);
    assert.ok(final.every((i) => i.spec.template.command[0] === 'v1'));
    const story = (await events(store)).map((e) => e.spec.reason);
    for (const reason of ['RolloutStarted', 'RolloutFailed', 'RolledBack']) assert.ok(story.includes(reason), `${reason} in ${story.join(', ')}`);
    // Applying the broken template again is a new attempt with its old number.
    await change(store, ['v2-broken']);
    await ctl.reconcile('default/web');
    assert.deepEqual([(await getService(store)).status?.revision, (await getService(store)).status?.rollout?.phase], [2, 'Progressing']);
  });

  it('a paused rollout holds until resumed', async (t) => {
    const { store, ctl } = await setup(t);
    await deploy(store, ctl, ['v1']);
    const s = await getService(store);
    await store.update({ ...s, spec: { ...s.spec, template: { ...s.spec.template, command: ['v2'] }, rollout: { ...s.spec.rollout, paused: true } } });
    await ctl.reconcile('default/web');
    await ctl.reconcile('default/web');
    assert.ok((await instances(store)).every((i) => i.spec.template.command[0] === 'v1'));
    assert.equal((await getService(store)).status?.rollout?.phase, 'Paused');
    const p = await getService(store);
    await store.update({ ...p, spec: { ...p.spec, rollout: { ...p.spec.rollout, paused: false } } });
    await ctl.reconcile('default/web');
    assert.equal((await getService(store)).status?.rollout?.phase, 'Progressing');
    assert.ok((await instances(store)).some((i) => i.spec.template.command[0] === 'v2'));
    const reasons = (await events(store)).map((e) => e.spec.reason);
    assert.ok(reasons.includes('RolloutResumed'));
  });
});
