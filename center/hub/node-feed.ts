import { redactSecrets, type CenterMessage, type DeviceCommand, type DeviceCredential, type EdgeObject, type Instance, type Node, type Resource } from '../../core/index.ts';
import type { Change, Store } from '../store/store.ts';
import { changesAfter } from '../store/change-feed.ts';

const EDGE_KINDS = new Set(['Instance', 'Device', 'DeviceCredential', 'Route', 'DeviceCommand', 'Rule', 'Node', 'Site']);

/**
 * What one node's agent must receive, in store order: the instances bound to
 * it; its site's devices, with their credentials and commands (so the edge
 * authenticates and serves them while the center is out of reach); and every
 * route and rule (the agent keeps those that target it, knowing its own Node
 * and Site, which it also receives). Spec changes
 * and deletions only: status-only writes are the edge's own reports, or the
 * center's bookkeeping, and are never echoed back.
 *
 * A device's site never changes, and credentials and commands are only
 * created for an existing device, so following the site's devices as changes
 * go by is enough to route their credentials and commands.
 */
export class NodeFeed {
  /** `project/name` of the devices in this node's site. */
  private readonly devices = new Set<string>();

  private constructor(
    readonly node: string,
    readonly site: string | undefined,
  ) {}

  static async open(store: Store, node: string): Promise<NodeFeed> {
    const n = (await store.get('Node', undefined, node)) as Node | undefined;
    const feed = new NodeFeed(node, n?.spec.site);
    if (feed.site) {
      for (const d of (await store.list('Device')).items) if (d.kind === 'Device' && d.spec.site === feed.site) feed.devices.add(deviceKey(d.metadata.project, d.metadata.name));
    }
    return feed;
  }

  /** Whether the change goes to this node; keeps the site's device set current. Call for every change, in order. */
  accepts(c: Change): boolean {
    const o = c.object;
    if (!EDGE_KINDS.has(o.kind)) return false;
    if (o.kind === 'Device' && o.spec.site === this.site) {
      const key = deviceKey(o.metadata.project, o.metadata.name);
      if (c.type === 'DELETED') this.devices.delete(key);
      else this.devices.add(key);
    }
    return !c.statusOnly && this.wants(o);
  }

  /** The catch-up for an agent that last applied `since`: the changes after it when the change log still has them, else a full snapshot. Ends with `synced`. */
  async catchUp(store: Store, since: number): Promise<{ mode: 'delta' | 'snapshot'; messages: CenterMessage[]; upTo: number }> {
    // Older than the compaction point, or newer than anything here (the center's
    // store was replaced): only a full snapshot is trustworthy.
    if (since < (await store.compactedRevision()) || since > (await store.currentRevision())) {
      // One list per kind, each at its own revision: the snapshot stands at the
      // first, and the changes after it are replayed live (replaying a change
      // a later list already reflects converges to the same state).
      let revision = Infinity;
      const objects: EdgeObject[] = [];
      for (const kind of ['Device', 'Instance', 'DeviceCredential', 'Route', 'DeviceCommand', 'Rule', 'Node', 'Site']) {
        const page = await store.list(kind);
        revision = Math.min(revision, page.revision);
        if (kind === 'Device') {
          // The device set as of the snapshot's revision (the first list), so the live changes after it keep it right.
          this.devices.clear();
          for (const d of page.items) if (d.kind === 'Device' && d.spec.site === this.site) this.devices.add(deviceKey(d.metadata.project, d.metadata.name));
        }
        for (const o of page.items) if (this.wants(o)) objects.push(forAgent(o as EdgeObject));
      }
      return { mode: 'snapshot', messages: [{ t: 'snapshot', revision, objects }, { t: 'synced', revision }], upTo: revision };
    }
    const messages: CenterMessage[] = [];
    let upTo = since;
    for await (const c of changesAfter(store, since)) {
      if (this.accepts(c)) messages.push(toMessage(c));
      upTo = c.revision;
    }
    messages.push({ t: 'synced', revision: upTo });
    return { mode: 'delta', messages, upTo };
  }

  private wants(o: Resource): boolean {
    switch (o.kind) {
      case 'Instance':
        return o.spec.node === this.node;
      case 'Device':
        return o.spec.site === this.site;
      case 'DeviceCredential':
      case 'DeviceCommand':
        return this.devices.has(deviceKey(o.metadata.project, (o as DeviceCredential | DeviceCommand).spec.device));
      case 'Route':
      case 'Rule':
        return true;
      case 'Node':
        return o.metadata.name === this.node;
      case 'Site':
        return o.metadata.name === this.site;
      default:
        return false;
    }
  }
}

export function toMessage(c: Change): CenterMessage {
  return { t: 'change', revision: c.revision, op: c.type === 'DELETED' ? 'delete' : 'put', object: forAgent(c.object as EdgeObject) };
}

const deviceKey = (project: string | undefined, name: string): string => `${project ?? 'default'}/${name}`;

/**
 * The scheduler's explanation is for people, and the status of a device, a
 * node or a rule is the edges' own report: none of it goes to the agent. Nor
 * does a sink's password: the center delivers to sinks, not the agent.
 */
function forAgent(o: EdgeObject): EdgeObject {
  if (o.kind === 'Instance' && o.status?.scheduling) {
    const { scheduling: _, ...status } = o.status;
    return { ...o, status } as Instance;
  }
  if ((o.kind === 'Device' || o.kind === 'Node' || o.kind === 'Rule') && o.status) {
    const { status: _, ...rest } = o;
    return rest as EdgeObject;
  }
  return redactSecrets(o);
}
