import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { BadRequestError, NotFoundError, UPLINK_PATH, nameSchema, parseOrThrow, uplinkBatchSchema, type SinkMessage, type SinkMessagesPage } from '../../core/index.ts';
import type { Store, StoredUplinkMessage } from '../store/store.ts';
import { bodyText } from '../api/resource-routes.ts';
import { gunzipBody } from './gunzip-body.ts';
import type { UplinkService } from './uplink-service.ts';

/** Inflated JSON: 10,000 messages, or a 4 MiB batch of payloads in base64, fit with room to spare. */
const UPLINK_BODY_LIMIT = 16 * 1024 * 1024;

/** The query of GET /api/v1/projects/P/routes/R/messages. */
export const messagesQuerySchema = z.object({
  device: nameSchema.optional(),
  after: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** `POST /api/v1/uplink` (node credentials) and the table sink's query API. */
export function registerUplinkRoutes(app: FastifyInstance, store: Store, service: () => UplinkService): void {

  void app.register(async (scope) => {
    scope.addHook('preParsing', gunzipBody);
    scope.post(UPLINK_PATH, { config: { auth: ['node'] }, bodyLimit: UPLINK_BODY_LIMIT }, async (req) => service().apply(req.token!, parseOrThrow(uplinkBatchSchema, json(bodyText(req)), 'uplink batch')));
  });

  app.get('/api/v1/projects/:project/routes/:route/messages', async (req): Promise<SinkMessagesPage> => {
    const { project, route } = req.params as { project: string; route: string };
    const q = parseOrThrow(messagesQuerySchema, req.query, 'query', 'query');
    if (!(await store.get('Route', project, route))) throw new NotFoundError(`route "${route}" not found in project "${project}"`, { details: [{ path: 'route', message: 'not found' }] });
    const rows = await store.uplink.messages(project, route, q);
    return { items: rows.map(view), next: rows.at(-1)?.id ?? q.after ?? 0 };
  });
}

function json(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BadRequestError('body is not JSON', { details: [{ path: 'body', message: (e as Error).message }] });
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Payloads as text when they are UTF-8, base64 otherwise. */
function view(m: StoredUplinkMessage): SinkMessage {
  let payload: string;
  let encoding: 'utf8' | 'base64' = 'utf8';
  try {
    payload = utf8.decode(m.payload);
  } catch {
    payload = m.payload.toString('base64');
    encoding = 'base64';
  }
  return { id: m.id, node: m.node, seq: m.seq, topic: m.topic, ...(m.device !== undefined ? { device: m.device } : {}), qos: m.qos, at: m.at, receivedAt: m.receivedAt, payload, encoding };
}
