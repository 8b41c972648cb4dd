import type { Logger } from 'pino';
import { TEMPLATE_FIELD, tlsFetch, type EgressPolicy, type Fetch, type RuleAction, type RuleSpec, durationMs } from '../../core/index.ts';
import type { EdgeBroker } from '../../broker/index.ts';
import type { UplinkQueue } from '../uplink/index.ts';
import type { NodeModels } from '../models/model-client.ts';
import { inferRow, UnfitRowError } from './infer-action.ts';

/** Where a rule's result rows go: the edge broker (actuation), the uplink queue, a webhook, the log, a model (and on to the broker). */
export interface ActionDeps {
  broker?: EdgeBroker;
  uplink?: UplinkQueue;
  logger: Logger;
  /** Where webhooks may go (core/egress.ts). */
  egress: EgressPolicy;
  /** Where this node serves model Services (infer actions). */
  models?: NodeModels;
  /** A failed attempt, for the rule's metrics. */
  onError(action: string, message: string): void;
  /** Rows given up on (the queue of a failing action overflowed), for the rule's metrics. */
  onDrop(action: string, rows: number): void;
}

type Row = Record<string, unknown>;

/** What one row becomes for the action; a PermanentError for a row that can never be sent (e.g. its topic is not valid). */
class PermanentError extends Error {}

/** Per kind of action: rows per delivery, and deliveries in flight at once. */
const PACE = {
  // A burst of result rows (a window closing over 1,000 groups) goes out 64
  // publishes at a time: aedes' emitter queues what is over its concurrency
  // and drains that queue recursively, which a large burst overflows
  // (mcollina/mqemitter#204).
  mqtt: { batch: 1, inFlight: 64 },
  uplink: { batch: 1000, inFlight: 1 },
  webhook: { batch: 100, inFlight: 1 },
  log: { batch: 1000, inFlight: 1 },
  // One request a row, a few at once: the model server batches what arrives together.
  infer: { batch: 1, inFlight: 8 },
} as const;

/**
 * One action of one rule. Rows go out at once, in order, at most
 * PACE.inFlight deliveries at a time; when a delivery fails its rows go back
 * to the front of the queue (at most retry.maxQueue rows wait, the oldest
 * dropped first) and are tried again after an exponential backoff, so a
 * failing sink never stops the rule nor blocks its other actions.
 */
