import { useI18n } from '../i18n/index.ts';
import { Ago, Card, fmt } from './ui.tsx';
import type { HandoverRow, OffloadState, VehicleDot } from './scenario-vehicles-model.ts';

export interface MapSite {
  name: string;
  tier: string;
  lat: number;
  lon: number;
}

const W = 640;
const H = 380;
const PAD = 48;
const iso = (ms: number | null) => (ms === null ? undefined : new Date(ms).toISOString());

/** lat/lon to the drawing: equirectangular around the sites, north up, the same scale both ways. */
function projector(sites: MapSite[]) {
  const lats = sites.map((s) => s.lat);
  const lons = sites.map((s) => s.lon);
  const [lat0, lat1, lon0, lon1] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const k = Math.cos((((lat0 + lat1) / 2) * Math.PI) / 180);
  const scale = Math.min((W - 2 * PAD) / Math.max((lon1 - lon0) * k, 1e-6), (H - 2 * PAD) / Math.max(lat1 - lat0, 1e-6));
  const cx = (lon0 + lon1) / 2;
  const cy = (lat0 + lat1) / 2;
  return (lat: number, lon: number) => ({ x: W / 2 + (lon - cx) * k * scale, y: H / 2 - (lat - cy) * scale });
}

/**
 * The vehicles on the city map at their reported positions, each joined to
 * the edge site it is attached to; the sites coloured by whether their
 * assistant answers at the edge or overflows to the region (an arrow up).
 */
export function VehiclesCard({ sites, dots, offload }: { sites: MapSite[]; dots: VehicleDot[]; offload: OffloadState[] }) {
  const { t } = useI18n();
  const shown = sites.filter((s) => s.tier !== 'cloud');
  if (shown.length === 0) return null;
  const at = projector(shown);
  const region = shown.find((s) => s.tier === 'region');
  const state = new Map(offload.map((o) => [o.site, o.state]));
  const site = new Map(shown.map((s) => [s.name, s]));
  return (
    <Card title={t('vehicles.map.title', { n: dots.length })} id="city-vehicles">
      <p class="muted city-help">{t('vehicles.map.help')}</p>
      <svg class="city-map" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={t('vehicles.map.label', { n: dots.length })}>
        {region &&
          shown
            .filter((s) => state.get(s.name) === 'overflowing')
            .map((s) => {
              const [a, b] = [at(s.lat, s.lon), at(region.lat, region.lon)];
              return <line key={`up-${s.name}`} class="city-map-overflow" x1={a.x} y1={a.y} x2={b.x} y2={b.y} marker-end="url(#city-arrow)" />;
            })}
        <defs>
          <marker id="city-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" class="city-map-arrow" />
          </marker>
        </defs>
        {dots.map((d) => {
          const s = site.get(d.site);
          if (!s) return null;
          const [a, b] = [at(d.lat, d.lon), at(s.lat, s.lon)];
          return <line key={`att-${d.vehicle}`} class="city-map-attach" x1={a.x} y1={a.y} x2={b.x} y2={b.y} />;
        })}
        {shown.map((s) => {
          const p = at(s.lat, s.lon);
          const st = s.tier === 'edge' ? (state.get(s.name) ?? 'edge') : 'region';
          return (
            <g key={s.name} class={`city-map-site city-map-${st}`} data-map-site={s.name} data-state={s.tier === 'edge' ? st : undefined}>
              <circle cx={p.x} cy={p.y} r={s.tier === 'region' ? 16 : 12} />
              <text x={p.x} y={p.y + (s.tier === 'region' ? 32 : 28)} text-anchor="middle">
                {s.name}
                {st === 'overflowing' ? ` · ${t('vehicles.offload.overflowing')}` : ''}
              </text>
            </g>
          );
        })}
        {dots.map((d, k) => {
          const p = at(d.lat, d.lon);
          // Vehicles bunch up on a road: labels alternate above and below their dot.
          return (
            <g key={d.vehicle} class="city-map-vehicle" data-vehicle={d.vehicle} data-site={d.site} data-lat={d.lat} data-lon={d.lon} data-count={d.count ?? undefined}>
              <circle cx={p.x} cy={p.y} r={6} />
              <text x={p.x + 8} y={k % 2 ? p.y + 17 : p.y - 8}>
                {d.vehicle}
              </text>
            </g>
          );
        })}
      </svg>
    </Card>
  );
}

/** The newest hand-overs: who moved where, how long the vehicle went without an answer, whether the platform saw it coming, and whether its count went on. */
export function HandoversCard({ rows, empty }: { rows: HandoverRow[]; empty: string }) {
  const { t } = useI18n();
  const predicted = (p: boolean | null) => (p === null ? t('vehicles.handovers.unknown') : p ? t('vehicles.handovers.predicted') : t('vehicles.handovers.unpredicted'));
  return (
    <Card title={t('vehicles.handovers.title')} id="city-handovers">
      <p class="muted city-help">{t('vehicles.handovers.help')}</p>
      {rows.length === 0 ? (
        <p class="muted city-empty">{empty}</p>
      ) : (
        <div class="work-scroll">
          <table class="city-table" aria-label={t('vehicles.handovers.title')}>
            <thead>
              <tr>
                <th scope="col">{t('col.time')}</th>
                <th scope="col">{t('vehicles.col.vehicle')}</th>
                <th scope="col">{t('vehicles.col.move')}</th>
                <th scope="col" class="num">
                  {t('vehicles.col.interruption')}
                </th>
                <th scope="col">{t('vehicles.col.predicted')}</th>
                <th scope="col">{t('vehicles.col.counter')}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((h) => (
                <tr key={h.id} data-handover={h.id} data-vehicle-moved={h.vehicle} data-from={h.from} data-to={h.to} data-interruption-ms={h.interruptionMs} data-predicted={h.predicted === null ? undefined : String(h.predicted)} data-counter-ok={String(h.counterOk)}>
                  <td>
                    <Ago at={iso(h.at)} />
                  </td>
                  <th scope="row">{h.vehicle}</th>
                  <td>
                    {h.from} → {h.to}
                    {h.node && !h.node.startsWith(h.to) ? ` (${h.node})` : ''}
                  </td>
                  <td class="num">{fmt(h.interruptionMs, 0)} ms</td>
                  <td class="city-nowrap">{predicted(h.predicted)}</td>
                  <td class={h.counterOk ? 'city-nowrap' : 'city-nowrap bad'}>{h.counterOk ? t('vehicles.counter.ok') : t('vehicles.counter.broken')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}
