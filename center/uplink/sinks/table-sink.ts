import type { UplinkRecord, UplinkStore } from '../../store/store.ts';
import type { Sink, SinkTarget } from './sink.ts';

/**
 * The center's own table: rows and progress are written in one transaction,
 * so a batch lands entirely or not at all, and a resent batch is skipped:
 * exactly once.
 */
export class TableSink implements Sink {
  constructor(private readonly store: UplinkStore) {}

  async deliver(target: SinkTarget, messages: UplinkRecord[]): Promise<{ ackedSeq: number; landed: number }> {
    const r = await this.store.record(target, target.routeUid, messages, { rows: true });
    return { ackedSeq: r.ackedSeq, landed: r.fresh };
  }

  async close(): Promise<void> {}
}
