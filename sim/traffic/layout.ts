import { nameSchema } from '../../core/index.ts';
import { SimConfigError } from '../errors.ts';
import { APPROACHES, type Approach } from './model.ts';
import type { IncidentSpec } from './options.ts';

/**
 * Which intersections and devices a run has: round(devices/6) intersections
 * (at least one) spread over the sites in turn, numbered i1, i2, ... per
 * site; each has a loop detector per approach, a camera and a light.
 */

export type DeviceRole = 'loop' | 'camera' | 'light';
export const DEVICES_PER_INTERSECTION = 6;

export interface IntersectionLayout {
  site: string;
  /** `i<k>`, unique within its site; the topic level. */
  id: string;
  /** Position among all intersections of the run: seeds its model. */
  index: number;
  loops: Record<Approach, string>;
  camera: string;
  light: string;
}

export function planLayout(sites: string[], devices: number): IntersectionLayout[] {
  const total = Math.max(1, Math.round(devices / DEVICES_PER_INTERSECTION));
  const perSite = new Map(sites.map((s) => [s, 0]));
  const out: IntersectionLayout[] = [];
  for (let index = 0; index < total; index++) {
    const site = sites[index % sites.length]!;
    const k = perSite.get(site)! + 1;
    perSite.set(site, k);
    const id = `i${k}`;
    const base = `${site}-${id}`;
    out.push({ site, id, index, loops: { n: `${base}-loop-n`, e: `${base}-loop-e`, s: `${base}-loop-s`, w: `${base}-loop-w` }, camera: `${base}-cam`, light: `${base}-light` });
  }
  const bad = out.flatMap((i) => deviceNamesOf(i)).filter((n) => !nameSchema.safeParse(n).success);
  if (bad.length) {
    throw new SimConfigError(`device names would not be valid names (at most 63 characters, a lowercase DNS label): use shorter site names`, { details: bad.slice(0, 5).map((n) => ({ path: 'sites', message: n })) });
  }
  return out;
}

export function deviceNamesOf(i: IntersectionLayout): string[] {
  return [...APPROACHES.map((a) => i.loops[a]), i.camera, i.light];
}

/** Sensors publish under their intersection; the light also subscribes to its signal topics. */
export function grantsFor(role: DeviceRole, i: IntersectionLayout): { publish: string[]; subscribe: string[] } {
  const publish = [`traffic/${i.site}/${i.id}/#`];
  return role === 'light' ? { publish, subscribe: [`signals/${i.site}/${i.id}/#`] } : { publish, subscribe: [] };
}

/** Every incident must name an intersection of the run. */
export function checkIncidents(layout: IntersectionLayout[], incidents: IncidentSpec[]): void {
  const known = new Set(layout.map((i) => `${i.site}/${i.id}`));
  const unknown = incidents.map((x, k) => ({ x, k })).filter(({ x }) => !known.has(`${x.site}/${x.intersection}`));
  if (unknown.length) {
    const sample = [...known].slice(0, 3).join(', ');
    throw new SimConfigError('an incident names an intersection that is not simulated', {
      details: unknown.map(({ x, k }) => ({ path: `incidents[${k}]`, message: `${x.site}/${x.intersection} is not one of the ${known.size} intersections (${sample}${known.size > 3 ? ', ...' : ''})` })),
    });
  }
}
