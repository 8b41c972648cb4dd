import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { Sink as SinkSpec } from '../../../core/index.ts';
import type { UplinkRecord, UplinkStore } from '../../store/store.ts';
import { SinkUnavailableError } from '../errors.ts';
import { ackedPrefix, fillTopic, publishThenRecord, type Sink, type SinkTarget } from './sink.ts';

type NatsSpec = Extract<SinkSpec, { type: 'nats' }>;

/**
 * Publishes a route to NATS JetStream with `Nats-Msg-Id: <node>:<seq>` and
 * waits for each PubAck before the progress moves. A redelivery (center
 * crash before the progress commit, or a retry after a timeout) carries the
 * same id, and the stream drops it within its duplicate window (2 minutes by
 * default): exactly once while the retry comes within that window.
 */
export class NatsSink implements Sink {
  private conn: Promise<{ nc: NatsConnection; js: JetStreamClient }> | undefined;
  private readonly what: string;

  constructor(
    private readonly spec: NatsSpec,
    private readonly store: UplinkStore,
    private readonly log: Logger,
    private readonly timeoutMs: number,
  ) {
    this.what = `nats sink ${new URL(spec.url).host}`;
  }

  deliver(target: SinkTarget, messages: UplinkRecord[]): Promise<{ ackedSeq: number; landed: number }> {
    return publishThenRecord(this.store, target, messages, this.what, async (fresh) => {
      const { js } = await this.connection();
      const results = await Promise.allSettled(
        fresh.map((m) => js.publish(fillTopic(this.spec.subject, m.topic.replaceAll('/', '.')), m.payload, { msgID: `${target.node}:${m.seq}`, timeout: this.timeoutMs })),
      );
      return ackedPrefix(results);
    });
  }

  async close(): Promise<void> {
    const c = await this.conn?.catch(() => undefined);
    await c?.nc.close();
  }

  /** Once connected the client reconnects by itself; a failed first connect is tried again on the next delivery. */
  private async connection(): Promise<{ nc: NatsConnection; js: JetStreamClient }> {
    this.conn ??= connect({ servers: this.spec.url, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 1000, timeout: this.timeoutMs }).then((nc) => {
      void nc.closed().then((err) => err && this.log.warn({ err, sink: this.what }, 'nats sink connection closed'));
      return { nc, js: jetstream(nc, { timeout: this.timeoutMs }) };
    });
    try {
      return await this.conn;
    } catch (cause) {
      this.conn = undefined;
      throw new SinkUnavailableError(`${this.what}: cannot connect`, { cause });
    }
  }
}
