import { z } from 'zod';
import { nameSchema } from '../../core/index.ts';

/** A client, as instances name it: what the platform keys its session by. */
export const clientIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]*$/, 'a client id is letters, digits and . _ : @ - (at most 128, starting with a letter or digit)');

/** What a node asks another's gateway about a session: how it stands there, to hand it over, or to expect its client. */
export const sessionRequestSchema = z.object({ session: z.enum(['status', 'pull', 'expect']), project: nameSchema, service: nameSchema, client: clientIdSchema }).strict();
export type SessionRequest = z.infer<typeof sessionRequestSchema>;
