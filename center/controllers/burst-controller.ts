import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { BURST_LABEL, durationMs, isBurst, nameKey, nowIso, NotFoundError, projectKey, projectOf, SERVICE_LABEL, splitNameKey, templateHash, type Instance, type Placement, type Service } from '../../core/index.ts';
import type { Store } from '../store/store.ts';
import { watch, type Reconciler } from './controller.ts';
import type { Reader } from './object-cache.ts';
import { recordEvent } from '../events.ts';

/** Burst instances go this many holds after the last site stopped overflowing, one each time. */
const COOLDOWN_HOLDS = 3;

/**
 * Capacity upward while edges overflow (GS-Link offloading, docs/link.md):
 * for a Service whose overflow allows `burst` instances, while the agent of
 * any ready node says its site overflows to the upper tiers, one more
 * instance is placed in those tiers (nearest the overflowing sites) each
 * `hold`, up to `burst`; once no site has overflowed for three holds, one
 * goes each three holds. Burst instances carry BURST_LABEL: the service
 * controller leaves them to this one (it keeps `replicas` of the others, and
 * still deletes them with their Service), and the rebalancer never moves
 * them. Nothing is added or replaced while the Service's rollout is under
 * way: burst instances are of the template it promoted. One of an old
 * template goes once a fresh one is ready in its place, or at once when no
 * site overflows.
 *
 * When each site last overflowed and when the count last changed are kept in
 * memory; after a center restart the newest burst instance's creation stands
 * for the last change.
 */
