import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { BURST_LABEL, durationMs, nameKey, nowIso, NotFoundError, projectKey, projectOf, SERVICE_LABEL, splitNameKey, templateHash, type Instance, type Placement, type Service } from '../../core/index.ts';
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
 * still deletes them with their Service). A burst instance of an old
 * template is replaced at once (it is extra capacity, not part of a rollout).
 *
 * When each site last overflowed and when the count last changed are kept in
 * memory; after a center restart the newest burst instance's creation stands
 * for the last change.
 */
export class BurstController implements Reconciler {
  readonly name = 'burst';
  readonly watches = [
    watch('Service', (e) => [projectKey(e.object)]),
    watch('Instance', (e) => (e.object.metadata.labels[BURST_LABEL] ? [nameKey(projectOf(e.object), e.object.metadata.labels[SERVICE_LABEL] ?? '')] : [])),
    // A node's agent said which Services overflow at its site: those, and those it said before (they may have stopped).
    watch('Node', (e) => (e.statusOnly || e.deleted ? [...new Set([...(e.object.status?.overflowing ?? []).map((o) => nameKey(o.project, o.service)), ...this.overflowingAt(e.object.metadata.name)])] : [])),
  ];
  private readonly state = new Map<string, { lastChange: number; lastOverflow: number; sites: string[] }>();
  /** The Services each node said overflow at its site, last time (to wake those that stopped). */
  private readonly saidBy = new Map<string, string[]>();

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly reader: Reader = store,
    private readonly now: () => number = Date.now,
  ) {}

  async resync(reader: Reader): Promise<string[]> {
    return (await reader.list('Service')).items.filter((s) => s.spec.overflow?.burst).map(projectKey);
  }

  async reconcile(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const [project, name] = splitNameKey(key);
    const service = await this.reader.get('Service', project, name);
    const owned = (await this.reader.list('Instance', { project, selector: [{ key: SERVICE_LABEL, op: 'eq', value: name }] })).items.filter((i) => i.metadata.labels[BURST_LABEL]);
    const max = service?.spec.overflow?.burst ?? 0;
    if (!service || !max) {
      // The Service gone (the service controller deletes its instances) or no burst any more: its burst instances go.
      this.state.delete(key);
      if (service) for (const i of owned) await this.remove(i);
      return;
    }
    const hash = templateHash(service.spec.template, service.spec.placement);
    const current: Instance[] = [];
    for (const i of owned) {
      if (i.spec.templateHash === hash) current.push(i);
      else await this.remove(i);
    }
    const now = this.now();
    const holdMs = durationMs(service.spec.overflow!.hold);
    const sites = await this.overflowingSites(project, name);
    const newest = Math.max(0, ...current.map((i) => Date.parse(i.metadata.createdAt ?? '') || 0));
    const s = this.state.get(key) ?? { lastChange: newest, lastOverflow: 0, sites: [] };
    this.state.set(key, s);
    if (sites.length) s.lastOverflow = now;
    s.sites = sites.length ? sites : s.sites;
    if (sites.length && current.length < max) {
      const wait = s.lastChange + holdMs - now;
      if (wait > 0) return { requeueAfterMs: wait };
      await this.create(service, hash, sites);
      s.lastChange = now;
      await this.event(service, 'BurstUp', `${sites.join(', ')} overflowing to ${service.spec.overflow!.tiers.join(', ')}: one more instance there (${current.length + 1} of ${max} at most)`);
      return current.length + 1 < max ? { requeueAfterMs: holdMs } : undefined;
    }
    if (!sites.length && current.length > 0) {
      const cooldown = COOLDOWN_HOLDS * holdMs;
      const wait = Math.max(s.lastOverflow, s.lastChange) + cooldown - now;
      if (wait > 0) return { requeueAfterMs: wait };
      const last = [...current].sort((a, b) => (b.metadata.createdAt ?? '').localeCompare(a.metadata.createdAt ?? ''))[0]!;
      await this.remove(last);
      s.lastChange = now;
      await this.event(service, 'BurstDown', `no site has overflowed for ${(cooldown / 1000).toFixed(0)}s: ${last.metadata.name} removed (${current.length - 1} burst instances left)`);
      return current.length > 1 ? { requeueAfterMs: cooldown } : undefined;
    }
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

  private overflowingAt(node: string): string[] {
    return this.saidBy.get(node) ?? [];
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
        labels: { ...s.metadata.labels, [SERVICE_LABEL]: s.metadata.name, [BURST_LABEL]: 'true' },
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
