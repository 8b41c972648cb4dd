import { deviceSites, redactSecrets, routeRunsAt, ruleTargets, type CenterMessage, type Device, type DeviceCommand, type DeviceCredential, type EdgeObject, type Instance, type Node, type Resource, type Route, type Rule, type Site, projectOf } from '../../core/index.ts';
import type { Change, Store } from '../store/store.ts';
import { changesAfter } from '../store/change-feed.ts';

const EDGE_KINDS = new Set(['Instance', 'Device', 'DeviceCredential', 'Route', 'DeviceCommand', 'Rule', 'Node', 'Site']);
const SNAPSHOT_KINDS = ['Node', 'Site', 'Device', 'Instance', 'DeviceCredential', 'Route', 'DeviceCommand', 'Rule'] as const;

const DEPARTED_MAX = 1024;

/** What the feed makes of one change: a message for the agent, nothing, or "send a fresh snapshot" (the node's rule targets moved). */
export type FeedStep = { message: CenterMessage } | { resync: true } | null;

/** A rule or route an agent says it holds (hello.holds). */
export interface HeldObject {
  kind: 'Rule' | 'Route';
  project: string;
  name: string;
}

/**
 * What one node's agent must receive, in store order, and nothing else: the
 * instances bound to it; its site's devices, with their credentials and
 * commands (so the edge authenticates and serves them while the center is out
 * of reach); the routes that run at its site and the rules that target it
 * (with their secrets: nobody else gets them); and its own Node and Site.
 * Spec changes and deletions only: status-only writes are the edge's own
 * reports, or the center's bookkeeping, and are never echoed back.
 *
 * A Rule or Route that stops concerning the node (deleted or retargeted) goes
 * as `forget`, its key without its content. The feed also answers the
 * session's checks of what the node may speak for (`hasDevice`,
 * `hasInstance`, `runsRule`), from the same sets it routes by.
 *
 * An instance's node and a device's own site never change, and credentials
 * and commands are only created for an existing device, so following the
 * site's devices as changes go by is enough to route their credentials and
 * commands. The sites a device roams to may change: a node its site joins or
 * leaves gets a fresh snapshot.
 */
export class NodeFeed {
  /** `project/name` of the devices in this node's site. */
  private readonly devices = new Set<string>();
  /** `project/name` of the instances bound to this node. */
  private readonly instances = new Set<string>();
  /** Instances deleted from this node lately (FIFO), whose last events may still be on their way. */
  private readonly departed = new Set<string>();
  /** `Kind/project/name` of the rules and routes the agent may hold (sent, not yet forgotten). */
  private readonly held = new Set<string>();
  private nodeObject: Node | undefined;
  private siteObject: Site | undefined;

  private constructor(readonly node: string) {}

  get site(): string | undefined {
    return this.nodeObject?.spec.site;
  }

  static async open(store: Store, node: string): Promise<NodeFeed> {
    const feed = new NodeFeed(node);
    await feed.load(store);
    return feed;
  }

  hasDevice(project: string, name: string): boolean {
    return this.devices.has(key2(project, name));
  }

  /** Whether the instance is bound to this node; `orDeparted`: or was, until lately (its last events may trail its deletion). */
  hasInstance(project: string, name: string, orDeparted = false): boolean {
    const key = key2(project, name);
    return this.instances.has(key) || (orDeparted && this.departed.has(key));
  }

  runsRule(project: string, name: string): boolean {
    return this.held.has(`Rule/${project}/${name}`);
  }

  /** Routes one change (call for every change, in order; keeps the feed's sets current). */
  step(c: Change): FeedStep {
    const o = c.object;
    if (!EDGE_KINDS.has(o.kind)) return null;
    const deleted = c.type === 'DELETED';
    if (this.isOwn(o)) {
      if (c.statusOnly) return null;
      const moved = deleted ? false : this.targetsMoved(o as Node | Site);
      if (o.kind === 'Node') this.nodeObject = deleted ? this.nodeObject : (o as Node);
      else this.siteObject = deleted ? undefined : (o as Site);
      return moved ? { resync: true } : { message: toMessage(c) };
    }
    const wasOurs = o.kind === 'Device' && this.devices.has(key2(project(o), o.metadata.name));
    this.track(o, deleted);
    // A device that roams to this site now, or no longer: its credentials and commands come, or go, with a fresh snapshot.
    if (o.kind === 'Device' && !deleted && c.type !== 'ADDED' && wasOurs !== this.devices.has(key2(project(o), o.metadata.name))) return { resync: true };
    if (c.statusOnly) return null;
    if (o.kind === 'Rule' || o.kind === 'Route') {
      const key = `${o.kind}/${project(o)}/${o.metadata.name}`;
      if (!deleted && this.wants(o)) {
        this.held.add(key);
        return { message: toMessage(c) };
      }
      if (!this.held.delete(key)) return null;
      return { message: { t: 'forget', revision: c.revision, kind: o.kind, project: project(o), name: o.metadata.name } };
    }
    return this.wants(o) ? { message: toMessage(c) } : null;
  }

