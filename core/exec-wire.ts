import { z } from 'zod';

/**
 * `gedge exec` between a client and the center: one WebSocket on
 * `GET /api/v1/instances/{name}/exec?project=&tty=&cols=&rows=&command=…`
 * (command repeated, one argument each). Binary frames carry bytes behind a
 * one-byte channel; text frames are JSON control messages. Bad requests are
 * answered with a JSON error before any upgrade.
 */
export const EXEC_STDIN = 0;
export const EXEC_STDOUT = 1;
export const EXEC_STDERR = 2;

export const execPath = (instance: string): string => `/api/v1/instances/${encodeURIComponent(instance)}/exec`;

const size = z.number().int().min(1).max(10_000);

/** Client -> center control frames. */
export const execClientControlSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('resize'), cols: size, rows: size }),
  /** End of stdin. */
  z.object({ type: z.literal('eof') }),
]);
export type ExecClientControl = z.infer<typeof execClientControlSchema>;

/** Center -> client control frames; `exit` and `error` are the last frame before the center closes. */
export const execServerControlSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('started') }),
  z.object({ type: z.literal('exit'), code: z.number().int().nullable(), signal: z.string().nullable() }),
  z.object({ type: z.literal('error'), message: z.string() }),
]);
export type ExecServerControl = z.infer<typeof execServerControlSchema>;
