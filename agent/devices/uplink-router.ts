import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { projectOf, nameKey, splitNameKey } from '../../core/index.ts';
import type { Route } from '../../core/index.ts';
import { topicMatches, type BrokerMessage } from '../../broker/index.ts';
import type { PublishOrigin, UplinkQueue } from '../uplink/index.ts';

/**
 * Puts what devices publish on the uplink: each accepted publish that matches
 * a route of its project (that runs at this site) is appended to the durable
 * queue, once per matching route. Routes are indexed per project and rebuilt
 * when they change; a route that is gone, or no longer runs here, has its
 * backlog dropped (counted by the queue).
 */
export class UplinkRouter {
  private byProject = new Map<string, { name: string; topic: string }[]>();
  private known = new Set<string>();
  /** Per device (P/D): the connection whose resends are over, see route(). */
  private settled = new Map<string, number>();

  constructor(
    private readonly queue: UplinkQueue,
    private readonly logger: Logger,
  ) {}

  setRoutes(routes: Route[]): void {
    const next = new Map<string, { name: string; topic: string }[]>();
    const names = new Set<string>();
    for (const r of routes) {
      const project = projectOf(r);
      names.add(nameKey(project, r.metadata.name));
      let list = next.get(project);
      if (!list) next.set(project, (list = []));
      list.push({ name: r.metadata.name, topic: r.spec.topic });
    }
    for (const k of this.known) {
      if (names.has(k)) continue;
      const [project, route] = splitNameKey(k);
      this.queue.dropRoute(project, route);
    }
    this.byProject = next;
    this.known = names;
  }

  /**
   * Appends the message for every matching route. A promise when the
   * publisher must wait: a device's QoS 1/2 message until it is on disk (its
   * PUBACK/PUBREC waits for that, so an acknowledged message survives a
   * crash), any message while a full queue under `block` holds it.
   *
   * A resend of a message already queued is not appended again: the device
   * only missed the acknowledgement. A publish may be a resend when it is
   * marked DUP, or when it comes on a new connection before any new message
   * did (clients resend first, and MQTT.js does not set DUP); it is one when
   * the queue holds the same packet id, topic and payload for the device.
   */
  route(msg: BrokerMessage): Promise<void> | undefined {
    const routes = this.byProject.get(msg.project);
    if (!routes) return undefined;
    let origin: PublishOrigin | undefined;
    let wait: Promise<unknown>[] | undefined;
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i]!;
      if (!topicMatches(r.topic, msg.topic)) continue;
      if (origin === undefined && msg.packetId !== undefined && msg.device !== undefined) {
        const client = nameKey(msg.project, msg.device);
        origin = { client, packetId: msg.packetId, hash: createHash('sha1').update(msg.topic).update(msg.payload).digest() };
        if (msg.dup === true || this.settled.get(client) !== msg.connection) {
          if (this.queue.isResend(origin)) return this.queue.durable();
          this.settled.set(client, msg.connection!);
        }
      }
      try {
        const res = this.queue.append({ project: msg.project, route: r.name, topic: msg.topic, device: msg.device, payload: msg.payload, qos: msg.qos, origin });
        if (res instanceof Promise) (wait ??= []).push(res);
      } catch (err) {
        // Too large, or not a valid message for the wire: counted by the queue's caller here, never a crash.
        this.logger.warn({ err: (err as Error).message, route: r.name, topic: msg.topic }, 'message not queued for the uplink');
      }
    }
    if (wait !== undefined) return Promise.all(wait).then(() => (origin !== undefined ? this.queue.durable() : undefined));
    return origin !== undefined ? this.queue.durable() : undefined;
  }
}
