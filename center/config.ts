import { z } from 'zod';

/** The center's configuration: defaults, then validation naming every bad field. */
export const centerConfigSchema = z
  .object({
    dataDir: z.string().default('./.gedge/center'),
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(0),
    /** SQLite file (default: <dataDir>/center.db) or a postgres:// URL. */
    database: z.string().optional(),
    heartbeatMs: z.number().int().min(50).default(2000),
    notReadyAfterMs: z.number().int().min(100).default(8000),
    evictAfterMs: z.number().int().min(0).default(60_000),
    statusWriteMs: z.number().int().min(100).default(10_000),
    /** Keep at least this many change-log entries; older ones are compacted. */
    changeLogRetain: z.number().int().min(100).default(50_000),
    /** Events older than this are deleted. */
    eventTtlMs: z.number().int().min(1000).default(3_600_000),
    housekeepingMs: z.number().int().min(100).default(60_000),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
  })
  .strict();
export type CenterConfig = z.infer<typeof centerConfigSchema>;
