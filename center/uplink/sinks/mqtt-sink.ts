import { randomBytes } from 'node:crypto';
import net, { isIP, type LookupFunction } from 'node:net';
import tls from 'node:tls';
import { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Sink as SinkSpec } from '../../../core/index.ts';
import type { UplinkRecord, UplinkStore } from '../../store/store.ts';
import { SinkUnavailableError } from '../errors.ts';
import { ackedPrefix, fillTopic, publishThenRecord, type Sink, type SinkTarget } from './sink.ts';

type MqttSpec = Extract<SinkSpec, { type: 'mqtt' }>;

/**
 * Bridges a route to an external MQTT broker (MQTT 5). Each message carries
 * the user property `gedge-msg-id: <node>:<seq>` (and `gedge-device` when a
 * device sent it); with QoS 1 the progress moves only after the PUBACKs.
 * At-least-once: a center crash between the PUBACKs and the progress commit,
 * or a publish that times out and is completed later by MQTT.js's resend,
 * delivers a message twice; consumers deduplicate by gedge-msg-id. QoS 0 is
 * at-most-once on the broker's side.
 */
export class MqttSink implements Sink {
  private readonly client: MqttClient;
  private readonly what: string;

  constructor(
    private readonly spec: MqttSpec,
    private readonly store: UplinkStore,
    log: Logger,
    private readonly timeoutMs: number,
    /** CA certificates (PEM) trusted for mqtts:// besides the system's roots. */
    trust: string[] = [],
    /** Resolves the broker's name for each connection (EgressPolicy.lookup: the address checked is the one connected to). */
    lookup?: LookupFunction,
  ) {
    const url = new URL(spec.url);
    this.what = `mqtt sink ${url.host}`;
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const secure = url.protocol === 'mqtts:';
    const port = Number(url.port || (secure ? 8883 : 1883));
    const ca = trust.length ? [...tls.rootCertificates, ...trust] : undefined;
    // Our own socket (MQTT.js's plain one takes no lookup), with TCP_NODELAY from the start.
    const open = secure
      ? () => tls.connect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...(ca ? { ca } : {}), ...(lookup ? { lookup } : {}) }).setNoDelay(true)
      : () => net.connect({ host, port, noDelay: true, ...(lookup ? { lookup } : {}) });
    this.client = new MqttClient(open, {
      protocolVersion: 5,
      clientId: spec.clientId ?? `gedge-center-${randomBytes(6).toString('hex')}`,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: timeoutMs,
      queueQoSZero: false,
      ...(spec.username !== undefined ? { username: spec.username } : {}),
      ...(spec.password !== undefined ? { password: spec.password } : {}),
    });
    // Errors surface in deliver(); MQTT.js reconnects by itself.
    this.client.on('error', (err) => log.debug({ err, sink: this.what }, 'mqtt sink error'));
  }

  deliver(target: SinkTarget, messages: UplinkRecord[]): Promise<{ ackedSeq: number; landed: number }> {
    return publishThenRecord(this.store, target, messages, this.what, async (fresh) => {
      await this.connected();
      const deadline = rejectAfter(this.timeoutMs, `no PUBACK within ${this.timeoutMs} ms`);
      const results = await Promise.allSettled(
        fresh.map((m) =>
          Promise.race([
            this.client.publishAsync(fillTopic(this.spec.topic, m.topic), m.payload, {
              qos: this.spec.qos,
              properties: { userProperties: { 'gedge-msg-id': `${target.node}:${m.seq}`, ...(m.device ? { 'gedge-device': m.device } : {}) } },
            }),
            deadline,
          ]),
        ),
      );
      return ackedPrefix(results);
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }

  private async connected(): Promise<void> {
    if (this.client.connected) return;
    await new Promise<void>((resolve, reject) => {
      const onConnect = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.client.off('connect', onConnect);
        reject(new SinkUnavailableError(`${this.what}: not connected after ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.client.once('connect', onConnect);
    });
  }
}

/** A promise that rejects after `ms` (handled, so it never goes unobserved). */
function rejectAfter(ms: number, message: string): Promise<never> {
  const p = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(message)), ms).unref());
  p.catch(() => undefined);
  return p;
}
