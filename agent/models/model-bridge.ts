import type { Logger } from 'pino';
import { nameKey } from '../../core/index.ts';
import type { BrokerMessage } from '../../broker/index.ts';
import type { NodeModels } from './model-client.ts';

interface Publisher {
  publish(project: string, topic: string, payload: Buffer | string, o?: { qos?: 0 | 1 | 2 }): Promise<void>;
}

/** At most this many of one device's requests wait for answers at once; more are rejected (429). */
const PER_DEVICE = 16;
/** A model that has not answered in this long is answered for: 504. */
const TIMEOUT_MS = 10_000;

/** The request as a JSON object, or why it is not one. */
function parseRequest(payload: Buffer): Record<string, unknown> | string {
  try {
    const v = JSON.parse(payload.toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : 'not a JSON object';
  } catch (err) {
    return (err as Error).message;
  }
}

/** `devices/<device>/models/<service>/infer`: a device's inference request; undefined for any other topic. */
export function inferTopicOf(topic: string): { device: string; service: string } | undefined {
  // Every device publish passes here: the common case is decided without splitting the topic.
  if (!topic.endsWith('/infer') || !topic.startsWith('devices/')) return undefined;
  const parts = topic.split('/');
  if (parts.length !== 5 || parts[0] !== 'devices' || parts[2] !== 'models' || parts[4] !== 'infer') return undefined;
  return { device: parts[1]!, service: parts[3]! };
}

/**
 * Inference over MQTT at the edge, request and response in the manner of
 * the twins' topics: a device publishes an Open Inference Protocol request
 * (`{id?, inputs, outputs?, parameters?}`, JSON) to
 * `devices/<device>/models/<service>/infer` in its own namespace, and the
 * answer comes back on `.../infer/accepted` (the protocol's response, with
 * the request's `id`) or `.../infer/rejected` (`{id, code, message}`), QoS
 * 1. The request goes to a ready instance of the Service on this node
 * (the model server's REST API on loopback): a device's data never leaves
 * the edge for it. Nothing waits on the device's publish: it is
 * acknowledged as any other, and answered when the model has.
 */
export class ModelBridge {
  private readonly inflight = new Map<string, number>();

  constructor(
    private readonly d: { broker: Publisher; models: NodeModels; log: Logger },
  ) {}

  onPublish(msg: BrokerMessage): void {
    if (!msg.device) return;
    const t = inferTopicOf(msg.topic);
    if (!t || t.device !== msg.device) return;
    void this.answer(msg.project, t.device, t.service, msg.payload);
  }

  private async answer(project: string, device: string, service: string, payload: Buffer): Promise<void> {
    const base = `devices/${device}/models/${service}/infer`;
    const request = parseRequest(payload);
    const id = typeof request === 'object' ? request.id : undefined;
    const reject = (code: number, message: string) => this.publish(project, `${base}/rejected`, { ...(typeof id === 'string' ? { id } : {}), code, message });
    if (typeof request === 'string') return reject(400, `an inference request is a JSON object {id?, inputs: [...]} (${request})`);
    const at = this.d.models.endpoint(project, service);
    if (!at) return reject(404, `no instance of model service "${service}" is ready on this edge`);
    const key = nameKey(project, device);
    const n = this.inflight.get(key) ?? 0;
    if (n >= PER_DEVICE) return reject(429, `at most ${PER_DEVICE} requests of one device wait for answers at once`);
    this.inflight.set(key, n + 1);
    try {
      const res = await this.d.models.infer(project, at, payload.toString('utf8'), TIMEOUT_MS);
      if (res.status === 200) return this.publish(project, `${base}/accepted`, res.body as Record<string, unknown>);
      return reject(res.status, res.body.error ?? `HTTP ${res.status}`);
    } catch (err) {
      const timedOut = (err as Error).name === 'TimeoutError';
      return reject(timedOut ? 504 : 503, timedOut ? `the model did not answer within ${TIMEOUT_MS} ms` : `the model server cannot be reached (${(err as Error).message})`);
    } finally {
      const left = (this.inflight.get(key) ?? 1) - 1;
      if (left) this.inflight.set(key, left);
      else this.inflight.delete(key);
    }
  }

  private publish(project: string, topic: string, body: Record<string, unknown>): void {
    this.d.broker.publish(project, topic, JSON.stringify(body), { qos: 1 }).catch((err: unknown) => this.d.log.warn({ err, topic }, 'cannot publish an inference answer'));
  }
}
