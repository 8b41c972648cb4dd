import type { Logger } from 'pino';
import type { EgressPolicy, Sink as SinkSpec } from '../../core/index.ts';
import { SinkUnavailableError } from './errors.ts';
import type { UplinkStore } from '../store/store.ts';
import type { Sink } from './sinks/sink.ts';
import { TableSink } from './sinks/table-sink.ts';

interface Entry {
  sink: Promise<Sink>;
  usedAt: number;
  busy: number;
}

/**
 * One sink (and so one broker connection) per distinct sink config, shared
 * by every route and node that uses it; closed after `idleMs` unused, e.g.
 * when its routes were deleted or changed. Broker clients are loaded on
 * first use: a center without such routes never pays for them.
 */
export class SinkPool {
  private readonly table: TableSink;
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly store: UplinkStore,
    private readonly log: Logger,
    private readonly o: { idleMs: number; timeoutMs: number; egress: EgressPolicy; trust?: string[] },
  ) {
    this.table = new TableSink(store);
    this.sweeper = setInterval(() => void this.sweep(), Math.max(1000, o.idleMs / 2)).unref();
  }

  /** Runs `fn` with the sink for `spec`; the sink is not closed while in use. */
  async use<T>(spec: SinkSpec, fn: (sink: Sink) => Promise<T>): Promise<T> {
    if (spec.type === 'table') return fn(this.table);
    const key = JSON.stringify(spec, Object.keys(spec).sort());
    let e = this.entries.get(key);
    if (!e) {
      // Checked when a connection is opened, on what the name resolves to then: the edge keeps the data while it is refused.
      await this.o.egress.check(new URL(spec.url).hostname).catch((err: unknown) => {
        throw new SinkUnavailableError(`route sink refused: ${(err as Error).message}`, { cause: err, details: [{ path: 'spec.sink.url', message: (err as Error).message }] });
      });
      e = this.entries.get(key);
    }
    if (!e) {
      e = { sink: this.open(spec), usedAt: Date.now(), busy: 0 };
      this.entries.set(key, e);
    }
    e.busy++;
    try {
      return await fn(await e.sink);
    } finally {
      e.busy--;
      e.usedAt = Date.now();
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled(all.map(async (e) => (await e.sink).close()));
  }

  private async open(spec: Exclude<SinkSpec, { type: 'table' }>): Promise<Sink> {
    if (spec.type === 'mqtt') return new (await import('./sinks/mqtt-sink.ts')).MqttSink(spec, this.store, this.log, this.o.timeoutMs, this.o.trust, this.o.egress.lookup);
    return new (await import('./sinks/nats-sink.ts')).NatsSink(spec, this.store, this.log, this.o.timeoutMs, this.o.egress.lookup);
  }

  private async sweep(): Promise<void> {
    const cutoff = Date.now() - this.o.idleMs;
    for (const [key, e] of this.entries) {
      if (e.busy || e.usedAt > cutoff) continue;
      this.entries.delete(key);
      await (await e.sink).close().catch((err: unknown) => this.log.warn({ err }, 'closing an idle sink failed'));
    }
  }
}
