import { z } from 'zod';
import { nameSchema } from '../../core/index.ts';
import { SimConfigError } from '../errors.ts';

/** Options of `gedge sim vehicles` / startVehicleSim, with their defaults; every problem is reported with its path. */

const hostPort = z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'HOST:PORT');

export const surgeSchema = z
  .object({
    /** The edge site the rush hour hits. */
    site: nameSchema,
    /** A surge starts this long after the previous one started (the first after one period). */
    everyMs: z.number().int().min(1000),
    /** Each surge lasts this long. */
    forMs: z.number().int().min(1000),
    /** Requests a second during a surge, each on a connection of its own (open loop). */
    rate: z.number().positive().max(1000).default(75),
  })
  .strict()
  .refine((s) => s.forMs < s.everyMs, { message: 'a surge must end before the next starts (for < every)', path: ['forMs'] });

export const vehicleOptionsSchema = z
  .object({
    project: nameSchema.default('city'),
    /** The Service the vehicles talk to (examples/smart-city/assist.yaml). */
    service: nameSchema.default('assist'),
    /** By edge site: its agent's endpoint resolver (`gedge agent --endpoint-listen`). The vehicles drive through these sites. */
    resolvers: z.record(nameSchema, hostPort).refine((r) => Object.keys(r).length > 0, 'at least one site'),
    vehicles: z.number().int().min(1).max(500).default(8),
    /** From one site to the next (the compressed speed: a hand-over about every leg). */
    legMs: z.number().int().min(1000).max(3_600_000).default(30_000),
    /** Between a vehicle's requests. */
    intervalMs: z.number().int().min(10).max(60_000).default(500),
    surge: surgeSchema.optional(),
    /** The reporters' windows of response times (per site). */
    windowMs: z.number().int().min(500).max(600_000).default(5000),
    /** How often the reporters publish their site's vehicles. */
    positionsEveryMs: z.number().int().min(100).max(600_000).default(1000),
    /** How long start waits for the Service behind every site's endpoint. */
    readyTimeoutMs: z.number().int().positive().default(180_000),
    /** Stop after this long; 0 runs until stop(). */
    durationMs: z.number().int().nonnegative().default(0),
  })
  .strict();
export type VehicleOptionsInput = z.input<typeof vehicleOptionsSchema>;
export type VehicleOptions = z.output<typeof vehicleOptionsSchema>;

/** The flags these paths come from, so an error names what the user typed. */
const FLAGS: Record<string, string> = { resolvers: '--resolvers', vehicles: '--vehicles', legMs: '--leg', intervalMs: '--interval', 'surge.site': '--surge-site', 'surge.everyMs': '--surge-every', 'surge.forMs': '--surge-for', 'surge.rate': '--surge-rate', windowMs: '--window', durationMs: '--duration' };

export function parseVehicleOptions(input: VehicleOptionsInput): VehicleOptions {
  const r = vehicleOptionsSchema.safeParse(input);
  if (!r.success) {
    const details = r.error.issues.map((i) => {
      const path = i.path.join('.') || '(options)';
      const flag = FLAGS[path] ?? FLAGS[i.path[0] === 'resolvers' ? 'resolvers' : ''];
      return { path, message: flag ? `${flag}: ${i.message}` : i.message };
    });
    throw new SimConfigError(`invalid vehicle simulation options: ${details.map((d) => d.message).join('; ')}`, { details });
  }
  if (r.data.surge && !(r.data.surge.site in r.data.resolvers)) {
    throw new SimConfigError(`--surge-site: ${r.data.surge.site} is not one of the sites driven (${Object.keys(r.data.resolvers).join(', ')})`, { details: [{ path: 'surge.site', message: 'not in --resolvers' }] });
  }
  return r.data;
}

/** `edge-a=127.0.0.1:7071,edge-b=127.0.0.1:7072`: by site, its endpoint resolver. */
export function parseResolvers(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z0-9-]+)=(.+)$/.exec(part);
    if (!m) throw new SimConfigError(`--resolvers: expected SITE=HOST:PORT[,SITE=HOST:PORT...], got "${part}"`, { details: [{ path: 'resolvers', message: part }] });
    if (m[1]! in out) throw new SimConfigError(`--resolvers: site ${m[1]} named twice`, { details: [{ path: 'resolvers', message: m[1]! }] });
    out[m[1]!] = m[2]!;
  }
  return out;
}
