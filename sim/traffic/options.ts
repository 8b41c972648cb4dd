import { z } from 'zod';
import { DURATION_HELP, nameSchema, parseDuration as coreParseDuration } from '../../core/index.ts';
import { SimConfigError } from '../errors.ts';
import { APPROACHES, type Approach } from './model.ts';

/** Options of `gedge sim traffic` / startTrafficSim, with their defaults; every problem is reported with its path. */

/** A duration as every gedge flag takes it (core/duration.ts: `120s`, `1m30s`, `500ms`, `0`), or an error naming `what`. */
export function parseDuration(text: string, what: string): number {
  const ms = coreParseDuration(text);
  if (ms === undefined) throw new SimConfigError(`${what}: expected ${DURATION_HELP}, got "${text}"`, { details: [{ path: what, message: 'invalid duration' }] });
  return ms;
}

export interface IncidentSpec {
  site: string;
  /** `i<k>`, as in the topics. */
  intersection: string;
  approach: Approach;
  /** From the start of the simulation. */
  startMs: number;
  durationMs: number;
}

/** `SITE/INTERSECTION/APPROACH@START+DURATION`, e.g. `edge-a/i3/n@30s+60s`. */
export function parseIncident(text: string): IncidentSpec {
  const m = /^([a-z0-9-]+)\/(i\d+)\/([nesw])@([0-9.a-z]+)\+([0-9.a-z]+)$/.exec(text.trim());
  if (!m) {
    throw new SimConfigError(`--incident: expected SITE/INTERSECTION/APPROACH@START+DURATION (e.g. edge-a/i3/n@30s+60s), got "${text}"`, { details: [{ path: 'incident', message: 'approach is one of n, e, s, w; intersections are i1, i2, ...' }] });
  }
  return { site: m[1]!, intersection: m[2]!, approach: m[3] as Approach, startMs: parseDuration(m[4]!, '--incident start'), durationMs: parseDuration(m[5]!, '--incident duration') };
}

const incidentSchema = z.object({
  site: nameSchema,
  intersection: z.string().regex(/^i[1-9]\d*$/, 'i1, i2, ...'),
  approach: z.enum(APPROACHES),
  startMs: z.number().int().nonnegative(),
  durationMs: z.number().int().positive(),
});

export const trafficOptionsSchema = z
  .object({
    project: nameSchema.default('city'),
    /** Edge sites to simulate; every edge site with a broker when omitted. */
    sites: z.array(nameSchema).min(1).optional(),
    /** Devices in all; 6 per intersection (4 loops, a camera, a light), so round(devices/6) intersections. */
    devices: z.number().int().min(1).max(60_000).default(200),
    /** Messages per second of each sensor. */
    rate: z.number().positive().max(100).default(10),
    /** The compressed day: calm, morning rush, calm, evening rush. */
    cycleMs: z.number().int().min(10_000).max(7 * 86_400_000).default(120_000),
    incidents: z.array(incidentSchema).default([]),
    /** Stop after this long; 0 runs until stop(). */
    durationMs: z.number().int().nonnegative().default(0),
    seed: z.number().int().default(1),
    /** How long start waits for every device to connect to its broker. */
    connectTimeoutMs: z.number().int().positive().default(60_000),
    /** Connections opened at once while starting. */
    connectConcurrency: z.number().int().positive().max(1000).default(50),
  })
  .strict();
export type TrafficOptionsInput = z.input<typeof trafficOptionsSchema>;
export type TrafficOptions = z.output<typeof trafficOptionsSchema>;

export function parseTrafficOptions(input: TrafficOptionsInput): TrafficOptions {
  const r = trafficOptionsSchema.safeParse(input);
  if (!r.success) {
    throw new SimConfigError('invalid traffic simulation options', { details: r.error.issues.map((i) => ({ path: i.path.join('.') || '(options)', message: i.message })) });
  }
  return r.data;
}
