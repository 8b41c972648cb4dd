import { z } from 'zod';
import { DEFAULT_PROJECT, SINCE_HELP, nameSchema, parseSince } from '../../core/index.ts';

/** The query of GET /api/v1/instances/{name}/logs (also for OpenAPI). */
export const logsQuerySchema = z.object({
  project: z.string().default(DEFAULT_PROJECT),
  follow: z.enum(['true', 'false']).default('false'),
  tailBytes: z.coerce.number().int().min(0).max(16 * 1024 * 1024).default(64 * 1024),
  /** Only output written since then: a duration back from now or an RFC 3339 time (1 s resolution, the edge node's clock). */
  since: z
    .string()
    .transform((s, ctx) => parseSince(s) ?? (ctx.addIssue({ code: 'custom', message: `expected ${SINCE_HELP}` }), z.NEVER))
    .optional(),
});

/** The query of GET /api/v1/instances/{name}/exec (a WebSocket upgrade; also for OpenAPI). */
export const execQuerySchema = z
  .object({
    project: nameSchema.default(DEFAULT_PROJECT),
    /** The command and its arguments, one `command` parameter each. */
    command: z.array(z.string().max(64 * 1024)).min(1, 'give the command to run').max(1024),
    tty: z.enum(['true', 'false']).default('false'),
    cols: z.coerce.number().int().min(1).max(10_000).optional(),
    rows: z.coerce.number().int().min(1).max(10_000).optional(),
  })
  .strict();
