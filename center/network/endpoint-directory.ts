import { endpointPorts, projectOf, type CenterMessage, type EndpointBackend, type EndpointSet, type Instance, type Node, type Resource, type Service, type Site } from '../../core/index.ts';
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
 */
export class EndpointDirectory {
  private readonly cache: ObjectCache;
  /** project/service -> the set last computed, and its JSON to tell a change. */
  private readonly sets = new Map<string, { set: EndpointSet; json: string }>();
  /** node -> the sets with an instance on it: a node's change (gateway, site, phase) touches those. */
  private readonly byNode = new Map<string, Set<string>>();
  private readonly members = new Map<string, Send>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(store: Store) {
    this.cache = new ObjectCache(store, ['Service', 'Instance', 'Node', 'Site']);
  }

  async start(): Promise<void> {
    await this.cache.start();
    this.cache.attach((o, deleted) => this.touch(o, deleted));
    this.unsubscribe = () => this.cache.stop();
    await this.flush();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    this.members.clear();
  }

  /** An agent said hello: it gets the whole directory now, and each change after. Returns what ends that. */
  join(node: string, send: Send): () => void {
    this.members.set(node, send);
    send({ t: 'endpoints', full: true, sets: [...this.sets.values()].map((s) => s.set), gone: [] });
    return () => {
      if (this.members.get(node) === send) this.members.delete(node);
    };
  }

  /** The sets as they stand (tests, the dashboard). */
  current(): EndpointSet[] {
    return [...this.sets.values()].map((s) => s.set);
  }

  private touch(o: Resource, deleted: boolean): void {
    switch (o.kind) {
      case 'Service':
        this.mark(`${projectOf(o)}/${o.metadata.name}`);
        break;
      case 'Instance': {
        const service = (o as Instance).spec.service;
        if (service) this.mark(`${projectOf(o)}/${service}`);
        break;
      }
      case 'Node':
        for (const key of this.byNode.get(o.metadata.name) ?? []) this.mark(key);
        if (deleted) this.byNode.delete(o.metadata.name);
        break;
      case 'Site':
        // A site's tier orders its instances: rare, so every set is looked at again.
        for (const key of this.sets.keys()) this.mark(key);
        break;
    }
  }

  private mark(key: string): void {
    this.dirty.add(key);
    this.timer ??= setTimeout(() => void this.flush(), SETTLE_MS);
  }

  private async flush(): Promise<void> {
    this.timer = null;
    const keys = [...this.dirty];
    this.dirty.clear();
    const sets: EndpointSet[] = [];
    const gone: { project: string; service: string }[] = [];
    for (const key of keys) {
      const [project, service] = key.split('/') as [string, string];
      const next = await this.compute(project, service);
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
    if (!sets.length && !gone.length) return;
    for (const send of this.members.values()) send({ t: 'endpoints', full: false, sets, gone });
  }

  private index(key: string, prev: EndpointSet | undefined, next: EndpointSet | undefined): void {
    for (const b of prev?.backends ?? []) this.byNode.get(b.node)?.delete(key);
    for (const b of next?.backends ?? []) {
      let keys = this.byNode.get(b.node);
      if (!keys) this.byNode.set(b.node, (keys = new Set()));
      keys.add(key);
    }
  }

  /** The Service's set, or undefined when it is gone or exposes nothing. Instances not yet bound, or with no port yet, are not in it. */
  private async compute(project: string, name: string): Promise<EndpointSet | undefined> {
    const service = (await this.cache.get('Service', project, name)) as Service | undefined;
    const ports = service ? endpointPorts(service.spec) : [];
    if (!ports.length) return undefined;
    const backends: EndpointBackend[] = [];
    const instances = ((await this.cache.list('Instance', { project })).items as Instance[]).filter((i) => i.spec.service === name && i.spec.node);
    for (const i of instances.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
      const node = (await this.cache.get('Node', undefined, i.spec.node!)) as Node | undefined;
      if (!node) continue;
      const hostPorts: Record<string, number> = {};
      for (const p of ports) {
        const port = i.status?.ports?.[p];
        if (port) hostPorts[p] = port;
      }
      if (!Object.keys(hostPorts).length) continue;
      const site = node.spec.site ? ((await this.cache.get('Site', undefined, node.spec.site)) as Site | undefined) : undefined;
      backends.push({
        instance: i.metadata.name,
        node: node.metadata.name,
        ...(node.spec.site ? { site: node.spec.site } : {}),
        ...(site ? { tier: site.spec.tier } : {}),
        ready: i.status?.ready === true && node.status?.phase !== 'NotReady',
        ports: hostPorts,
        ...(node.status?.gateway ? { gateway: node.status.gateway } : {}),
      });
    }
    return { project, service: name, ports, backends };
  }
}