export class ActionRunner {
  readonly name: keyof typeof PACE;
  private readonly queue: [Row, number][] = [];
  private inFlight = 0;
  private delayMs = 0;
  /** The backoff after a failure: nothing goes out until it fires. */
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly rule: { project: string; name: string; key: string },
    private readonly action: RuleAction,
    private readonly retry: RuleSpec['retry'],
    private readonly deps: ActionDeps,
  ) {
    this.name = Object.keys(action)[0] as keyof typeof PACE;
  }

  get pending(): number {
    return this.queue.length;
  }

  /** `hops`: how many rules the rows went through, this one included (see engine/Origin). */
  send(rows: Row[], hops: number): void {
    if (this.stopped) return;
    for (const row of rows) this.queue.push([row, hops]);
    this.trim();
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private pump(): void {
    const pace = PACE[this.name];
    while (!this.stopped && this.timer === undefined && this.queue.length && this.inFlight < pace.inFlight) {
      const batch = this.queue.splice(0, pace.batch);
      let sent: void | Promise<unknown>;
      try {
        sent = this.deliver(batch.map(([row]) => row), batch[0]![1]);
      } catch (err) {
        return this.failed(batch, err);
      }
      if (sent === undefined) {
        this.delayMs = 0;
        continue;
      }
      this.inFlight++;
      sent.then(
        () => {
          this.inFlight--;
          this.delayMs = 0;
          this.pump();
        },
        (err: unknown) => {
          this.inFlight--;
          this.failed(batch, err);
        },
      );
    }
  }

  /** Counts the failure; the rows go back to the front of the queue and are tried again after the backoff. */
  private failed(batch: [Row, number][], err: unknown): void {
    this.deps.onError(this.name, err instanceof Error ? err.message : String(err));
    if (err instanceof PermanentError) {
      this.deps.onDrop(this.name, batch.length);
      return this.pump();
    }
    this.queue.unshift(...batch);
    this.trim();
    this.delayMs = this.delayMs ? Math.min(durationMs(this.retry.maxBackoff), this.delayMs * 2) : durationMs(this.retry.initialBackoff);
    if (this.stopped || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, this.delayMs);
    this.timer.unref();
  }

  /** The oldest rows go when the queue is over its bound. */
  private trim(): void {
    const over = this.queue.length - this.retry.maxQueue;
    if (over <= 0) return;
    this.queue.splice(0, over);
    this.deps.onDrop(this.name, over);
  }

  private deliver(rows: Row[], hops: number): void | Promise<unknown> {
    const a = this.action;
    const origin = { rule: this.rule.key, hops };
    if ('mqtt' in a) {
      const broker = this.deps.broker;
      if (!broker) throw new Error('this node runs no edge broker (--mqtt-listen)');
      const waits: Promise<void>[] = [];
      for (const row of rows) {
        const topic = fill(a.mqtt.topic, row);
        if (!topic) throw new PermanentError(`the topic "${a.mqtt.topic}" gives no valid topic for ${JSON.stringify(row).slice(0, 200)}`);
        const payload = a.mqtt.payload === undefined ? JSON.stringify(row) : fill(a.mqtt.payload, row, true)!;
        waits.push(broker.publish(this.rule.project, topic, payload, { qos: a.mqtt.qos, retain: a.mqtt.retain, origin }));
      }
      return waits.length === 1 ? waits[0] : Promise.all(waits);
    }
    if ('uplink' in a) {
      const queue = this.deps.uplink;
      if (!queue) throw new Error('this node runs no uplink (it needs --mqtt-listen)');
      const waits: Promise<unknown>[] = [];
      for (const row of rows) {
        const topic = a.uplink.topic === undefined ? `rules/${this.rule.name}` : fill(a.uplink.topic, row);
        if (!topic) throw new PermanentError(`the topic "${a.uplink.topic}" gives no valid topic for ${JSON.stringify(row).slice(0, 200)}`);
        const r = queue.append({ project: this.rule.project, route: a.uplink.route, topic, payload: Buffer.from(JSON.stringify(row)), qos: 1 });
        if (r instanceof Promise) waits.push(r);
      }
      return waits.length ? Promise.all(waits) : undefined;
    }
    if ('webhook' in a) return postRows(a.webhook, this.rule.key, rows, this.deps.egress);
    if ('infer' in a) return this.infer(a.infer, rows, origin);
    for (const row of rows) this.deps.logger[a.log.level]({ rule: this.rule.key, row }, 'rule result');
    return undefined;
  }

  /** Each row through the model, then published with its answer. */
  private async infer(a: Extract<RuleAction, { infer: unknown }>['infer'], rows: Row[], origin: { rule: string; hops: number }): Promise<void> {
    const broker = this.deps.broker;
    if (!broker) throw new Error('this node runs no edge broker (--mqtt-listen)');
    for (const row of rows) {
      const topic = fill(a.topic, row);
      if (!topic) throw new PermanentError(`the topic "${a.topic}" gives no valid topic for ${JSON.stringify(row).slice(0, 200)}`);
      const answered = await inferRow(a, this.rule.project, row, this.deps.models).catch((err: unknown) => {
        throw err instanceof UnfitRowError ? new PermanentError(err.message) : err;
      });
      await broker.publish(this.rule.project, topic, JSON.stringify(answered), { qos: a.qos, origin });
    }
  }
}

/** One fetch per policy, whose connections resolve names through it: the address checked is the address connected to. */
const fetches = new WeakMap<EgressPolicy, Fetch>();
function webhookFetch(egress: EgressPolicy): Fetch {
  let f = fetches.get(egress);
  if (!f) fetches.set(egress, (f = tlsFetch({ lookup: egress.lookup })));
  return f;
}

async function postRows(w: Extract<RuleAction, { webhook: unknown }>['webhook'], rule: string, rows: Row[], egress: EgressPolicy): Promise<void> {
  // Checked at every delivery, on what the name resolves to now: a refused destination drops the rows, retrying cannot help.
  await egress.check(new URL(w.url).hostname).catch((err: unknown) => {
    throw new PermanentError((err as Error).message);
  });
  const res = await webhookFetch(egress)(w.url, {
    method: w.method,
    headers: { 'content-type': 'application/json', 'x-gedge-rule': rule, ...w.headers },
    body: JSON.stringify(rows),
    signal: AbortSignal.timeout(durationMs(w.timeout)),
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`${w.method} ${w.url}: HTTP ${res.status}`);
}

/**
 * Puts a row's fields into a template (`{{field}}`, `{{a.b}}`). For a topic
 * (asText false), a field that is missing or holds a '/' or a wildcard gives
 * undefined: a row must not publish somewhere else than the template says.
 */
export function fill(template: string, row: Row, asText = false): string | undefined {
  let bad = false;
  const out = template.replace(TEMPLATE_FIELD, (_m, path: string) => {
    let v: unknown = row;
    for (const p of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Row)[p] : undefined;
    if (v === undefined || v === null) {
      bad ||= !asText;
      return '';
    }
    const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
    if (!asText && (s === '' || /[/#+]/.test(s) || s.includes('\0'))) bad = true;
    return s;
  });
  return bad ? undefined : out;
}
