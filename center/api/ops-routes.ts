import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { NotFoundError, UnavailableError, nameSchema, parseOrThrow, type ModuleHealth } from '../../core/index.ts';
import { logsQuerySchema as logsQuery } from './instance-queries.ts';
import { ADMIN_OR_USER, assertProject } from '../auth/access.ts';
import type { Store } from '../store/store.ts';
import type { AgentHub } from '../hub/agent-hub.ts';
import type { Metrics } from '../metrics.ts';
import { openApiDocument } from './openapi.ts';

/** Logs through the agent tunnel, OpenAPI, Prometheus metrics and health. */
export function registerOpsRoutes(app: FastifyInstance, store: Store, hub: AgentHub, metrics: Metrics, self: { version: string; modules: () => { ready: boolean; health: ModuleHealth[] } }): void {
  const doc = openApiDocument(self.version);
  app.get('/api/v1/openapi.json', { config: { auth: ADMIN_OR_USER } }, async () => doc);

  app.get('/api/v1/instances/:name/logs', { config: { auth: ADMIN_OR_USER } }, async (req, reply) => {
    const q = parseOrThrow(logsQuery, req.query, 'query', 'query');
    // Before the lookup: a token of another project learns nothing, not even whether the instance exists.
    assertProject(req.token, q.project);
    const name = (req.params as { name: string }).name;
    const inst = await store.get('Instance', q.project, name);
    if (!inst) throw new NotFoundError(`Instance "${name}" not found`, { details: [{ path: 'name', message: 'not found' }] });
    if (!inst.spec.node) throw new UnavailableError(`Instance "${name}" is not placed on a node yet`, { details: [{ path: 'spec.node', message: 'unset' }] });
    const out = hub.openLogs(inst.spec.node, q.project, name, { follow: q.follow === 'true', tailBytes: q.tailBytes, since: q.since });
    req.raw.on('close', () => out.destroy());
    return reply.type('text/plain; charset=utf-8').send(out);
  });

  // A scraper needs no admin token: a metrics token reads this and nothing else.
  app.get('/metrics', { config: { auth: ['admin', 'metrics'] } }, async (_req, reply) => {
    metrics.storeRevision.set(await store.currentRevision());
    metrics.setCommitStats(store.commitStats());
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  // Prometheus' HTTP service discovery (http_sd_configs): one target per node, scraped through this center.
  app.get('/api/v1/metrics/targets', { config: { auth: ['admin', 'metrics'] } }, async (req) => {
    const nodes = (await store.list('Node')).items;
    return nodes.map((n) => ({
      targets: [req.host],
      labels: { __metrics_path__: `/api/v1/nodes/${n.metadata.name}/metrics`, node: n.metadata.name, site: n.spec.site, connected: String(hub.isConnected(n.metadata.name)) },
    }));
  });

  // An agent's own metrics, through its connection (agents dial out and listen for no scraper): the same tokens as /metrics.
  app.get('/api/v1/nodes/:name/metrics', { config: { auth: ['admin', 'metrics'] } }, async (req, reply) => {
    const { name } = parseOrThrow(z.object({ name: nameSchema }), req.params, 'path');
    if (!(await store.get('Node', undefined, name))) throw new NotFoundError(`Node "${name}" not found`, { details: [{ path: 'name', message: 'not found' }] });
    const text = await hub.scrapeMetrics(name);
    return reply.type(metrics.registry.contentType).send(text);
  });

  // The whole picture, for whoever may see it: the store and every module's state, restarts and last failure.
  app.get('/healthz', { config: { auth: ['admin', 'node'] } }, async () => {
    const { ready, health } = self.modules();
    return { ok: ready, revision: await store.currentRevision(), store: { durability: await store.durability() }, modules: health };
  });

  // For load balancers and supervisors, without a token: they tell nothing but up (the process answers) and ready (the store answers, every essential module runs).
  app.get('/livez', { config: { public: true } }, async () => ({ ok: true }));
  app.get('/readyz', { config: { public: true } }, async (_req, reply) => {
    const down = self.modules().health.filter((m) => m.essential && m.state !== 'running');
    if (down.length) return reply.status(503).send({ code: 'Unavailable', message: `not ready: ${down.map((m) => m.name).join(', ')}`, details: down.map((m) => ({ path: `modules.${m.name}`, message: m.state })) });
    try {
      await store.currentRevision();
      return { ok: true };
    } catch {
      return reply.status(503).send({ code: 'Unavailable', message: 'the store does not answer', details: [{ path: 'store', message: 'unreachable' }] });
    }
  });
}
