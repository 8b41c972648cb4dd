import { ForbiddenError, NotFoundError, ValidationError, routeRunsAt, type ErrorDetail, type Node, type Route, type SinkMessage, type SinkMessagesPage, type UplinkAck, type UplinkBatch } from '../../core/index.ts';
import type { Store, StoredUplinkMessage, TokenRecord, UplinkRecord } from '../store/store.ts';
import { RouteGoneError } from './errors.ts';
import type { RouteStatusWriter } from './route-status.ts';
import type { SinkPool } from './sink-pool.ts';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Applies uplink batches (core/uplink-wire.ts) as a list of steps: the
 * credential's node must be the batch's, the batch must be in seq order,
 * the Route must exist and run on the node's site, then the route's sink
 * lands what is past the (node, route) progress and moves it. Batches of
 * one (node, route) are applied one at a time, so a resend that overtakes a
 * slow first attempt waits for it and is then skipped.
 */
export class UplinkService {
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: Store,
    private readonly sinks: SinkPool,
    private readonly status: RouteStatusWriter,
    /**
     * Where Nodes and Devices are read (the controllers' in-memory cache; the
     * store until it has listed them): a batch names up to a hundred devices,
     * each a point read and a parse otherwise. The cache follows the same
     * change stream that brings a device's credential to its edge, so it
     * knows a device before the edge can sign it in.
     */
    private readonly reader: () => Pick<Store, 'get'> = () => store,
  ) {}

  /** A page of a route's table sink, oldest first (after `after`, or the newest `limit`); `next` is where the following page starts. */
  async messages(project: string, route: string, q: { device?: string; after?: number; limit: number }): Promise<SinkMessagesPage> {
    if (!(await this.store.get('Route', project, route))) throw new NotFoundError(`route "${route}" not found in project "${project}"`, { details: [{ path: 'route', message: 'not found' }] });
    const rows = await this.store.uplink.messages(project, route, q);
    return { items: rows.map(view), next: rows.at(-1)?.id ?? q.after ?? 0 };
  }

  async apply(token: TokenRecord, batch: UplinkBatch): Promise<UplinkAck> {
    checkNode(token, batch);
    const all = toRecords(batch);
    const node = await this.reader().get('Node', undefined, batch.node);
    if (!node) throw new ForbiddenError(`node "${batch.node}" does not exist`, { details: [{ path: 'node', message: 'deleted' }] });
    const route = await this.routeFor(batch, node);
    const foreign = await this.foreignDevices(batch, node);
    const records = all.filter((r) => r.device === undefined || !foreign.has(r.device));
    const refused = batch.messages.length - records.length;
    const lastSeq = batch.messages.at(-1)!.seq;
    const target = { node: batch.node, project: batch.project, route: batch.route, routeUid: route.metadata.uid ?? '' };
    return this.serially(`${batch.node}/${batch.project}/${batch.route}`, async () => {
      try {
        const r = records.length ? await this.sinks.use(route.spec.sink, (sink) => sink.deliver(target, records)) : { ackedSeq: lastSeq, landed: 0 };
        this.status.delivered(route, r.landed);
        // Every message it may land did land: the refused ones are acknowledged with them, so the edge does not send them again.
        return refused ? { ackedSeq: Math.max(r.ackedSeq, lastSeq), refused } : { ackedSeq: r.ackedSeq };
      } catch (err) {
        this.status.failed(route, (err as Error).message);
        throw err;
      }
    });
  }

  private async routeFor(batch: UplinkBatch, node: Node): Promise<Route> {
    const route = await this.store.get('Route', batch.project, batch.route);
    if (!route) throw new RouteGoneError(`route "${batch.route}" does not exist in project "${batch.project}"`, { details: [{ path: 'route', message: 'not found' }] });
    if (!routeRunsAt(route, node.spec.site)) {
      throw new RouteGoneError(`route "${batch.route}" does not run on the site of node "${batch.node}"`, { details: [{ path: 'route', message: `sites: ${route.spec.sites?.join(', ')}` }] });
    }
    return route;
  }

  /**
   * A node speaks only for its site's devices: the device names in the batch
   * that are not a device of the route's project at the node's site. Their
   * messages are dropped rather than the batch refused, so that a device
   * deleted while its messages waited at the edge cannot stall the route.
   */
  private async foreignDevices(batch: UplinkBatch, node: Node): Promise<Set<string>> {
    const names = new Set<string>();
    for (const m of batch.messages) if (m.device !== undefined) names.add(m.device);
    const foreign = new Set<string>();
    const reader = this.reader();
    for (const name of names) {
      const device = await reader.get('Device', batch.project, name);
      if (device?.spec.site !== node.spec.site) foreign.add(name);
    }
    return foreign;
  }

  private serially<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.tails.get(key) ?? Promise.resolve()).then(fn);
    const tail = run.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return run;
  }
}

function checkNode(token: TokenRecord, batch: UplinkBatch): void {
  if (batch.node !== token.subject) {
    throw new ForbiddenError(`this credential belongs to node "${token.subject}", not "${batch.node}"`, { details: [{ path: 'node', message: `must be "${token.subject}"` }] });
  }
}

/** Decodes payloads and checks the order the contract promises: seq strictly increasing. */
function toRecords(batch: UplinkBatch): UplinkRecord[] {
  const problems: ErrorDetail[] = [];
  const records = batch.messages.map((m, i) => {
    if (i > 0 && m.seq <= batch.messages[i - 1]!.seq) problems.push({ path: `messages[${i}].seq`, message: `must be above the previous seq (${batch.messages[i - 1]!.seq})` });
    if (!BASE64.test(m.payload)) problems.push({ path: `messages[${i}].payload`, message: 'not base64' });
    return { seq: m.seq, topic: m.topic, ...(m.device !== undefined ? { device: m.device } : {}), qos: m.qos, at: m.at, payload: Buffer.from(m.payload, 'base64') };
  });
  if (problems.length) throw new ValidationError('uplink batch is invalid', { details: problems });
  return records;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Payloads as text when they are UTF-8, base64 otherwise. */
function view(m: StoredUplinkMessage): SinkMessage {
  let payload: string;
  let encoding: 'utf8' | 'base64' = 'utf8';
  try {
    payload = utf8.decode(m.payload);
  } catch {
    payload = m.payload.toString('base64');
    encoding = 'base64';
  }
  return { id: m.id, node: m.node, seq: m.seq, topic: m.topic, ...(m.device !== undefined ? { device: m.device } : {}), qos: m.qos, at: m.at, receivedAt: m.receivedAt, payload, encoding };
}
