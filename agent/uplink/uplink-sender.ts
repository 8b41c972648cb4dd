import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Logger } from 'pino';
import { Backoff, UPLINK_PATH, uplinkAckSchema, type UplinkBatch, nameKey } from '../../core/index.ts';
import type { RouteKey } from './queue-types.ts';
import type { UplinkQueue } from './uplink-queue.ts';
import { UplinkPoster, type ClientTls, type PostResult } from './uplink-post.ts';
import { refusedOutright, refusedRetryMs } from '../dial-refused.ts';

const gzipAsync = promisify(gzip);

export type UplinkSenderEvent =
  | { type: 'delivered'; project: string; route: string; count: number; ackedSeq: number }
  | { type: 'retrying'; project: string; route: string; status?: number; error: string; delayMs: number }
  /** The center says the route is gone (or does not run on this node's site): its backlog was dropped. */
  | { type: 'route-gone'; project: string; route: string; dropped: number }
  /** The center had seen later seqs than this queue hands out (lost or restored queue file): the route's backlog was renumbered past them. */
  | { type: 'resequenced'; project: string; route: string; seenSeq: number }
  /** The credential was refused (401) or belongs to another node (403): nothing is sent until a new sender starts. */
  | { type: 'stopped'; status: number; error: string };

export interface UplinkSenderStats {
  /** Batches the center acknowledged. */
  batches: number;
  /** Compressed request bodies sent, retries included. */
  wireBytes: number;
  /** Payload bytes of the messages in those bodies. */
  rawBytes: number;
  /** Sends that failed and were tried again (network errors, timeouts, 5xx, an answer without an ackedSeq). */
  retries: number;
  /**
   * Outages: from the start of a send that failed while no route was
   * failing to the answer that ended the last route's failures (one outage
   * however many routes a cut hits).
   */
  outages: number;
  /** Seconds spent in outages, the current one included. */
  outageSeconds: number;
}

/** A batch read and compressed, ready to send. */
interface Prepared {
  last: number;
  /** Payload bytes in it. */
  raw: number;
  body: Promise<Buffer>;
}
/** `refused`: the network refused the request outright (dial-refused.ts): tried again within a second, whatever the backoff. */
type Outcome = { kind: 'acked'; ackedSeq: number } | { kind: 'again' } | { kind: 'stop' } | { kind: 'retry'; status?: number; error: string; refused?: boolean };

interface Lane {
  key: RouteKey;
  busy: boolean;
  timer: NodeJS.Timeout | undefined;
  backoff: Backoff;
  /** Retries since the last acknowledgement, and when the first failed send of them started (an outage, as the log tells it). */
  failures: number;
  failingSince: number;
  /** When the center last answered this lane (ms epoch): a lane answered since the link was lost is on a live connection. */
  answeredAt: number;
  /** The request in flight, to abort when the link comes back (it may hang on a dead connection). */
  request: AbortController | undefined;
  /** That request was aborted because the link came back: send again at once, not after a backoff. */
  resendNow: boolean;
}

/**
 * Drains an UplinkQueue to the center, per the wire contract in
 * core/uplink-wire.ts: one lane per (project, route) with at most one batch
 * in flight (the center applies a route's batches in order), a short linger
 * to fill a batch when a lane wakes from idle, exponential backoff with
 * jitter on network errors and 5xx, but a try again within a second when
 * the network refused outright (dial-refused.ts), and at once when the
 * control connection comes back (linkRestored). It needs nothing from the
 * center to start: while the center is unreachable the queue grows, and it
 * drains on return. Retries and outages are counted (stats, the agent's
 * /metrics).
 */
