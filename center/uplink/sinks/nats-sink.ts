import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { isIP, type LookupFunction } from 'node:net';
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
 *
 * The server's name is resolved here, through the egress policy, and the
 * client dials the address that was checked (the NATS client takes no
 * lookup of its own): a name cannot pass the check and then rebind to a
 * refused address. It ignores the servers a server gossips, which nobody
 * checked. A TLS NATS server named by host then meets a client that knows
 * only its address: its certificate must name that address.
 */
export class NatsSink implements Sink {
  private conn: Promise<{ nc: NatsConnection; js: JetStreamClient }> | undefined;
  private readonly what: string;

  constructor(
    private readonly spec: NatsSpec,
    private readonly store: UplinkStore,
    private readonly log: Logger,
    private readonly timeoutMs: number,
    /** Resolves the server's name at each connection (EgressPolicy.lookup: the address checked is the one dialled). */
    private readonly lookup?: LookupFunction,
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
    this.conn ??= this.server().then((server) => connect({ servers: server, ignoreClusterUpdates: true, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 1000, timeout: this.timeoutMs })).then((nc) => {
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

  /** The sink's URL with its host replaced by the address the lookup checked (credentials and port kept). */
  private async server(): Promise<string> {
    const url = new URL(this.spec.url);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const lookup = this.lookup;
    if (!lookup || isIP(host)) return this.spec.url;
    const address = await new Promise<string>((resolve, reject) =>
      lookup(host, {}, (err, a) => (err ? reject(err) : resolve(typeof a === 'string' ? a : a[0]!.address))),
    );
    url.hostname = isIP(address) === 6 ? `[${address}]` : address;
    return url.toString();
  }
}
