import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { BadRequestError, DEFAULT_PROJECT, UPLINK_PATH, nameSchema, parseOrThrow, uplinkBatchSchema, type SinkMessagesPage } from '../../core/index.ts';
import { bodyText } from '../api/resource-routes.ts';
import { gunzipBody } from './gunzip-body.ts';
import type { UplinkService } from './uplink-service.ts';

/** Inflated JSON: 10,000 messages, or a 4 MiB batch of payloads in base64, fit with room to spare. */
const UPLINK_BODY_LIMIT = 16 * 1024 * 1024;

/** The query of GET /api/v1/routes/R/messages?project=P. */
export const messagesQuerySchema = z.object({
  project: z.string().default(DEFAULT_PROJECT),
  device: nameSchema.optional(),
  after: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** `POST /api/v1/uplink` (node credentials) and the table sink's query API. */
export function registerUplinkRoutes(app: FastifyInstance, service: () => UplinkService): void {
  void app.register(async (scope) => {
    scope.addHook('preParsing', gunzipBody);
    scope.post(UPLINK_PATH, { config: { auth: ['node'] }, bodyLimit: UPLINK_BODY_LIMIT }, async (req) => service().apply(req.token!, parseOrThrow(uplinkBatchSchema, json(bodyText(req)), 'uplink batch')));
  });

  app.get('/api/v1/routes/:name/messages', async (req): Promise<SinkMessagesPage> => {
    const { name } = req.params as { name: string };
    const { project, ...page } = parseOrThrow(messagesQuerySchema, req.query, 'query', 'query');
    return service().messages(project, name, page);
  });
}

function json(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BadRequestError('body is not JSON', { details: [{ path: 'body', message: (e as Error).message }] });
  }
}
