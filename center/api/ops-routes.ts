import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { nameSchema, parseOrThrow, type ModuleHealth } from '../../core/index.ts';
import { logsQuerySchema as logsQuery } from './instance-queries.ts';
import { ADMIN_OR_USER } from '../auth/access.ts';
import type { Instances } from '../services/instances.ts';
import type { CenterStatus } from '../services/center-status.ts';
import type { AgentHub } from '../hub/agent-hub.ts';
import type { Metrics } from '../metrics.ts';
import { openApiDocument } from './openapi.ts';

/** Logs through the agent tunnel, OpenAPI, Prometheus metrics and health. */
export function registerOpsRoutes(app: FastifyInstance, services: { instances: Instances; status: CenterStatus }, hub: AgentHub, metrics: Metrics, self: { version: string; modules: () => { ready: boolean; health: ModuleHealth[] } }): void {
  const { instances, status } = services;
  const doc = openApiDocument(self.version);
  app.get('/api/v1/openapi.json', { config: { auth: ADMIN_OR_USER } }, async () => doc);

  app.get('/api/v1/instances/:name/logs', { config: { auth: ADMIN_OR_USER } }, async (req, reply) => {
    const q = parseOrThrow(logsQuery, req.query, 'query', 'query');
    const at = await instances.placed(req.token, q.project, (req.params as { name: string }).name);
    const out = hub.openLogs(at.node, at.project, at.name, { follow: q.follow === 'true', tailBytes: q.tailBytes, since: q.since });
    req.raw.on('close', () => out.destroy());
    return reply.type('text/plain; charset=utf-8').send(out);
  });

  // A scraper needs no admin token: a metrics token reads this and nothing else.
  app.get('/metrics', { config: { auth: ['admin', 'metrics'] } }, async (_req, reply) => {
    metrics.storeRevision.set(await status.revision());
    metrics.setCommitStats(status.commitStats());
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  // Prometheus' HTTP service discovery (http_sd_configs): one target per node, scraped through this center.
  app.get('/api/v1/metrics/targets', { config: { auth: ['admin', 'metrics'] } }, async (req) => {
    const nodes = await status.nodes();
    return nodes.map((n) => ({
      targets: [req.host],
      labels: { __metrics_path__: `/api/v1/nodes/${n.metadata.name}/metrics`, node: n.metadata.name, site: n.spec.site, connected: String(hub.isConnected(n.metadata.name)) },
    }));
  });

  // An agent's own metrics, through its connection (agents dial out and listen for no scraper): the same tokens as /metrics.
  app.get('/api/v1/nodes/:name/metrics', { config: { auth: ['admin', 'metrics'] } }, async (req, reply) => {
    const { name } = parseOrThrow(z.object({ name: nameSchema }), req.params, 'path');
    await status.node(name);
    const text = await hub.scrapeMetrics(name);
    return reply.type(metrics.registry.contentType).send(text);
  });

  // The whole picture, for whoever may see it: the store and every module's state, restarts and last failure.
  app.get('/healthz', { config: { auth: ['admin', 'node'] } }, async () => {
    const { ready, health } = self.modules();
    return { ok: ready, revision: await status.revision(), store: { durability: await status.durability() }, modules: health };
  });

  // For load balancers and supervisors, without a token: they tell nothing but up (the process answers) and ready (the store answers, every essential module runs).
  app.get('/livez', { config: { public: true } }, async () => ({ ok: true }));
  app.get('/readyz', { config: { public: true } }, async (_req, reply) => {
    const down = self.modules().health.filter((m) => m.essential && m.state !== 'running');
    if (down.length) return reply.status(503).send({ code: 'Unavailable', message: `not ready: ${down.map((m) => m.name).join(', ')}`, details: down.map((m) => ({ path: `modules.${m.name}`, message: m.state })) });
    if (await status.storeAnswers()) return { ok: true };
    return reply.status(503).send({ code: 'Unavailable', message: 'the store does not answer', details: [{ path: 'store', message: 'unreachable' }] });
  });
}