export class UplinkSender {
  private readonly poster: UplinkPoster;
  private readonly lanes = new Map<string, Lane>();
  private readonly listeners = new Set<(e: UplinkSenderEvent) => void>();
  private readonly counters = { batches: 0, wireBytes: 0, rawBytes: 0, retries: 0, outages: 0 };
  /** Lanes failing now: the sender is in an outage while any is. */
  private readonly failing = new Set<Lane>();
  private outage: { since: number } | undefined;
  /** Milliseconds of the outages that ended. */
  private outageMs = 0;
  /** When the control connection to the center was lost, until it is back (requests in flight then may hang on the dead link). */
  private linkLostAt: number | undefined;
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private unsubscribe: (() => void) | undefined;
  private stopped = false;

  constructor(
    private readonly queue: UplinkQueue,
    private readonly opts: { center: string; node: string; credential: string; tls?: () => ClientTls; log?: Logger },
  ) {
    this.poster = new UplinkPoster(new URL(UPLINK_PATH, opts.center).toString(), opts.credential, opts.tls);
  }

  /** Starts draining every route with a backlog, and any route that gets one later. */
  start(): void {
    if (this.unsubscribe || this.stopped) return;
    this.unsubscribe = this.queue.onBacklog((key) => this.wake(key));
    for (const key of this.queue.backlog()) this.wake(key);
  }

  /** Stops sending; a batch in flight is abandoned (the center skips it when it comes again). */
  async stop(): Promise<void> {
    this.halt();
    this.abort.abort();
    await Promise.allSettled([...this.inFlight]);
    this.poster.close();
  }

  get running(): boolean {
    return !!this.unsubscribe && !this.stopped;
  }

  stats(): UplinkSenderStats {
    const ongoing = this.outage ? Date.now() - this.outage.since : 0;
    return { ...this.counters, outageSeconds: (this.outageMs + ongoing) / 1000 };
  }

