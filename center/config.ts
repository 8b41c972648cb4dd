import { z } from 'zod';
import { classifyAddress, nameSchema } from '../core/index.ts';

/** host:port on a loopback address only ([::1]:port for IPv6); undefined otherwise. */
export function parseLoopbackListen(v: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(v);
  const host = m?.[1] ?? m?.[2];
  if (!m || !host || Number(m[3]) > 65535) return undefined;
  return host === 'localhost' || classifyAddress(host) === 'loopback' ? { host, port: Number(m[3]) } : undefined;
}

const loopbackListen = z.string().refine((v) => parseLoopbackListen(v) !== undefined, 'expected a loopback host:port (127.0.0.1:PORT or [::1]:PORT): the plain-HTTP listener is for this machine only');

/** The center's configuration: defaults, then validation naming every bad field. */
export const centerConfigSchema = z
  .object({
    dataDir: z.string().default('./.gedge/center'),
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(0),
    /**
     * A second listener, plain HTTP and on loopback only, for the browser on
     * this machine (no certificate warning) and local tools: the same API and
     * dashboard, never node traffic (nodes need TLS with their certificate).
     */
    localListen: loopbackListen.optional(),
    /** Extra names and addresses for the center's HTTPS certificate (it always covers localhost, 127.0.0.1, ::1 and --host). */
    tlsSans: z.array(z.string().min(1).max(253)).max(64).default([]),
    /** Your own CA (PEM certificate and EC P-256 PKCS #8 key), taken on first start instead of a new one. */
    caCert: z.string().optional(),
    caKey: z.string().optional(),
    /** Lifetime of node certificates; agents renew at two thirds of it. */
    nodeCertTtlMs: z.number().int().min(10_000).max(365 * 24 * 3_600_000).default(24 * 3_600_000),
    /** How long after expiry a node may still renew with its old certificate (offline nodes); after it, only a new join. */
    nodeCertGraceMs: z.number().int().min(0).max(365 * 24 * 3_600_000).default(7 * 24 * 3_600_000),
    /** SQLite file (default: <dataDir>/center.db) or a postgres:// URL. */
    database: z.string().optional(),
    /** SQLite only: 'full' fsyncs every commit before it is acknowledged; 'normal' may lose the last commits on power loss (faster; for measuring what durability costs). */
    storeSync: z.enum(['full', 'normal']).default('full'),
    /** The largest model artifact an upload may be (bytes; default 256 MiB). */
    maxArtifactBytes: z.number().int().min(1024).max(16 * 1024 ** 3).default(256 * 1024 ** 2),
    /** Networks (CIDR) route sinks and rules' webhooks may reach besides the default, which refuses link-local, unspecified and multicast addresses (core/egress.ts). */
    egressAllow: z.array(z.string()).default([]),
    heartbeatMs: z.number().int().min(50).default(2000),
    notReadyAfterMs: z.number().int().min(100).default(8000),
    evictAfterMs: z.number().int().min(0).default(60_000),
    statusWriteMs: z.number().int().min(100).default(10_000),
    /** Keep at least this many change-log entries; older ones are compacted. */
    changeLogRetain: z.number().int().min(100).default(50_000),
    /** Events older than this are deleted. */
    eventTtlMs: z.number().int().min(1000).default(3_600_000),
    housekeepingMs: z.number().int().min(100).default(60_000),
    /** How often table-sink rows past their Route's retention (sink.retention, default 7 days) are deleted. */
    tableSweepMs: z.number().int().min(100).default(60_000),
    /** A DeviceCommand that is Delivered or Expired is deleted this long after it finished (default 24 h). */
    commandRetentionMs: z.number().int().min(0).max(365 * 24 * 3_600_000).default(24 * 3_600_000),
    /** The center's own site: agents' round trips to the center then measure the link (their site, this one). */
    site: nameSchema.optional(),
    /** How often agents probe their peers and report round trips. */
    probeIntervalMs: z.number().int().min(50).default(5000),
    /** A link with no report for this long is Stale (its last value stands). */
    linkStaleMs: z.number().int().min(100).default(30_000),
    /** A measured link with no report for this long is deleted. */
    linkExpireMs: z.number().int().min(1000).default(600_000),
    /** How often running instances are checked for a better place (SLA and rebalance); link changes also trigger it. */
    rebalanceMs: z.number().int().min(100).default(30_000),
    /** A running instance that fits where it is moves only for a node scoring this much better (0-100). */
    rebalanceMinGain: z.number().min(0).max(100).default(25),
    /** Relative cost of a core per tier, for the cost score. */
    tierCost: z.object({ cloud: z.number().nonnegative(), region: z.number().nonnegative(), edge: z.number().nonnegative() }).strict().default({ cloud: 1, region: 1.5, edge: 3 }),
    /** The built web dashboard served at / (default: dashboard/dist of this checkout). */
    dashboardDir: z.string().optional(),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
  })
  .strict();
export type CenterConfig = z.infer<typeof centerConfigSchema>;
