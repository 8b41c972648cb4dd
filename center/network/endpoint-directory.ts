import { ENDPOINT_SETS_PER_MESSAGE, endpointPorts, nameKey, portNamed, projectKey, projectOf, splitNameKey, type CenterMessage, type EndpointBackend, type EndpointSet, type Resource } from '../../core/index.ts';
import type { Logger } from 'pino';
import type { Store } from '../store/store.ts';
import { ObjectCache } from '../controllers/object-cache.ts';

type Send = (m: CenterMessage) => void;

/** Changes are gathered this long before the sets they touch are recomputed and sent. */
const SETTLE_MS = 10;

/**
 * The center's side of GS-Link endpoints: for every Service that declares
 * `spec.endpoint`, the set of its instances (node, site, tier, ready, host
 * ports, the node's endpoint gateway), kept current from the store and sent
 * to every connected agent: whole after its hello, then only the sets that
 * changed. The agents keep the directory in local state and resolve from it,
 * so a center out of reach stops only news, never resolution.
 *
 * Every node receives every exposed Service's set: exposing a port publishes
 * it at every site. What a set holds is where to connect, never a secret.
 * With it goes the list of the platform's nodes: a gateway takes the
 * certificate of a node that is still one, and a deleted node's no longer.
 */
export class EndpointDirectory {
  private readonly cache: ObjectCache;
  /** project/service -> the set last computed, and its JSON to tell a change. */
  private readonly sets = new Map<string, { set: EndpointSet; json: string }>();
  /** node -> the sets with an instance on it: a node's change (gateway, site, phase) touches those. */
  private readonly byNode = new Map<string, Set<string>>();
  private readonly members = new Map<string, Send>();
  /** The nodes that exist: a gateway takes the certificates of these only (a deleted node's no longer). */
  private readonly nodes = new Set<string>();
  private readonly nodesAdded = new Set<string>();
  private readonly nodesGone = new Set<string>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    store: Store,
    private readonly log: Logger,
  ) {
    this.cache = new ObjectCache(store, ['Service', 'Instance', 'Node', 'Site']);
  }

  async start(): Promise<void> {
    await this.cache.start();
    // Every object is replayed as a change: the first flush (SETTLE_MS later) computes the whole directory.
    this.cache.attach((o, deleted) => this.touch(o, deleted));
    // The replayed nodes are where the directory starts (a joining agent gets them all), not news.
    this.nodesAdded.clear();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.cache.stop();
    this.members.clear();
  }

  /** An agent said hello: it gets the whole directory now, and each change after. Returns what ends that. */
  join(node: string, send: Send): () => void {
    this.members.set(node, send);
    const all = [...this.sets.values()].map((s) => s.set);
    send({ t: 'endpoints', full: true, sets: all.slice(0, ENDPOINT_SETS_PER_MESSAGE), gone: [], nodes: [...this.nodes].sort() });
    for (let i = ENDPOINT_SETS_PER_MESSAGE; i < all.length; i += ENDPOINT_SETS_PER_MESSAGE) send({ t: 'endpoints', full: false, sets: all.slice(i, i + ENDPOINT_SETS_PER_MESSAGE), gone: [] });
    return () => {
      if (this.members.get(node) === send) this.members.delete(node);
    };
  }

  private touch(o: Resource, deleted: boolean): void {
    switch (o.kind) {
      case 'Service':
        this.mark(projectKey(o));
        break;
      case 'Instance': {
        const service = o.spec.service;
        if (service) this.mark(nameKey(projectOf(o), service));
        break;
      }
      case 'Node': {
        const name = o.metadata.name;
        for (const key of this.byNode.get(name) ?? []) this.mark(key);
        if (deleted) this.byNode.delete(name);
        if (deleted === this.nodes.has(name)) {
          if (deleted) {
            this.nodes.delete(name);
            if (!this.nodesAdded.delete(name)) this.nodesGone.add(name);
          } else {
            this.nodes.add(name);
            if (!this.nodesGone.delete(name)) this.nodesAdded.add(name);
          }
          this.schedule();
        }
        break;
      }
      case 'Site':
        // A site's tier orders its instances and its location guides moving clients: rare, so every set is looked at again.
        for (const key of this.sets.keys()) this.mark(key);
        break;
    }
  }

  private mark(key: string): void {
    this.dirty.add(key);
    this.schedule();
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = null;
      // A failed read leaves its sets to be looked at again on the next change (or by a later flush).
      this.flush().catch((err: unknown) => this.log.error({ err }, 'endpoint directory: recomputing sets failed'));
    }, SETTLE_MS);
  }

  private async flush(): Promise<void> {
    const keys = [...this.dirty];
    this.dirty.clear();
    const sets: EndpointSet[] = [];
    const gone: { project: string; service: string }[] = [];
    for (const [n, key] of keys.entries()) {
      const [project, service] = splitNameKey(key);
      let next: EndpointSet | undefined;
      try {
        next = await this.compute(project, service);
      } catch (e) {
        for (const k of keys.slice(n)) this.mark(k);
        throw e;
      }
      const prev = this.sets.get(key);
      if (!next) {
        if (prev) {
          this.sets.delete(key);
          this.index(key, prev.set, undefined);
          gone.push({ project, service });
        }
        continue;
      }
      const json = JSON.stringify(next);
      if (prev?.json === json) continue;
      this.sets.set(key, { set: next, json });
      this.index(key, prev?.set, next);
      sets.push(next);
    }
    const added = [...this.nodesAdded].sort();
    const removed = [...this.nodesGone].sort();
    this.nodesAdded.clear();
    this.nodesGone.clear();
    const chunk = <T>(a: T[], i: number) => a.slice(i, i + ENDPOINT_SETS_PER_MESSAGE);
    for (let i = 0; i < Math.max(sets.length, gone.length, added.length, removed.length); i += ENDPOINT_SETS_PER_MESSAGE) {
      const m: CenterMessage = {
        t: 'endpoints',
        full: false,
        sets: chunk(sets, i),
        gone: chunk(gone, i),
        ...(added.length > i ? { nodesAdded: chunk(added, i) } : {}),
        ...(removed.length > i ? { nodesGone: chunk(removed, i) } : {}),
      };
      for (const send of this.members.values()) send(m);
    }
  }

  private index(key: string, prev: EndpointSet | undefined, next: EndpointSet | undefined): void {
    for (const b of prev?.backends ?? []) {
      const keys = this.byNode.get(b.node);
      keys?.delete(key);
      if (keys?.size === 0) this.byNode.delete(b.node);
    }
    for (const b of next?.backends ?? []) {
      let keys = this.byNode.get(b.node);
      if (!keys) this.byNode.set(b.node, (keys = new Set()));
      keys.add(key);
    }
  }

  /** The Service's set, or undefined when it is gone or exposes nothing. Instances not yet bound, or with no port yet, are not in it. */
  private async compute(project: string, name: string): Promise<EndpointSet | undefined> {
    const service = await this.cache.get('Service', project, name);
    const ports = service ? endpointPorts(service.spec) : [];
    if (!ports.length) return undefined;
    const backends: EndpointBackend[] = [];
    const instances = (await this.cache.list('Instance', { project })).items.filter((i) => i.spec.service === name && i.spec.node);
    for (const i of instances.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
      const node = await this.cache.get('Node', undefined, i.spec.node!);
      if (!node) continue;
      const hostPorts: Record<string, number> = {};
      for (const p of ports) {
        const port = portNamed(i.status?.ports, p);
        if (port) hostPorts[p] = port;
      }
      if (!Object.keys(hostPorts).length) continue;
      const site = node.spec.site ? await this.cache.get('Site', undefined, node.spec.site) : undefined;
      backends.push({
        instance: i.metadata.name,
        node: node.metadata.name,
        ...(node.spec.site ? { site: node.spec.site } : {}),
        ...(site ? { tier: site.spec.tier } : {}),
        ...(site?.spec.location ? { location: site.spec.location } : {}),
        ready: i.status?.ready === true && node.status?.phase !== 'NotReady',
        ports: hostPorts,
        ...(node.status?.gateway ? { gateway: node.status.gateway } : {}),
      });
    }
    return { project, service: name, ports, backends, ...(service!.spec.overflow ? { overflow: service!.spec.overflow } : {}) };
  }
}
