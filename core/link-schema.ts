import { z } from 'zod';
import { durationSchema, nameSchema } from './schema-base.ts';

/** GS-Link's parts of a Service (docs/link.md): its endpoint, continuity for moving clients, overflow to upper tiers. */

/**
 * A Service's endpoint (GS-Link): its ports under the Service's name, served
 * by every agent to the clients and workloads at its site and resolved there
 * to the nearest healthy instance (docs/link.md).
 */
/** Ports one endpoint carries at most (what every agent takes in the directory). */
export const ENDPOINT_PORTS_MAX = 16;
export const endpointSpecSchema = z
  .object({
    /** The template's ports the endpoint carries, by name (default: all of them, at most ENDPOINT_PORTS_MAX). */
    ports: z.array(nameSchema).min(1).max(ENDPOINT_PORTS_MAX).optional(),
  })
  .strict();
export type EndpointSpec = z.infer<typeof endpointSpecSchema>;

/**
 * Continuity for moving clients (GS-Link, docs/link.md "Continuity"): the
 * agent offers the Service's instances a session-state API, a small
 * key-value document per client, and moves a client's document to the node
 * that serves the client next, make-before-break. Needs an endpoint: the
 * clients reach the Service through it.
 */
/** The largest session document any Service may allow (what a migration carries in one message). */
export const SESSION_BYTES_MAX = 1 << 20;
export const continuitySpecSchema = z
  .object({
    /** One client's document, as JSON, at most this many bytes (a write past it is refused with 413). */
    maxSessionBytes: z.number().int().min(1024).max(SESSION_BYTES_MAX).default(64 * 1024),
    /**
     * How far ahead a client's next site is predicted from the locations its
     * instance reports (the session API's PATCH `location`): the session is
     * copied there ahead of the client while the source keeps serving.
     */
    lookahead: durationSchema({ min: '1s', max: '10m' }).default('10s'),
    /** A client's session not written for this long ends (at the node that holds it). */
    idleTimeout: durationSchema({ min: '1m', max: '365d' }).default('24h'),
  })
  .strict();
export type ContinuitySpec = z.infer<typeof continuitySpecSchema>;

/**
 * Offloading across tiers (GS-Link, docs/link.md "Offloading"): requests an
 * edge's instances can no longer answer within the Service's SLA overflow
 * through the endpoint to its instances in the tiers named here, and come
 * back when the edge keeps up again. Each agent decides for the clients of
 * its own site: dynamically from the response times and requests in flight
 * it measures (sla), or by a planned capacity (maxInFlight), or both.
 */
export const overflowSpecSchema = z
  .object({
    /** The tiers that may take the overflow, nearest first by measured round trip (the edge tier offloads upward only). */
    tiers: z.array(z.enum(['region', 'cloud'])).min(1).max(2),
    /** The response time the edge must keep: past 90% of it (p90 at the endpoint) the requests in flight there are limited, the rest overflow. */
    sla: durationSchema({ min: '1ms', max: '1m' }).optional(),
    /** A planned capacity: requests in flight per instance at the edge, beyond which they overflow. */
    maxInFlight: z.number().int().min(1).max(10_000).optional(),
    /** How long nothing must overflow (and, with an sla, the edge answer under 60% of it) before the state goes back to the edge: no flapping. */
    hold: durationSchema({ min: '1s', max: '10m' }).default('5s'),
    /**
     * Capacity upward: while a site overflows, the center adds one instance
     * in these tiers (nearest the overflowing sites) each hold, up to this
     * many; once none has overflowed for three holds, one goes each three
     * holds. 0: the instances the placement keeps there are all.
     */
    burst: z.number().int().min(0).max(100).default(0),
  })
  .strict()
  .refine((o) => o.sla !== undefined || o.maxInFlight !== undefined, { message: 'overflow needs an sla (overflow by measured response time), a maxInFlight (by planned capacity), or both', path: ['sla'] })
  .refine((o) => new Set(o.tiers).size === o.tiers.length, { message: 'a tier is named twice', path: ['tiers'] });
export type OverflowSpec = z.infer<typeof overflowSpecSchema>;

/** The ports a Service's endpoint carries: those named, or every port of its template. */
export const endpointPorts = (s: { endpoint?: EndpointSpec; template: { ports: { name: string }[] } }): string[] => (s.endpoint ? (s.endpoint.ports ?? s.template.ports.map((p) => p.name)) : []);

/** The label of the instances the center added upward while sites overflowed (overflow.burst); the service controller leaves them alone. */
export const BURST_LABEL = 'gedge.io/burst';
/** Whether an instance is one the center added upward (its label is the burst controller's alone: never copied from a Service's labels). */
export const isBurst = (i: { metadata: { labels: Record<string, string> } }): boolean => i.metadata.labels[BURST_LABEL] === 'true';

/** The Services whose requests a node's agent overflows to upper tiers now, for its site's clients (in its heartbeat, then the node's status). */
export const OVERFLOWING_MAX = 256;
export const overflowingSchema = z.array(z.object({ project: nameSchema, service: nameSchema }).strict()).max(OVERFLOWING_MAX);

