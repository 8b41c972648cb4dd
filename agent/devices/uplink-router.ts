import type { Logger } from 'pino';
import type { Route } from '../../core/index.ts';
import { topicMatches, type BrokerMessage } from '../broker/index.ts';
import type { UplinkQueue } from '../uplink/index.ts';

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

  constructor(
    private readonly queue: UplinkQueue,
    private readonly logger: Logger,
  ) {}

  setRoutes(routes: Route[]): void {
    const next = new Map<string, { name: string; topic: string }[]>();
    const names = new Set<string>();
    for (const r of routes) {
      const project = r.metadata.project ?? 'default';
      names.add(`${project}/${r.metadata.name}`);
      let list = next.get(project);
      if (!list) next.set(project, (list = []));
      list.push({ name: r.metadata.name, topic: r.spec.topic });
    }
    for (const k of this.known) {
      if (names.has(k)) continue;
      const [project, route] = k.split('/') as [string, string];
      this.queue.dropRoute(project, route);
    }
    this.byProject = next;
    this.known = names;
  }

  /** Appends the message for every matching route; a promise while a full queue under `block` holds the publisher. */
  route(msg: BrokerMessage): Promise<void> | undefined {
    const routes = this.byProject.get(msg.project);
    if (!routes) return undefined;
    let wait: Promise<unknown>[] | undefined;
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i]!;
      if (!topicMatches(r.topic, msg.topic)) continue;
      try {
        const res = this.queue.append({ project: msg.project, route: r.name, topic: msg.topic, device: msg.device, payload: msg.payload, qos: msg.qos });
        if (res instanceof Promise) (wait ??= []).push(res);
      } catch (err) {
        // Too large, or not a valid message for the wire: counted by the queue's caller here, never a crash.
        this.logger.warn({ err: (err as Error).message, route: r.name, topic: msg.topic }, 'message not queued for the uplink');
      }
    }
    return wait ? Promise.all(wait).then(() => undefined) : undefined;
  }
}
