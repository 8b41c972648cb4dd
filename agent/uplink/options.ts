import { z } from 'zod';

/** The largest payload the queue takes: one message always fits a batch the center accepts (see docs/uplink.md). */
export const UPLINK_MAX_PAYLOAD = 1024 * 1024;

/**
 * The uplink's options, for the agent's config and flags. Queue durability
 * (see docs/uplink.md for what a crash can lose under each `fsync` mode):
 *
 * - `always`: every append is its own transaction, committed with
 *   synchronous=FULL (the WAL is fsynced) before append returns.
 * - `batch`: appends are group-committed every `commitMs` or `commitMessages`
 *   with synchronous=OFF; the WAL is fsynced right after each commit in
 *   libuv's thread pool and checkpoints run in a worker thread (WalSync), so
 *   no disk wait holds the event loop. A process crash loses the open
 *   window; an OS crash or power cut also the commits whose fsync had not
 *   finished. `durable()` waits for the fsync that covers it.
 * - `off`: group commits as `batch`, synchronous=OFF: a process crash loses
 *   the open window, an OS crash or power cut whatever the OS had not yet
 *   written back.
 */
export const uplinkOptionsSchema = z
  .object({
    fsync: z.enum(['always', 'batch', 'off']).default('batch'),
    commitMs: z.number().int().min(1).max(10_000).default(10),
    commitMessages: z.number().int().min(1).max(100_000).default(1000),
    /** Bound on the queue: payload + topic bytes of every message held (a single larger message is dropped). */
    maxBytes: z.number().int().min(1024).default(256 * 1024 * 1024),
    maxMessages: z.number().int().min(1).default(1_000_000),
    /** Messages older than this are dropped (counted as droppedExpired). */
    ttlMs: z.number().int().min(1000).default(7 * 24 * 3600_000),
    /** What append does when the queue is full: evict the oldest, refuse the new one, or make the caller wait. */
    overflow: z.enum(['drop-oldest', 'drop-newest', 'block']).default('drop-oldest'),
    /** The sender waits this long after a route's first new message, to fill its batch. */
    lingerMs: z.number().int().min(0).max(10_000).default(10),
    batchMessages: z.number().int().min(1).max(10_000).default(1000),
    /** Payload bytes per batch (one larger message still goes alone). */
    batchBytes: z.number().int().min(1024).max(4 * 1024 * 1024).default(512 * 1024),
    requestTimeoutMs: z.number().int().min(100).default(30_000),
    retryInitialMs: z.number().int().min(1).default(200),
    retryMaxMs: z.number().int().min(1).default(30_000),
  })
  .strict();
export type UplinkOptions = z.infer<typeof uplinkOptionsSchema>;
export type UplinkOptionsInput = z.input<typeof uplinkOptionsSchema>;
