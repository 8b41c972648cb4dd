import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { BURST_LABEL, isBurst, nowIso, RETIRING_LABEL, SERVICE_LABEL, type Instance, type Revision, type RolloutStatus, type Service, type ServiceStatus, DEFAULT_PROJECT, ConflictError, durationMs, modelVersionName, nameKey, NotFoundError, projectKey, projectOf, splitNameKey, templateHash } from '../../core/index.ts';
import type { Store } from '../store/store.ts';
import { watch, type Reconciler } from './controller.ts';
import type { Reader } from './object-cache.ts';
import { recordEvent } from '../events.ts';
import { retirementsDue } from '../../scheduler/index.ts';
import { planRollout, type PlanInstance, type Replacement, type RolloutPlan } from './rollout-plan.ts';
import { describeRevision, withCurrentRevision } from './revisions.ts';

/** The site a rollout created an instance for (its replacements are pinned there). */
export const ROLLOUT_SITE_LABEL = 'gedge.io/rollout-site';
export const REVISION_LABEL = 'gedge.io/revision';
/** The old instance a rollout created an instance to replace. */
export const REPLACES_LABEL = 'gedge.io/replaces';

/**
 * Service -> instances: keeps `replicas` instances of the current template,
 * rolls a changed template out site by site (rollout-plan.ts), rolls back a
 * revision that fails its health gate, and keeps the service status
 * (replicas, readiness, revision history, rollout progress).
 */