  onEvent(fn: (e: UplinkSenderEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The agent's control connection to the center was lost (linkRestored then also resends what is in flight). */
  linkLost(): void {
    this.linkLostAt ??= Date.now();
  }

  /**
   * The center is reachable again (the agent's control connection is back):
   * every lane waiting out a retry goes now, its backoff reset, instead of
   * sleeping out a delay that grew while the link was down. After a loss, a
   * request still in flight is sent again too: on a link that was
   * blackholed its connection may hang until TCP's retransmission backoff
   * or the request timeout (30 s) runs out, long after the link is back
   * (unless the center has answered the lane since the loss: then it is on
   * a live connection).
   */
  linkRestored(): void {
    const lostAt = this.linkLostAt;
    this.linkLostAt = undefined;
    for (const lane of this.lanes.values()) {
      if (lane.busy) {
        if (lostAt === undefined || !lane.request || lane.answeredAt >= lostAt) continue;
        lane.resendNow = true;
        this.opts.log?.info({ ...lane.key }, 'uplink: the center is back; sending the batch in flight again');
        lane.request.abort(new Error('the link to the center came back: sending again'));
        continue;
      }
      if (!lane.timer || !lane.failures) continue;
      clearTimeout(lane.timer);
      lane.backoff.reset();
      this.opts.log?.info({ ...lane.key, retries: lane.failures }, 'uplink: the center is back; sending now');
      this.run(lane);
    }
  }

  // ---- internals ------------------------------------------------------------

  private wake(key: RouteKey): void {
    if (this.stopped) return;
    const k = nameKey(key.project, key.route);
    let lane = this.lanes.get(k);
    if (!lane) {
      lane = { key, busy: false, timer: undefined, backoff: new Backoff({ initialMs: this.queue.options.retryInitialMs, maxMs: this.queue.options.retryMaxMs, jitter: 0.5 }), failures: 0, failingSince: 0, answeredAt: 0, request: undefined, resendNow: false };
      this.lanes.set(k, lane);
    }
    if (lane.busy || lane.timer) return;
    const l = lane;
    lane.timer = setTimeout(() => this.run(l), this.queue.options.lingerMs);
  }

  private run(lane: Lane): void {
    lane.timer = undefined;
    lane.busy = true;
    const p = this.drain(lane)
      .catch((err: unknown) => {
        // The queue failed (e.g. a disk error): try again later rather than leave the lane idle until the next append.
        this.opts.log?.error({ err, ...lane.key }, 'uplink lane failed');
        if (!this.stopped) lane.timer = setTimeout(() => this.run(lane), lane.backoff.next());
      })
      .finally(() => {
        lane.busy = false;
        this.inFlight.delete(p);
      });
    this.inFlight.add(p);
  }

  /**
   * Sends batches of one route until its backlog is empty, a retry is
   * scheduled, or the sender stops. While a batch is in flight the next one
   * is read and compressed, to go as soon as this one is acknowledged.
   */
  private async drain(lane: Lane): Promise<void> {
    let next: Prepared | undefined;
    while (!this.stopped) {
      const current = next ?? this.prepare(lane.key, 0);
      if (!current) return this.recovered(lane, false);
      const sentAt = Date.now();
      const sending = this.send(lane, current);
      next = this.prepare(lane.key, current.last);
      const outcome = await sending;
      const resendNow = lane.resendNow;
      lane.resendNow = false;
      if (outcome.kind === 'acked' || outcome.kind === 'again') lane.answeredAt = Date.now();
      if (outcome.kind === 'acked') {
        lane.backoff.reset();
        this.recovered(lane, true);
        if (outcome.ackedSeq !== current.last) next = undefined;
        continue;
      }
      next = undefined;
      if (outcome.kind === 'again') {
        this.recovered(lane, true);
        continue;
      }
      if (outcome.kind === 'stop' || this.stopped) return;
      this.failed(lane, sentAt);
      // Aborted because the link came back (linkRestored said so): again at once, on a fresh backoff.
      if (resendNow) lane.backoff.reset();
      const ms = resendNow ? 0 : outcome.refused ? refusedRetryMs(lane.backoff.next()) : lane.backoff.next();
      // The first failure of an outage is a warning; the retries after it are counted (stats, /metrics) and logged at debug.
      if (lane.failures === 1 && !resendNow) this.opts.log?.warn({ ...lane.key, status: outcome.status, err: outcome.error, retryInMs: ms }, 'uplink to the center failing; retrying');
      else this.opts.log?.debug({ ...lane.key, status: outcome.status, err: outcome.error, retryInMs: ms, retries: lane.failures }, 'uplink retrying');
      this.emit({ type: 'retrying', ...lane.key, ...(outcome.status !== undefined ? { status: outcome.status } : {}), error: outcome.error, delayMs: ms });
      if (resendNow) continue;
      lane.timer = setTimeout(() => this.run(lane), ms);
      return;
    }
  }

  /** A send failed and will be tried again; a lane's first failure may begin an outage, dated from when that send started. */
  private failed(lane: Lane, sentAt: number): void {
    this.counters.retries++;
    if (lane.failures++) return;
    lane.failingSince = sentAt;
    this.failing.add(lane);
    if (this.outage) this.outage.since = Math.min(this.outage.since, sentAt);
    else {
      this.outage = { since: sentAt };
      this.counters.outages++;
    }
  }

  /**
   * The lane's failures are over: the center answered (`answered`), or
   * nothing is left to send (its backlog expired or was dropped meanwhile).
   * The outage ends with the last failing lane.
   */
  private recovered(lane: Lane, answered: boolean): void {
    if (!lane.failures) return;
    const outageMs = Date.now() - lane.failingSince;
    if (answered) this.opts.log?.info({ ...lane.key, retries: lane.failures, outageMs }, 'uplink resumed');
    else this.opts.log?.info({ ...lane.key, retries: lane.failures, outageMs }, 'uplink: nothing left to send on a failing route');
    lane.failures = 0;
    this.failing.delete(lane);
    if (!this.failing.size) this.endOutage();
  }

  private endOutage(): void {
    if (!this.outage) return;
    this.outageMs += Math.max(0, Date.now() - this.outage.since);
    this.outage = undefined;
  }

  private prepare(key: RouteKey, afterSeq: number): Prepared | undefined {
    const o = this.queue.options;
    const batch = this.queue.batch(key, o.batchMessages, o.batchBytes, afterSeq);
    if (!batch.length) return undefined;
    const wire: UplinkBatch = {
      node: this.opts.node,
      project: key.project,
      route: key.route,
      messages: batch.map((m) => ({ seq: m.seq, topic: m.topic, ...(m.device !== null ? { device: m.device } : {}), payload: m.payload.toString('base64'), qos: m.qos, at: new Date(m.at).toISOString() })),
    };
    const body = gzipAsync(JSON.stringify(wire));
    // A prepared batch may be dropped unsent (retry, route gone): its promise must not go unobserved.
    body.catch(() => undefined);
    let raw = 0;
    for (const m of batch) raw += m.payload.length;
    return { last: batch.at(-1)!.seq, raw, body };
  }

  /** One POST and what the lane does next. */
  private async send(lane: Lane, b: Prepared): Promise<Outcome> {
    const key = lane.key;
    const body = await b.body;
    this.counters.wireBytes += body.length;
    this.counters.rawBytes += b.raw;
    let res: PostResult;
    const request = (lane.request = new AbortController());
    try {
      res = await this.poster.post(body, AbortSignal.any([this.abort.signal, request.signal, AbortSignal.timeout(this.queue.options.requestTimeoutMs)]));
    } catch (err) {
      return { kind: 'retry', error: (err as Error).message, refused: refusedOutright(err) };
    } finally {
      lane.request = undefined;
    }
    if (this.stopped) return { kind: 'stop' };
    if (res.status === 200) return this.acked(key, b.last, res.text);
    const reply = parseError(res.text);
    if (res.status === 404 && reply.code === 'RouteGone') {
      this.emit({ type: 'route-gone', ...key, dropped: this.queue.dropRoute(key.project, key.route) });
      return { kind: 'again' };
    }
    if (res.status === 401 || res.status === 403) {
      this.halt();
      this.opts.log?.error({ status: res.status, error: reply.message }, 'uplink stopped: the center refused the node credential');
      this.emit({ type: 'stopped', status: res.status, error: reply.message });
      return { kind: 'stop' };
    }
    return { kind: 'retry', status: res.status, error: reply.message };
  }

  private acked(key: RouteKey, last: number, text: string): Outcome {
    const parsed = uplinkAckSchema.safeParse(safeJson(text));
    if (!parsed.success) return { kind: 'retry', status: 200, error: 'the center answered without an ackedSeq' };
    const { ackedSeq, refused } = parsed.data;
    if (refused) this.opts.log?.warn({ ...key, refused }, 'the center dropped messages of devices that are not this site\'s');
    if (ackedSeq > last && this.queue.resequence(key, ackedSeq)) {
      this.emit({ type: 'resequenced', ...key, seenSeq: ackedSeq });
      return { kind: 'again' };
    }
    const count = this.queue.ack(key.project, key.route, ackedSeq);
    this.counters.batches++;
    this.emit({ type: 'delivered', ...key, count, ackedSeq });
    return { kind: 'acked', ackedSeq };
  }

  private halt(): void {
    this.stopped = true;
    this.unsubscribe?.();
    for (const lane of this.lanes.values()) clearTimeout(lane.timer);
    // Nothing is tried any more: the outage's time stops with the sender.
    this.endOutage();
  }

  private emit(e: UplinkSenderEvent): void {
    for (const fn of this.listeners) fn(e);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parseError(text: string): { code: string; message: string } {
  const body = safeJson(text) as { code?: unknown; message?: unknown } | undefined;
  return { code: typeof body?.code === 'string' ? body.code : '', message: typeof body?.message === 'string' ? body.message : text.slice(0, 200) };
}
