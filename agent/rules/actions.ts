import type { Logger } from 'pino';
import { TEMPLATE_FIELD, type RuleAction, type RuleSpec } from '../../core/index.ts';
import type { EdgeBroker } from '../broker/index.ts';
import type { UplinkQueue } from '../uplink/index.ts';

/** Where a rule's result rows go: the edge broker (actuation), the uplink queue, a webhook, the log. */
export interface ActionDeps {
  broker?: EdgeBroker;
  uplink?: UplinkQueue;
  logger: Logger;
  /** A failed attempt, for the rule's metrics. */
  onError(action: string, message: string): void;
  /** Rows given up on (the queue of a failing action overflowed), for the rule's metrics. */
  onDrop(action: string, rows: number): void;
}

type Row = Record<string, unknown>;

/** What one row becomes for the action; a PermanentError for a row that can never be sent (e.g. its topic is not valid). */
class PermanentError extends Error {}

/**
 * One action of one rule. Rows go out at once while the action works; when
 * an attempt fails they queue (at most retry.maxQueue, the oldest dropped
 * first) and are retried in order with exponential backoff, so a failing
 * sink never stops the rule nor blocks its other actions.
 */
export class ActionRunner {
  readonly name: string;
  private readonly queue: Row[] = [];
  private delayMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private stopped = false;

  constructor(
    private readonly rule: { project: string; name: string; key: string },
    private readonly action: RuleAction,
    private readonly retry: RuleSpec['retry'],
    private readonly deps: ActionDeps,
  ) {
    this.name = Object.keys(action)[0]!;
  }

  get pending(): number {
    return this.queue.length;
  }

  /** `hops`: how many rules the rows went through, this one included (see engine/Origin). */
  send(rows: Row[], hops: number): void {
    if (this.stopped) return;
    if (!this.queue.length && !this.busy) {
      // The fast path: nothing waiting, so nothing to keep in order behind.
      const failed = this.attempt(rows, hops);
      if (failed === undefined) return;
      if (failed instanceof Promise) {
        this.busy = true;
        void failed.then((rest) => {
          this.busy = false;
          if (rest.length) this.enqueue(rest, true);
          else if (this.queue.length) this.schedule(0);
        });
        return;
      }
      return this.enqueue(failed, true);
    }
    this.enqueue(rows, false);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Sends rows; returns undefined when all went, else the rows still to send (now, or once the promise settles). */
  private attempt(rows: Row[], hops = 1): Row[] | undefined | Promise<Row[]> {
    try {
      const r = this.deliver(rows, hops);
      if (!(r instanceof Promise)) return undefined;
      return r.then(
        () => [],
        (err: unknown) => this.failed(rows, err),
      );
    } catch (err) {
      return this.failed(rows, err);
    }
  }

  private failed(rows: Row[], err: unknown): Row[] {
    const message = (err as Error).message ?? String(err);
    this.deps.onError(this.name, message);
    if (err instanceof PermanentError) {
      this.deps.onDrop(this.name, rows.length);
      return [];
    }
    return rows;
  }

  private enqueue(rows: Row[], failed: boolean): void {
    this.queue.push(...rows);
    const over = this.queue.length - this.retry.maxQueue;
    if (over > 0) {
      this.queue.splice(0, over);
      this.deps.onDrop(this.name, over);
    }
    if (failed) this.delayMs = this.delayMs ? Math.min(this.retry.maxMs, this.delayMs * 2) : this.retry.initialMs;
    if (!this.timer && !this.busy) this.schedule(this.delayMs);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), ms);
    this.timer.unref();
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    if (this.stopped || this.busy || !this.queue.length) return;
    const batch = this.queue.splice(0, this.name === 'webhook' ? 100 : 1000);
    this.busy = true;
    const rest = await this.attempt(batch);
    this.busy = false;
    if (rest && rest.length) {
      this.queue.unshift(...rest);
      this.delayMs = this.delayMs ? Math.min(this.retry.maxMs, this.delayMs * 2) : this.retry.initialMs;
      return this.schedule(this.delayMs);
    }
    this.delayMs = 0;
    if (this.queue.length) this.schedule(0);
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
    if ('webhook' in a) return postRows(a.webhook, this.rule.key, rows);
    for (const row of rows) this.deps.logger[a.log.level]({ rule: this.rule.key, row }, 'rule result');
    return undefined;
  }
}

async function postRows(w: Extract<RuleAction, { webhook: unknown }>['webhook'], rule: string, rows: Row[]): Promise<void> {
  const res = await fetch(w.url, {
    method: w.method,
    headers: { 'content-type': 'application/json', 'x-gedge-rule': rule, ...w.headers },
    body: JSON.stringify(rows),
    signal: AbortSignal.timeout(w.timeoutMs),
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
