import { ConflictError, NotFoundError, UnavailableError, nowIso } from '../../core/index.ts';
import { assertProject, type Caller } from '../auth/access.ts';
import { recordEvent } from '../events.ts';
import type { Store } from '../store/store.ts';

/** An instance a tunnel (logs, exec) may reach: where it runs. */
export interface PlacedInstance {
  project: string;
  name: string;
  node: string;
}

/**
 * What the tunnels to an instance (`logs`, `exec`) ask of the store, apart
 * from the tunnel itself (the hub carries it over the node's channel): the
 * instance, checked for the caller and placed on a node, and the audit trail.
 */
export class Instances {
  constructor(private readonly store: Store) {}

  /**
   * The instance and its node. The project is checked first: a token of
   * another project learns nothing, not even whether the instance exists.
   * `running`: only an instance in phase Running (exec needs a process).
   */
  async placed(caller: Caller | undefined, project: string, name: string, o: { running?: boolean } = {}): Promise<PlacedInstance> {
    assertProject(caller, project);
    const inst = await this.store.get('Instance', project, name);
    if (!inst) throw new NotFoundError(`Instance "${name}" not found in project "${project}"`, { details: [{ path: 'name', message: 'not found' }] });
    const node = inst.spec.node;
    if (!node) throw new UnavailableError(`Instance "${name}" is not placed on a node yet`, { details: [{ path: 'spec.node', message: 'unset' }] });
    const phase = inst.status?.phase ?? 'Pending';
    if (o.running && phase !== 'Running') throw new ConflictError(`Instance "${name}" is not running (phase ${phase})`, { details: [{ path: 'status.phase', message: `is ${phase}; exec needs Running` }] });
    return { project, name, node };
  }

  /** An event on the instance, for its audit trail (who ran what, and how it ended). */
  async audit(at: PlacedInstance, e: { reason: string; message: string; type: 'Normal' | 'Warning'; source: string }): Promise<void> {
    await recordEvent(this.store, { involved: { kind: 'Instance', name: at.name, project: at.project }, ...e, at: nowIso() });
  }
}