export class BurstController implements Reconciler {
  readonly name = 'burst';
  readonly watches = [
    watch('Service', (e) => [projectKey(e.object)]),
    watch('Instance', (e) => (isBurst(e.object) ? [nameKey(projectOf(e.object), e.object.metadata.labels[SERVICE_LABEL] ?? '')] : [])),
    // A node's agent said which Services overflow at its site: those, and those it said before (they may have stopped).
    watch('Node', (e) => {
      if (!e.statusOnly && !e.deleted) return [];
      const keys = new Set([...(e.deleted ? [] : (e.object.status?.overflowing ?? [])).map((o) => nameKey(o.project, o.service)), ...(this.saidBy.get(e.object.metadata.name) ?? [])]);
      if (e.deleted) this.saidBy.delete(e.object.metadata.name);
      return keys;
    }),
  ];
  private readonly state = new Map<string, { lastChange: number; lastOverflow: number }>();
  /** The Services each node said overflow at its site, last time (to wake those that stopped). */
  private readonly saidBy = new Map<string, string[]>();

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly reader: Reader = store,
    private readonly now: () => number = Date.now,
  ) {}

  /** Services that allow a burst, and those that still have burst instances (a burst lowered to 0 while the center was down). */
  async resync(reader: Reader): Promise<string[]> {
    const withBurst = (await reader.list('Service')).items.filter((s) => s.spec.overflow?.burst).map(projectKey);
    const holding = (await reader.list('Instance')).items.filter(isBurst).map((i) => nameKey(projectOf(i), i.metadata.labels[SERVICE_LABEL] ?? ''));
    return [...new Set([...withBurst, ...holding])];
  }

  async reconcile(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const [project, name] = splitNameKey(key);
    const service = await this.reader.get('Service', project, name);
    const owned = (await this.reader.list('Instance', { project, selector: [{ key: SERVICE_LABEL, op: 'eq', value: name }] })).items.filter(isBurst);
    const max = service?.spec.overflow?.burst ?? 0;
    if (!service || !max) {
      // The Service gone (the service controller deletes its instances) or no burst any more: its burst instances go.
      this.state.delete(key);
      if (service) for (const i of owned) await this.remove(i);
      return;
    }
    // While a rollout is under way (or failed, or paused), nothing is added or replaced: a burst instance is of a template the rollout promoted.
    const phase = service.status?.rollout?.phase;
    const holdMs = durationMs(service.spec.overflow!.hold);
    if (phase && phase !== 'Complete' && phase !== 'RolledBack') return { requeueAfterMs: holdMs };
    const hash = templateHash(service.spec.template, service.spec.placement);
    const fresh = owned.filter((i) => i.spec.templateHash === hash).sort(newestFirst);
    const stale = owned.filter((i) => i.spec.templateHash !== hash);
    const now = this.now();
    const sites = await this.overflowingSites(project, name);
    const s = this.state.get(key) ?? { lastChange: Math.max(0, ...fresh.map(createdMs)), lastOverflow: 0 };
    this.state.set(key, s);
    if (sites.length) s.lastOverflow = now;
    // Of an old template: gone at once when nothing overflows, else each once a fresh one is ready in its place (make-before-break).
    const readyFresh = fresh.filter((i) => i.status?.ready).length;
    while (stale.length && (!sites.length || readyFresh + stale.length > max)) await this.remove(stale.pop()!);
    // Burst lowered below what runs: the newest go.
    for (const extra of fresh.splice(0, Math.max(0, fresh.length - max))) {
      await this.remove(extra);
      await this.event(service, 'BurstDown', `burst lowered to ${max}: ${extra.metadata.name} removed`);
    }
    if (sites.length && fresh.length < max) {
      const wait = s.lastChange + holdMs - now;
      if (wait > 0) return { requeueAfterMs: wait };
      await this.create(service, hash, sites);
      s.lastChange = now;
      await this.event(service, 'BurstUp', `${sites.join(', ')} overflowing to ${service.spec.overflow!.tiers.join(', ')}: one more instance there (${fresh.length + 1} of ${max} at most)`);
      return fresh.length + 1 < max || stale.length ? { requeueAfterMs: holdMs } : undefined;
    }
    if (!sites.length && fresh.length > 0) {
      const cooldown = COOLDOWN_HOLDS * holdMs;
      const wait = Math.max(s.lastOverflow, s.lastChange) + cooldown - now;
      if (wait > 0) return { requeueAfterMs: wait };
      const last = fresh[0]!;
      await this.remove(last);
      s.lastChange = now;
      await this.event(service, 'BurstDown', `no site has overflowed for ${(cooldown / 1000).toFixed(0)}s: ${last.metadata.name} removed (${fresh.length - 1} burst instances left)`);
      return fresh.length > 1 ? { requeueAfterMs: cooldown } : undefined;
    }
    if (stale.length) return { requeueAfterMs: holdMs };
  }

  /** The sites whose ready nodes say the Service overflows there now. */
  private async overflowingSites(project: string, service: string): Promise<string[]> {
    const sites = new Set<string>();
    for (const n of (await this.reader.list('Node')).items) {
      const says = (n.status?.overflowing ?? []).map((o) => nameKey(o.project, o.service));
      this.saidBy.set(n.metadata.name, says);
      if (n.status?.phase === 'Ready' && says.includes(nameKey(project, service))) sites.add(n.spec.site ?? n.metadata.name);
    }
    return [...sites].sort();
  }

  private async create(s: Service, hash: string, sites: string[]): Promise<void> {
    const p = s.spec.placement;
    // In the tiers that take the overflow, nearest the sites that overflow; the Service's own node and site pins do not hold here.
    const placement: Placement = { policy: 'latency', tiers: s.spec.overflow!.tiers, clients: { sites }, ...(p.nodeSelector ? { nodeSelector: p.nodeSelector } : {}), ...(p.tolerations ? { tolerations: p.tolerations } : {}), ...(p.priorityClass ? { priorityClass: p.priorityClass } : {}) };
    const inst: Instance = {
      apiVersion: 'gedge.io/v1',
      kind: 'Instance',
      metadata: {
        name: `${s.metadata.name.slice(0, 50)}-${randomBytes(3).toString('hex')}`,
        project: s.metadata.project,
        // Only the controller's own labels: the Service's (app=...) would let its replicas' affinity terms match these.
        labels: { [SERVICE_LABEL]: s.metadata.name, [BURST_LABEL]: 'true' },
      },
      spec: { service: s.metadata.name, template: s.spec.template, placement, templateHash: hash, ...(s.spec.continuity ? { continuity: s.spec.continuity } : {}) },
      status: { phase: 'Pending', ready: false, restarts: 0, ports: {}, conditions: [] },
    };
    await this.store.create(inst);
    this.logger.info({ service: nameKey(s.metadata.project ?? '', s.metadata.name), instance: inst.metadata.name, sites }, 'burst: an instance added upward');
  }

  private async remove(i: Instance): Promise<void> {
    try {
      await this.store.delete('Instance', i.metadata.project, i.metadata.name);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }

  private event(service: Service, reason: string, message: string): Promise<void> {
    return recordEvent(this.store, { involved: { kind: 'Service', name: service.metadata.name, project: service.metadata.project }, reason, message, type: 'Normal', at: nowIso(), source: 'center' });
  }
}

const createdMs = (i: Instance): number => Date.parse(i.metadata.createdAt ?? '') || 0;
const newestFirst = (a: Instance, b: Instance): number => createdMs(b) - createdMs(a);

