import { nameKey, parseSelector, SERVICE_LABEL, type CenterMessage, type OffloadOutput } from '../../core/index.ts';
import type { Store } from '../store/store.ts';

/** How long a tail's node may take to answer before the edge is told it timed out. */
export const OFFLOAD_TIMEOUT_MS = 10_000;
/** Offloads of one edge node in flight at once; more are refused (429) rather than queued in the center. */
export const OFFLOADS_PER_NODE = 512;
/** How long a lookup of a split's head and of its tail's ready instances is reused. */
const ROUTE_CACHE_MS = 1000;

type Result = Extract<CenterMessage, { t: 'offload.result' }>;
type Send = (m: CenterMessage) => void;

interface Pending {
  /** The edge's node, connection and id. */
  from: { node: string; via: object; id: number; send: Send };
  /** The tail's node and connection. */
  to: { node: string; via: object };
  timer: NodeJS.Timeout;
}

/**
 * Split inference through the center: an edge node's split head sends the
 * cut tensor of its hard inputs (offload); the center picks a ready instance
 * of the split's tail Service (round robin over those whose agent is
 * connected), asks its node (offload.run) and relays the answer
 * (offload.answer -> offload.result). The edge may speak only for its own
 * instances (the session checks), and only a split's head may offload, to
 * that split's tail; an answer counts only from the node asked, under the id
 * it was asked with. The center holds nothing: data passes through.
 */
export class Offloads {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly perNode = new Map<string, number>();
  private readonly heads = new Map<string, { at: number; tail: string | undefined }>();
  private readonly tails = new Map<string, { at: number; instances: { node: string; name: string }[] }>();
  private turn = 0;

  constructor(
    private readonly store: Store,
    private readonly sessions: (node: string) => { via: object; send: Send } | undefined,
    private readonly limits = { perNode: OFFLOADS_PER_NODE, timeoutMs: OFFLOAD_TIMEOUT_MS },
  ) {}

  /** An edge node's offload of its instance `project/instance` (the session checked the node runs it). */
  async start(from: { node: string; via: object; send: Send }, m: { id: number; project: string; instance: string; data: string }): Promise<void> {
    const fail = (code: number, error: string) => from.send({ t: 'offload.result', id: m.id, code, error });
    // Counted before the first await: the frames of one read are handled at once, each must see the others.
    const inFlight = this.perNode.get(from.node) ?? 0;
    if (inFlight >= this.limits.perNode) return fail(429, `at most ${this.limits.perNode} offloads of one node are in flight at once`);
    this.perNode.set(from.node, inFlight + 1);
    let sent = false;
    try {
      const tail = await this.tailOf(m.project, m.instance);
      if (!tail) return fail(400, `instance ${m.project}/${m.instance} is not the head of a split (template.split)`);
      const ready = (await this.readyTails(m.project, tail)).filter((t) => this.sessions(t.node));
      // The edge went away meanwhile: nobody is left to answer.
      if (this.sessions(from.node)?.via !== from.via) return;
      if (!ready.length) return fail(404, `no instance of tail service "${tail}" is ready on a connected node`);
      const target = ready[this.turn++ % ready.length]!;
      const session = this.sessions(target.node)!;
      const id = this.nextId++;
      const timer = setTimeout(() => this.settle(id, { code: 504, error: `the tail on node "${target.node}" did not answer within ${this.limits.timeoutMs / 1000} s` }), this.limits.timeoutMs);
      this.pending.set(id, { from: { node: from.node, via: from.via, id: m.id, send: from.send }, to: { node: target.node, via: session.via }, timer });
      sent = true;
      session.send({ t: 'offload.run', id, project: m.project, instance: target.name, data: m.data });
    } finally {
      if (!sent) this.release(from.node);
    }
  }

  /** A tail node's answer; false when nothing of that id was asked of that node. */
  answer(node: string, id: number, outputs: OffloadOutput[] | undefined, error: string | undefined): boolean {
    const p = this.pending.get(id);
    if (p?.to.node !== node) return false;
    this.settle(id, error !== undefined || !outputs ? { code: 502, error: `the tail failed: ${error ?? 'no outputs'}` } : { outputs });
    return true;
  }

  /** A node's connection `via` closed: offloads it was answering fail now; those it asked are dropped. */
  ended(node: string, via: object): void {
    for (const [id, p] of this.pending) {
      if (p.to.node === node && p.to.via === via) this.settle(id, { code: 503, error: `the tail's node "${node}" went away` });
      else if (p.from.node === node && p.from.via === via) this.settle(id, undefined);
    }
  }

  /** Offloads in flight (for tests and metrics). */
  get inFlight(): number {
    return this.pending.size;
  }

  private settle(id: number, r: Omit<Result, 't' | 'id'> | undefined): void {
    const p = this.pending.get(id);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(id);
    this.release(p.from.node);
    if (r) p.from.send({ t: 'offload.result', id: p.from.id, ...r });
  }

  private release(node: string): void {
    const left = (this.perNode.get(node) ?? 1) - 1;
    if (left > 0) this.perNode.set(node, left);
    else this.perNode.delete(node);
  }

  private async tailOf(project: string, instance: string): Promise<string | undefined> {
    const key = nameKey(project, instance);
    const hit = this.heads.get(key);
    if (hit && Date.now() - hit.at < ROUTE_CACHE_MS) return hit.tail;
    const inst = await this.store.get('Instance', project, instance);
    const tail = inst?.spec.template.split?.tail;
    this.heads.set(key, { at: Date.now(), tail });
    if (this.heads.size > 10_000) this.heads.delete(this.heads.keys().next().value!);
    return tail;
  }

  private async readyTails(project: string, service: string): Promise<{ node: string; name: string }[]> {
    const key = nameKey(project, service);
    const hit = this.tails.get(key);
    if (hit && Date.now() - hit.at < ROUTE_CACHE_MS) return hit.instances;
    const { items } = await this.store.list('Instance', { project, selector: parseSelector(`${SERVICE_LABEL}=${service}`) });
    const instances = items
      .filter((i) => i.spec.node && i.spec.template.runtime === 'model' && i.status?.phase === 'Running' && i.status.ready)
      .map((i) => ({ node: i.spec.node!, name: i.metadata.name }));
    this.tails.set(key, { at: Date.now(), instances });
    if (this.tails.size > 10_000) this.tails.delete(this.tails.keys().next().value!);
    return instances;
  }
}
