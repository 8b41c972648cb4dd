import { formatDuration } from './duration.ts';

/**
 * Fields that held a number with the unit in their name until every
 * duration became one grammar (core/duration.ts): the old name, the new
 * one and the old unit. A manifest still using an old name is refused with
 * the line to write instead (manifest.ts); objects stored or cached by an
 * older gedge are rewritten by upgradeLegacyFields (store migration 0003,
 * the agent's local state).
 */
export const RENAMED_DURATION_FIELDS: Readonly<Record<string, { to: string; unitMs: number }>> = {
  initialDelayMs: { to: 'initialDelay', unitMs: 1 },
  periodMs: { to: 'period', unitMs: 1 },
  timeoutMs: { to: 'timeout', unitMs: 1 },
  stopGraceMs: { to: 'stopGracePeriod', unitMs: 1 },
  progressDeadlineMs: { to: 'progressDeadline', unitMs: 1 },
  maxLatencyMs: { to: 'maxLatency', unitMs: 1 },
  declaredRttMs: { to: 'declaredRtt', unitMs: 1 },
  ttlMs: { to: 'ttl', unitMs: 1 },
  ttlSeconds: { to: 'ttl', unitMs: 1000 },
  maxAgeHours: { to: 'maxAge', unitMs: 3_600_000 },
  initialMs: { to: 'initialBackoff', unitMs: 1 },
  maxMs: { to: 'maxBackoff', unitMs: 1 },
};

/** "periodMs is now period, a duration: write period: 1s" (the value converted when it was a number). */
export function renamedFieldHint(field: string, value: unknown): string | undefined {
  const r = Object.hasOwn(RENAMED_DURATION_FIELDS, field) ? RENAMED_DURATION_FIELDS[field]! : undefined;
  if (!r) return undefined;
  const example = typeof value === 'number' && Number.isFinite(value) && value >= 0 ? formatDuration(value * r.unitMs) : '90s';
  return `${field} is now ${r.to}, a duration: write ${r.to}: ${example}`;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Renames the old fields of `o` (only those in `fields`) in place, each at its old position, converting numbers to durations. */
function renameIn(o: unknown, fields: readonly string[]): boolean {
  if (!isObj(o) || !fields.some((f) => Object.hasOwn(o, f))) return false;
  const entries = Object.entries(o).map(([k, v]): [string, unknown] => {
    const r = fields.includes(k) ? RENAMED_DURATION_FIELDS[k] : undefined;
    return r ? [r.to, typeof v === 'number' ? formatDuration(v * r.unitMs) : v] : [k, v];
  });
  for (const k of Object.keys(o)) delete o[k];
  Object.assign(o, Object.fromEntries(entries));
  return true;
}

const PROBE = ['initialDelayMs', 'periodMs', 'timeoutMs'] as const;

function upgradeTemplate(t: unknown): boolean {
  if (!isObj(t)) return false;
  return [renameIn(t, ['stopGraceMs']), renameIn(t.readiness, PROBE), renameIn(t.liveness, PROBE)].includes(true);
}

/**
 * Rewrites, in place, the duration fields an older gedge wrote as numbers
 * in an object of any kind (spec and status), each renamed at its old
 * position so an object's JSON (and a template's hash) comes out as the
 * current schema writes it. Only the known places are touched: a user's
 * env, headers or payload may hold a key of the same name. True when
 * anything changed.
 */
export function upgradeLegacyFields(resource: unknown): boolean {
  if (!isObj(resource) || !isObj(resource.spec)) return false;
  const spec = resource.spec;
  const status = isObj(resource.status) ? resource.status : {};
  const changed: boolean[] = [];
  switch (resource.kind) {
    case 'Service':
      changed.push(upgradeTemplate(spec.template), renameIn(spec.rollout, ['progressDeadlineMs']), renameIn(spec.placement, ['maxLatencyMs']));
      for (const r of Array.isArray(status.revisions) ? status.revisions : []) if (isObj(r)) changed.push(upgradeTemplate(r.template), renameIn(r.placement, ['maxLatencyMs']));
      break;
    case 'Instance':
      changed.push(upgradeTemplate(spec.template), renameIn(spec.placement, ['maxLatencyMs']));
      break;
    case 'Rule':
      for (const a of Array.isArray(spec.actions) ? spec.actions : []) if (isObj(a)) changed.push(renameIn(a.webhook, ['timeoutMs']));
      changed.push(renameIn(spec.retry, ['initialMs', 'maxMs']));
      break;
    case 'Route':
      changed.push(isObj(spec.sink) && renameIn(spec.sink.retention, ['maxAgeHours']));
      break;
    case 'DeviceCommand':
      changed.push(renameIn(spec, ['ttlMs']));
      break;
    case 'SiteLink':
      changed.push(renameIn(spec, ['declaredRttMs']));
      break;
  }
  return changed.includes(true);
}
