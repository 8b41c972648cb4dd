import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { z } from 'zod';
import { NotFoundError, parseOrThrow, DEFAULT_PROJECT } from '../../core/index.ts';
import { ADMIN_OR_USER } from '../auth/access.ts';
import { RANGE_SECONDS, type TelemetryRange } from '../telemetry/telemetry.ts';
import type { FleetView } from '../services/overview.ts';

const rangeSchema = z.enum(Object.keys(RANGE_SECONDS) as [TelemetryRange, ...TelemetryRange[]]).default('1h');
export const nodeTelemetryQuerySchema = z.object({ range: rangeSchema });
export const instanceTelemetryQuerySchema = z.object({ range: rangeSchema, project: z.string().default(DEFAULT_PROJECT) });

/**
 * What the web dashboard needs beyond the resource API: the overview counts,
 * telemetry history, and the dashboard's own files. The files are public (the
 * sign-in page must load without a token); everything they show comes from
 * the API, which needs one.
 */
export function registerDashboardRoutes(app: FastifyInstance, fleet: FleetView, dashboardDir?: string): void {
  const auth = { config: { auth: ADMIN_OR_USER } };

  app.get('/api/v1/overview', auth, async (req) => fleet.overview(req.token));

  app.get('/api/v1/nodes/:name/telemetry', auth, async (req) => {
    const q = parseOrThrow(nodeTelemetryQuerySchema, req.query, 'query', 'query');
    return fleet.nodeTelemetry((req.params as { name: string }).name, q.range);
  });

  app.get('/api/v1/instances/:name/telemetry', auth, async (req) => {
    const q = parseOrThrow(instanceTelemetryQuerySchema, req.query, 'query', 'query');
    return fleet.instanceTelemetry(req.token, q.project, (req.params as { name: string }).name, q.range);
  });

  const root = dashboardDir ?? defaultDashboardDir();
  if (!root || !existsSync(join(root, 'index.html'))) {
    app.get('/', { config: { public: true } }, async (_req, reply) =>
      reply.status(503).type('text/plain').send('The dashboard is not built: run `node scripts/build.mjs` (npm start does it).\n'),
    );
    return;
  }
  // Cache headers are set per route below (send's default would be max-age=0 for everything).
  void app.register(fastifyStatic, { root, serve: false, preCompressed: true, cacheControl: false });
  const file = { config: { public: true } };
  app.get('/', file, async (_req, reply) => reply.header('cache-control', 'no-cache').sendFile('index.html'));
  // Vite names assets by content hash: they never change under one name.
  app.get('/assets/*', file, async (req, reply) => {
    const path = (req.params as { '*': string })['*'];
    if (!/^[\w-]+(?:\.[\w-]+)+$/.test(path)) throw new NotFoundError(`no asset ${path}`, { details: [{ path: 'url', message: 'not found' }] });
    return reply.header('cache-control', 'public, max-age=31536000, immutable').sendFile(`assets/${path}`);
  });
}

/** dashboard/dist of the checkout this code runs from (the source tree or the dist/ bundle). */
function defaultDashboardDir(): string | undefined {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'dashboard', 'dist');
  }
  return undefined;
}