export class ServiceController implements Reconciler {
  readonly name = 'service';
  readonly watches = [
    watch('Service', (e) => [projectKey(e.object)]),
    // It owns its instances: a change to one wakes their service.
    watch('Instance', (e) => {
      const owner = e.object.metadata.labels[SERVICE_LABEL];
      return owner ? [nameKey(projectOf(e.object), owner)] : [];
    }),
  ];

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly reader: Reader = store,
  ) {}

  async resync(reader: Reader): Promise<string[]> {
    return (await reader.list('Service')).items.map(projectKey);
  }

  async reconcile(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const [project, name] = splitNameKey(key);
    const service = await this.reader.get('Service', project, name);
    const all = (await this.reader.list('Instance', { project, selector: [{ key: SERVICE_LABEL, op: 'eq', value: name }] })).items;
    if (!service) {
      // Garbage-collect the instances of a deleted service.
      for (const i of all) await this.remove(i);
      return;
    }
    // Instances added upward while sites overflow are the burst controller's.
    const owned = all.filter((i) => !isBurst(i));
    const now = nowIso();
    const hash = templateHash(service.spec.template, service.spec.placement);
    const { revisions, current: revision, isNew } = withCurrentRevision(service, hash, now);
    const fresh = owned.filter((i) => i.spec.templateHash === hash);
    const old = owned.filter((i) => i.spec.templateHash !== hash);

    let rollout = service.status?.rollout;
    if (old.length > 0 || isNew) rollout = await this.startedOrResumed(service, revision, rollout, now);

    let plan: RolloutPlan | undefined;
    if (old.length > 0) {
      plan = planRollout({
        replicas: service.spec.replicas,
        maxSurge: service.spec.maxSurge,
        maxUnavailable: service.spec.maxUnavailable,
        rollout: service.spec.rollout,
        instances: await this.planInstances(owned, hash),
        nowMs: Date.now(),
      });
      if (plan.failure) return this.fail(service, revisions, revision, rollout!, plan.failure, owned);
      for (const gone of plan.remove) await this.remove(owned.find((i) => i.metadata.name === gone)!);
      for (const r of plan.create) {
        const replaced = owned.find((i) => i.metadata.name === r.replaces);
        fresh.push(await this.createInstance(service, hash, revision.revision, r, await this.evaluationFor(service, revisions, rollout, replaced)));
      }
    } else {
      await this.scale(service, fresh, hash, revision.revision);
    }
    const current = fresh.filter((i) => !(RETIRING_LABEL in i.metadata.labels) && !plan?.remove.includes(i.metadata.name));
    rollout = rollout && (await this.progress(service, rollout, plan, current));
    if (rollout?.phase === 'Complete') await this.promoted(current);
    await this.writeStatus(service, current, revisions, revision, rollout);
    // The health gate is time-based: look again when the oldest unready new instance reaches its deadline.
    if (rollout?.phase === 'Progressing') return { requeueAfterMs: Math.min(durationMs(service.spec.rollout.progressDeadline), 5000) };
  }

  /** Without old instances: the steady state (scale, and make-before-break moves for retiring instances). */
  private async scale(service: Service, fresh: Instance[], hash: string, revision: number): Promise<void> {
    const retiring = fresh.filter((i) => RETIRING_LABEL in i.metadata.labels);
    const current = fresh.filter((i) => !(RETIRING_LABEL in i.metadata.labels));
    const views = [...current, ...retiring].map((i) => ({ name: i.metadata.name, ready: i.status?.ready ?? false, retiring: RETIRING_LABEL in i.metadata.labels }));
    for (const gone of retirementsDue(views, service.spec.replicas)) {
      const i = retiring.find((r) => r.metadata.name === gone)!;
      await this.remove(i);
      fresh.splice(fresh.indexOf(i), 1);
      await this.event(service, 'Normal', 'Moved', `retired ${gone} from ${i.spec.node ?? 'no node'} (${i.metadata.labels[RETIRING_LABEL]}); its replacement is ready`);
    }
    const want = service.spec.replicas;
    for (let n = current.length; n < want; n++) {
      const inst = await this.createInstance(service, hash, revision, undefined);
      current.push(inst);
      fresh.push(inst);
    }
    if (current.length > want) {
      // Scale in the least useful first: unbound, then not ready, then newest.
      const rank = (i: Instance) => (i.spec.node ? 0 : 2) + (i.status?.ready ? 0 : 1);
      const victims = [...current].sort((a, b) => rank(b) - rank(a) || (b.metadata.createdAt ?? '').localeCompare(a.metadata.createdAt ?? '')).slice(0, current.length - want);
      for (const v of victims) {
        await this.remove(v);
        fresh.splice(fresh.indexOf(v), 1);
      }
    }
  }

  /** A rollout of `revision` begins (or a pause is lifted / set); returns the status to carry on with. */
  private async startedOrResumed(service: Service, revision: Revision, prev: RolloutStatus | undefined, now: string): Promise<RolloutStatus> {
    const paused = service.spec.rollout.paused;
    if (prev && prev.revision === revision.revision && prev.phase !== 'Complete') {
      if (prev.phase === 'RolledBack' || prev.phase === 'Failed') return prev;
      if (paused && prev.phase !== 'Paused') {
        await this.event(service, 'Normal', 'RolloutPaused', `rollout of revision ${revision.revision} paused`);
        return { ...prev, phase: 'Paused', message: 'paused' };
      }
      if (!paused && prev.phase === 'Paused') {
        await this.event(service, 'Normal', 'RolloutResumed', `rollout of revision ${revision.revision} resumed`);
        return { ...prev, phase: 'Progressing', message: '' };
      }
      return prev;
    }
    if (prev && prev.revision === revision.revision) return prev;
    const stable = prev?.phase === 'Complete' ? prev.revision : prev?.stableRevision;
    if (service.status?.revision !== undefined) {
      await this.event(service, 'Normal', 'RolloutStarted', `rolling out revision ${revision.revision} (${describeRevision(revision)}) site by site${stable ? `; revision ${stable} is the rollback target` : ''}`);
    }
    return { revision: revision.revision, phase: paused ? 'Paused' : 'Progressing', ...(stable ? { stableRevision: stable } : {}), sites: [], updated: 0, ready: 0, message: '', startedAt: now };
  }

  /** Per-site progress, site-done events, and completion. */
  private async progress(service: Service, rollout: RolloutStatus, plan: RolloutPlan | undefined, current: Instance[]): Promise<RolloutStatus> {
    const ready = current.filter((i) => i.status?.ready).length;
    const next: RolloutStatus = { ...rollout, updated: current.length, ready, sites: plan?.sites ?? rollout.sites };
    for (const s of next.sites) {
      const before = rollout.sites.find((p) => p.site === s.site);
      if (s.done && before && !before.done && !plan?.finished) await this.event(service, 'Normal', 'RolloutSiteDone', `revision ${rollout.revision}: site ${s.site} updated (${s.updated} instances)`);
    }
    const finished = (plan?.finished ?? true) && ready >= service.spec.replicas;
    if (!finished || rollout.phase === 'Complete') return next;
    if (rollout.phase === 'RolledBack' || rollout.phase === 'Failed') {
      return rollout.finishedAt ? next : { ...next, finishedAt: nowIso() };
    }
    if (service.status?.revision !== undefined && rollout.phase === 'Progressing') {
      await this.event(service, 'Normal', 'RolloutComplete', `revision ${rollout.revision} rolled out: ${ready}/${service.spec.replicas} ready`);
    }
    return { ...next, phase: 'Complete', stableRevision: rollout.revision, message: '', finishedAt: nowIso(), sites: next.sites.map((s) => ({ ...s, total: s.updated, done: true })) };
  }

  /** The new revision failed its health gate: stop, and put the last good template back when allowed. */
  private async fail(service: Service, revisions: Revision[], revision: Revision, rollout: RolloutStatus, why: string, owned: Instance[]): Promise<{ requeueAfterMs: number }> {
    const { project = DEFAULT_PROJECT, name } = service.metadata;
    const stable = revisions.find((r) => r.revision === rollout.stableRevision);
    await this.event(service, 'Warning', 'RolloutFailed', `revision ${revision.revision} failed its health gate: ${why}`);
    const current = owned.filter((i) => i.spec.templateHash === revision.hash);
    const status = await this.statusFor(service, current, revisions, revision);
    if (!service.spec.rollout.autoRollback || !stable) {
      const message = `${why}; ${stable ? 'automatic rollback is off' : 'no earlier revision to roll back to'}: fix the service or run gedge rollout undo`;
      await this.store.updateStatus('Service', project, name, { ...status, rollout: { ...rollout, phase: 'Failed', message, finishedAt: nowIso() } });
      return { requeueAfterMs: 60_000 };
    }
    // Spec and status in one write, so the next reconcile sees the stable template with the RolledBack rollout.
    const rolledBack: RolloutStatus = { ...rollout, revision: stable.revision, phase: 'RolledBack', message: `revision ${revision.revision} ${why}; rolled back to revision ${stable.revision}` };
    const spec = { ...service.spec, template: stable.template, placement: stable.placement };
    await this.store.update({ ...service, spec, status: { ...status, rollout: rolledBack } } as Service, { withStatus: true, expectRevision: service.metadata.revision });
    await this.event(service, 'Warning', 'RolledBack', `rolled back from revision ${revision.revision} to revision ${stable.revision} (${describeRevision(stable)})`);
    this.logger.warn({ service: `${project}/${name}`, from: revision.revision, to: stable.revision, why }, 'rollout failed; rolled back');
    return { requeueAfterMs: 0 };
  }

  private async writeStatus(service: Service, current: Instance[], revisions: Revision[], revision: Revision, rollout: RolloutStatus | undefined): Promise<void> {
    const { project = DEFAULT_PROJECT, name } = service.metadata;
    const status = { ...(await this.statusFor(service, current, revisions, revision)), ...(rollout ? { rollout } : {}) };
    const prev = service.status;
    if (prev && JSON.stringify(withoutTimes(prev)) === JSON.stringify(withoutTimes(status))) return;
    try {
      await this.store.updateStatus('Service', project, name, status);
    } catch (err) {
      // Deleted during this reconcile: the deletion enqueues it again, and that reconcile collects its instances.
      if (err instanceof NotFoundError) return;
      throw err;
    }
    const available = status.conditions[0]!.status;
    if (prev && prev.conditions[0]?.status !== available) {
      await this.event(service, available === 'True' ? 'Normal' : 'Warning', available === 'True' ? 'Available' : 'Unavailable', `${status.ready}/${service.spec.replicas} replicas ready`);
    }
  }

  private async statusFor(service: Service, current: Instance[], revisions: Revision[], revision: Revision): Promise<ServiceStatus> {
    const ready = current.filter((i) => i.status?.ready).length;
    const available = ready >= service.spec.replicas ? ('True' as const) : ('False' as const);
    const prevCondition = service.status?.conditions[0];
    const at = prevCondition?.status === available ? prevCondition.at : nowIso();
    return { replicas: current.length, ready, conditions: [{ type: 'Available', status: available, at }], revision: revision.revision, revisions };
  }

  private async planInstances(owned: Instance[], hash: string): Promise<PlanInstance[]> {
    const siteOf = new Map<string, string | undefined>();
    const out: PlanInstance[] = [];
    for (const i of owned) {
      if (RETIRING_LABEL in i.metadata.labels && i.spec.templateHash === hash) continue;
      const node = i.spec.node;
      if (node && !siteOf.has(node)) siteOf.set(node, (await this.reader.get('Node', undefined, node))?.spec.site);
      out.push({
        name: i.metadata.name,
        current: i.spec.templateHash === hash,
        site: node ? siteOf.get(node) : undefined,
        forSite: i.metadata.labels[ROLLOUT_SITE_LABEL],
        replaces: i.metadata.labels[REPLACES_LABEL],
        ready: i.status?.ready ?? false,
        restarts: i.status?.restarts ?? 0,
        failed: i.status?.phase === 'Failed',
        ...(i.status?.evaluation?.phase === 'Failed' ? { gateFailure: i.status.evaluation.message } : {}),
        createdAtMs: Date.parse(i.metadata.createdAt ?? '') || Date.now(),
      });
    }
    return out;
  }

  /**
   * A gated model rollout's new instances are measured at their node
   * against the model of the instance they replace (the stable revision's
   * when that one is unknown): what to measure against, on what (the new
   * version's evaluation set), and the gate. Undefined without a gate, or
   * when the model file does not change.
   */
  private async evaluationFor(s: Service, revisions: Revision[], rollout: RolloutStatus | undefined, replaced: Instance | undefined): Promise<Instance['spec']['evaluation']> {
    const gate = s.spec.rollout.modelGate;
    const next = s.spec.template.artifact;
    const baseline = replaced?.spec.template.artifact ?? revisions.find((r) => r.revision === rollout?.stableRevision)?.template.artifact;
    if (!gate || !next || !baseline || baseline.digest === next.digest || s.spec.template.runtime !== 'model') return undefined;
    // From the store: the controllers' cache holds no Models, and this is read once a gated rollout step.
    const model = await this.store.get('Model', projectOf(s), modelVersionName(next.model, next.version));
    const evalSet = model?.spec.evaluation?.artifact;
    return { baseline, ...(evalSet ? { evalSet } : {}), gate };
  }

  /**
   * A completed rollout's instances serve for good: what they were measured
   * against is dropped from their spec, so a node that starts one again (an
   * agent restart) neither measures nor holds it back again, nor needs the
   * old version's file.
   */
  private async promoted(current: Instance[]): Promise<void> {
    for (const i of current) {
      if (!i.spec.evaluation) continue;
      const { evaluation: _gone, ...spec } = i.spec;
      try {
        await this.store.update({ ...i, spec } as Instance, { expectRevision: i.metadata.revision });
      } catch (err) {
        // Changed or gone meanwhile: the change wakes this controller again.
        if (!(err instanceof NotFoundError) && !(err instanceof ConflictError)) throw err;
      }
    }
  }

  private async createInstance(s: Service, hash: string, revision: number, replacement: Replacement | undefined, evaluation?: Instance['spec']['evaluation']): Promise<Instance> {
    const site = replacement?.site;
    // Pinned to the site being rolled, unless the service's own placement excludes it.
    const pin = site !== undefined && (!s.spec.placement.sites || s.spec.placement.sites.includes(site));
    const inst: Instance = {
      apiVersion: 'gedge.io/v1',
      kind: 'Instance',
      metadata: {
        name: `${s.metadata.name.slice(0, 50)}-${randomBytes(3).toString('hex')}`,
        project: s.metadata.project,
        labels: { ...withoutBurst(s.metadata.labels), [SERVICE_LABEL]: s.metadata.name, [REVISION_LABEL]: String(revision), ...(site ? { [ROLLOUT_SITE_LABEL]: site } : {}), ...(replacement ? { [REPLACES_LABEL]: replacement.replaces } : {}) },
      },
      spec: { service: s.metadata.name, template: s.spec.template, placement: pin ? { ...s.spec.placement, sites: [site] } : s.spec.placement, templateHash: hash, revision, ...(evaluation ? { evaluation } : {}), ...(s.spec.continuity ? { continuity: s.spec.continuity } : {}) },
      status: { phase: 'Pending', ready: false, restarts: 0, ports: {}, conditions: [] },
    };
    return this.store.create(inst);
  }

  private async remove(i: Instance): Promise<void> {
    try {
      await this.store.delete('Instance', i.metadata.project, i.metadata.name);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }

  private event(service: Service, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    return recordEvent(this.store, { involved: { kind: 'Service', name: service.metadata.name, project: service.metadata.project }, reason, message, type, at: nowIso(), source: 'center' });
  }
}

/** A Service's labels as its instances carry them: never the burst controller's own (an instance with it would be left to that controller). */
function withoutBurst(labels: Record<string, string>): Record<string, string> {
  const { [BURST_LABEL]: _, ...rest } = labels;
  return rest;
}

function withoutTimes(s: ServiceStatus): unknown {
  return { ...s, conditions: s.conditions.map((c) => ({ ...c, at: undefined })) };
}
