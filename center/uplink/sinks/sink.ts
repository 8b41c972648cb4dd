import type { UplinkProgressKey, UplinkRecord, UplinkStore } from '../../store/store.ts';
import { SinkUnavailableError } from '../errors.ts';

/** Where a batch goes: the node's progress key plus the Route's uid (counts restart with a recreated Route). */
export interface SinkTarget extends UplinkProgressKey {
  routeUid: string;
}

/**
 * A route's destination. `deliver` gets one batch of a (node, route) in seq
 * order, lands what is past the recorded progress and moves the progress;
 * the caller never runs two deliveries of the same key at once. When the
 * sink fails it throws SinkUnavailableError, with the progress covering
 * exactly what landed before the failure. Every implementation runs
 * sink-contract.ts.
 */
export interface Sink {
  deliver(target: SinkTarget, messages: UplinkRecord[]): Promise<{ ackedSeq: number; landed: number }>;
  close(): Promise<void>;
}

/**
 * For sinks outside the store (brokers): publish what is past the progress,
 * wait for the broker's acknowledgements, then record the progress. A crash
 * between the two means the batch is published again (at-least-once, unless
 * the broker deduplicates by message id). `publish` returns how many of
 * `fresh`, from the start, the broker acknowledged, and the first error.
 */
export async function publishThenRecord(
  store: UplinkStore,
  target: SinkTarget,
  messages: UplinkRecord[],
  what: string,
  publish: (fresh: UplinkRecord[]) => Promise<{ acked: number; error?: unknown }>,
): Promise<{ ackedSeq: number; landed: number }> {
  const progress = await store.progress(target);
  const fresh = messages.filter((m) => m.seq > progress);
  if (!fresh.length) return { ackedSeq: progress, landed: 0 };
  const { acked, error } = await publish(fresh).catch((e: unknown) => ({ acked: 0, error: e }));
  const recorded = acked ? await store.record(target, target.routeUid, fresh.slice(0, acked), { rows: false }) : { ackedSeq: progress };
  if (error instanceof SinkUnavailableError) throw error;
  if (acked < fresh.length) throw new SinkUnavailableError(`${what}: ${(error as Error | undefined)?.message ?? 'not acknowledged'}`, { cause: error });
  return { ackedSeq: recorded.ackedSeq, landed: acked };
}

/** The leading run of fulfilled results, and the first rejection. */
export function ackedPrefix(results: PromiseSettledResult<unknown>[]): { acked: number; error?: unknown } {
  const i = results.findIndex((r) => r.status === 'rejected');
  if (i < 0) return { acked: results.length };
  return { acked: i, error: (results[i] as PromiseRejectedResult).reason };
}

/** A route's message topic in the sink's template: `{topic}` is replaced by the message's topic. */
export function fillTopic(template: string, topic: string): string {
  return template.replaceAll('{topic}', topic);
}
