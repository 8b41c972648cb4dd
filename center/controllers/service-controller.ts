import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { nowIso, RETIRING_LABEL, SERVICE_LABEL, type Instance, type Service, type WorkloadTemplate, type Placement } from '../../core/index.ts';
import { NotFoundError } from '../../core/index.ts';
import type { Store } from '../store/store.ts';
import type { Reconciler } from './controller.ts';
import type { Reader } from './object-cache.ts';
import { recordEvent } from '../events.ts';
import { retirementsDue } from '../../scheduler/index.ts';


/** Service -> instances: keeps `replicas` instances of the current template, and the service status. */
export class ServiceController implements Reconciler {
  readonly name = 'service';
  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly reader: Reader = store,
  ) {}

  async reconcile(key: string): Promise<void> {
    const [project, name] = key.split('/') as [string, string];
    const service = (await this.reader.get('Service', project, name)) as Service | undefined;
    const owned = (await this.reader.list('Instance', { project, selector: [{ key: SERVICE_LABEL, op: 'eq', value: name }] })).items as Instance[];
    if (!service) {
      // Garbage-collect the instances of a deleted service.
      for (const i of owned) await this.remove(i);
      return;
    }
    const hash = templateHash(service.spec.template, service.spec.placement);
    const outdated = owned.filter((i) => i.spec.templateHash !== hash);
    for (const i of outdated) await this.remove(i);
    // Retiring instances (being moved by the rescheduler) are not counted: their
    // replacements are. Each goes once the service can spare it.
    const retiring = owned.filter((i) => i.spec.templateHash === hash && RETIRING_LABEL in i.metadata.labels);
    const current = owned.filter((i) => i.spec.templateHash === hash && !(RETIRING_LABEL in i.metadata.labels));
    const views = [...current, ...retiring].map((i) => ({ name: i.metadata.name, ready: i.status?.ready ?? false, retiring: RETIRING_LABEL in i.metadata.labels }));
    for (const gone of retirementsDue(views, service.spec.replicas)) {
      const i = retiring.find((r) => r.metadata.name === gone)!;
      await this.remove(i);
      await recordEvent(this.store, {
        involved: { kind: 'Service', name, project },
        reason: 'Moved',
        message: `retired ${gone} from ${i.spec.node ?? 'no node'} (${i.metadata.labels[RETIRING_LABEL]}); its replacement is ready`,
        type: 'Normal',
        at: nowIso(),
        source: 'center',
      });
    }

    const want = service.spec.replicas;
    for (let n = current.length; n < want; n++) {
      const inst = newInstance(service, hash);
      await this.store.create(inst);
      current.push(inst);
    }
    if (current.length > want) {
      // Scale in the least useful first: unbound, then not ready, then newest.
      const rank = (i: Instance) => (i.spec.node ? 0 : 2) + (i.status?.ready ? 0 : 1);
      const victims = [...current].sort((a, b) => rank(b) - rank(a) || (b.metadata.createdAt ?? '').localeCompare(a.metadata.createdAt ?? '')).slice(0, current.length - want);
      for (const v of victims) await this.remove(v);
      current.splice(0, current.length, ...current.filter((i) => !victims.includes(i)));
    }
    const status = {
      replicas: current.length,
      ready: current.filter((i) => i.status?.ready).length,
      conditions: [
        {
          type: 'Available',
          status: current.filter((i) => i.status?.ready).length >= want ? ('True' as const) : ('False' as const),
          at: nowIso(),
        },
      ],
    };
    const prev = service.status;
    if (!prev || prev.replicas !== status.replicas || prev.ready !== status.ready || prev.conditions[0]?.status !== status.conditions[0]!.status) {
      await this.store.updateStatus('Service', project, name, status);
      if (prev && prev.conditions[0]?.status !== status.conditions[0]!.status) {
        await recordEvent(this.store, {
          involved: { kind: 'Service', name, project },
          reason: status.conditions[0]!.status === 'True' ? 'Available' : 'Unavailable',
          message: `${status.ready}/${want} replicas ready`,
          type: status.conditions[0]!.status === 'True' ? 'Normal' : 'Warning',
          at: nowIso(),
          source: 'center',
        });
      }
    }
  }

  private async remove(i: Instance): Promise<void> {
    try {
      await this.store.delete('Instance', i.metadata.project, i.metadata.name);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }
}

export function templateHash(t: WorkloadTemplate, p: Placement): string {
  return createHash('sha256').update(JSON.stringify([t, p])).digest('hex').slice(0, 12);
}

function newInstance(s: Service, hash: string): Instance {
  return {
    apiVersion: 'gedge.io/v1',
    kind: 'Instance',
    metadata: {
      name: `${s.metadata.name.slice(0, 50)}-${randomBytes(3).toString('hex')}`,
      project: s.metadata.project,
      labels: { ...s.metadata.labels, [SERVICE_LABEL]: s.metadata.name },
    },
    spec: { service: s.metadata.name, template: s.spec.template, placement: s.spec.placement, templateHash: hash },
    status: { phase: 'Pending', ready: false, restarts: 0, ports: {}, conditions: [] },
  };
}