  /**
   * The catch-up for an agent that last applied `since` and holds the rules
   * and routes `holds`: the changes after it when the change log still has
   * them, else (or when `force`, or without `holds`, or when the node's own
   * Node or Site changed meanwhile, which may move its rule targets) a full
   * snapshot. Ends with `synced`. Of the rules and routes that stopped
   * concerning the node meanwhile, only those it holds are named (`forget`):
   * a node learns no names of other projects' objects.
   */
  async catchUp(store: Store, since: number, force = false, holds?: readonly HeldObject[]): Promise<{ mode: 'delta' | 'snapshot'; messages: CenterMessage[]; upTo: number }> {
    // Older than the compaction point, or newer than anything here (the center's
    // store was replaced): only a full snapshot is trustworthy.
    if (!force && holds && since >= (await store.compactedRevision()) && since <= (await store.currentRevision())) {
      const messages: CenterMessage[] = [];
      let upTo = since;
      let moved = false;
      for (const h of holds) this.held.add(`${h.kind}/${h.project}/${h.name}`);
      for await (const c of changesAfter(store, since)) {
        // Which labels the rules were matched against when the agent left is not known: any change of its Node or Site means a snapshot.
        if (this.isOwn(c.object) && !c.statusOnly) moved = true;
        if (moved) break;
        const s = this.step(c);
        if (s && 'resync' in s) {
          moved = true;
          break;
        }
        if (s) messages.push(s.message);
        upTo = c.revision;
      }
      if (!moved) {
        messages.push({ t: 'synced', revision: upTo });
        return { mode: 'delta', messages, upTo };
      }
    }
    // One list per kind, each at its own revision: the snapshot stands at the
    // first, and the changes after it are replayed live (replaying a change
    // a later list already reflects converges to the same state).
    let revision = Infinity;
    const pages = new Map<string, Resource[]>();
    for (const kind of SNAPSHOT_KINDS) {
      const page = await store.list(kind);
      revision = Math.min(revision, page.revision);
      pages.set(kind, page.items);
    }
    this.reset(pages);
    const objects: EdgeObject[] = [];
    for (const items of pages.values()) for (const o of items) if (this.wants(o)) objects.push(forAgent(o as EdgeObject));
    for (const o of objects) if (o.kind === 'Rule' || o.kind === 'Route') this.held.add(`${o.kind}/${project(o)}/${o.metadata.name}`);
    return { mode: 'snapshot', messages: [{ t: 'snapshot', revision, objects }, { t: 'synced', revision }], upTo: revision };
  }

  private async load(store: Store): Promise<void> {
    const pages = new Map<string, Resource[]>();
    for (const kind of ['Node', 'Site', 'Device', 'Instance', 'Route', 'Rule'] as const) pages.set(kind, (await store.list(kind)).items);
    this.reset(pages);
    // What the agent holds, as far as the center knows: what concerns it now.
    for (const kind of ['Route', 'Rule']) for (const o of pages.get(kind)!) if (this.wants(o)) this.held.add(`${kind}/${project(o)}/${o.metadata.name}`);
  }

  private reset(pages: Map<string, Resource[]>): void {
    this.nodeObject = pages.get('Node')!.find((n) => n.metadata.name === this.node) as Node | undefined;
    this.siteObject = pages.get('Site')!.find((s) => s.metadata.name === this.site) as Site | undefined;
    this.devices.clear();
    this.instances.clear();
    this.held.clear();
    for (const o of [...pages.get('Device')!, ...pages.get('Instance')!]) this.track(o, false);
  }

  private track(o: Resource, deleted: boolean): void {
    const key = key2(project(o), o.metadata.name);
    if (o.kind === 'Device' && !this.atSite(o as Device)) return void this.devices.delete(key);
    const set = o.kind === 'Device' ? this.devices : o.kind === 'Instance' && o.spec.node === this.node ? this.instances : undefined;
    if (!set) return;
    if (!deleted) return void set.add(key);
    if (set.delete(key) && set === this.instances) {
      this.departed.add(key);
      if (this.departed.size > DEPARTED_MAX) this.departed.delete(this.departed.values().next().value!);
    }
  }

  /** Whether the device's broker may be this node's: its site, or one it roams to. */
  private atSite(d: Device): boolean {
    return this.site !== undefined && deviceSites(d.spec).includes(this.site);
  }

  private isOwn(o: Resource): boolean {
    return (o.kind === 'Node' && o.metadata.name === this.node) || (o.kind === 'Site' && o.metadata.name === this.site);
  }

  /** Whether a change of the node's own Node or Site moves what its rules' targets read (labels, tier, site). */
  private targetsMoved(o: Node | Site): boolean {
    if (o.kind === 'Node') {
      const prev = this.nodeObject;
      return !!prev && (prev.spec.site !== o.spec.site || !sameLabels(prev.metadata.labels, o.metadata.labels));
    }
    const prev = this.siteObject;
    return !prev || prev.spec.tier !== o.spec.tier || !sameLabels(prev.metadata.labels, o.metadata.labels);
  }

  private wants(o: Resource): boolean {
    switch (o.kind) {
      case 'Instance':
        return o.spec.node === this.node;
      case 'Device':
        return this.atSite(o as Device);
      case 'DeviceCredential':
      case 'DeviceCommand':
        return this.devices.has(key2(project(o), (o as DeviceCredential | DeviceCommand).spec.device));
      case 'Route':
        return this.site !== undefined && routeRunsAt(o as Route, this.site);
      case 'Rule':
        return ruleTargets((o as Rule).spec.target, { node: this.node, site: this.site, nodeObject: this.nodeObject, siteObject: this.siteObject });
      case 'Node':
        return o.metadata.name === this.node;
      case 'Site':
        return o.metadata.name === this.site;
      default:
        return false;
    }
  }
}

function toMessage(c: Change): CenterMessage {
  return { t: 'change', revision: c.revision, op: c.type === 'DELETED' ? 'delete' : 'put', object: forAgent(c.object as EdgeObject) };
}

const project = (o: Resource): string => projectOf(o);
const key2 = (p: string, name: string): string => `${p}/${name}`;
const sameLabels = (a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean => JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b ?? {}).sort());

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
