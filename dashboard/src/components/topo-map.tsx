import { useMemo } from 'preact/hooks';
import { useI18n } from '../i18n/index.ts';
import { href } from '../router.ts';
import { around, LABEL_H, placeNames, type Point, type Rect } from './topo-geometry.ts';
import { LinkLayer, useRoutedLinks, type PlacedLink } from './topo-links.tsx';
import { short, siteTone, type LinkObj, type SiteSummary } from './topo-model.ts';

const W = 800;
const H = 440;
const PAD = 48;
/** Sites a few hundred metres apart still get a readable map. */
const MIN_SPAN = 0.02;
/** Area grows with the node count, relative to the biggest site, so a big fleet does not swallow the map. */
const radiusOf = (s: SiteSummary, most: number) => 4 + 9 * Math.sqrt(s.nodes.total / most);
const STEPS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 45];

interface Projection {
  at: (lat: number, lon: number) => Point;
  lat: number[];
  lon: number[];
  decimals: number;
}

/**
 * Equirectangular with the mean latitude as standard parallel (x = lon·cos φ0,
 * y = lat), fitted to the sites' bounding box with margins; grid lines at a
 * round degree step that gives a handful of lines.
 */
function project(points: { lat: number; lon: number }[]): Projection {
  const lat0 = points.reduce((s, p) => s + p.lat, 0) / points.length;
  const k = Math.max(0.05, Math.cos((lat0 * Math.PI) / 180));
  const xs = points.map((p) => p.lon * k);
  const ys = points.map((p) => p.lat);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const spanX = Math.max(x1 - x0, MIN_SPAN) * 1.3;
  const spanY = Math.max(y1 - y0, MIN_SPAN) * 1.3;
  const scale = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY);
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  const at = (lat: number, lon: number) => ({ x: W / 2 + (lon * k - cx) * scale, y: H / 2 - (lat - cy) * scale });
  const halfLat = H / 2 / scale;
  const halfLon = W / 2 / scale / k;
  const step = STEPS.find((s) => (2 * Math.max(halfLat, halfLon)) / s <= 8) ?? 60;
  const lines = (from: number, to: number, lo: number, hi: number) => {
    const out: number[] = [];
    for (let v = Math.ceil(Math.max(from, lo) / step) * step; v <= Math.min(to, hi); v += step) out.push(Number(v.toFixed(6)));
    return out;
  };
  return {
    at,
    lat: lines(cy - halfLat, cy + halfLat, -90, 90),
    lon: lines(cx / k - halfLon, cx / k + halfLon, -180, 180),
    decimals: Math.max(0, Math.ceil(-Math.log10(step))),
  };
}

/** Sites on a plain degree grid (no map tiles: the center may have no internet). */
export function GeoMap({ sites, links, selected }: { sites: SiteSummary[]; links: LinkObj[]; selected?: string }) {
  const { t } = useI18n();
  const located = useMemo(() => sites.filter((s) => s.location), [sites]);
  const proj = useMemo(() => (located.length ? project(located.map((s) => s.location!)) : null), [located]);
  const pos = useMemo(() => new Map(located.map((s) => [s.name, proj!.at(s.location!.lat, s.location!.lon)])), [located, proj]);
  const placed = links.flatMap((link): PlacedLink[] => {
    const from = pos.get(link.spec.sites[0]);
    const to = pos.get(link.spec.sites[1]);
    return from && to ? [{ link, from, to, bend: 0.12 }] : [];
  });
  const radius = useMemo(() => {
    const most = Math.max(1, ...located.map((s) => s.nodes.total));
    return new Map(located.map((s) => [s.name, radiusOf(s, most)]));
  }, [located]);
  const markers = useMemo(() => located.map((s) => around(pos.get(s.name)!, 2 * radius.get(s.name)!, 2 * radius.get(s.name)!)), [located, pos, radius]);
  const labels = useMemo(
    () => placeNames(located.map((s) => ({ item: s.name, at: pos.get(s.name)!, radius: radius.get(s.name)!, text: short(s.name, 22) })), markers),
    [located, pos, radius, markers],
  );
  const obstacles = useMemo(() => [...markers, ...labels.values()], [markers, labels]);
  // Links between sites a few pixels apart get no label: it would cover the sites.
  const routed = useRoutedLinks(placed, obstacles, 60);
  const unplaced = sites.filter((s) => !s.location);
  return (
    <div class="topo-map-wrap">
      <div class="topo-map-main">
        {proj ? (
          <svg class="topo-svg topo-map" viewBox={`0 0 ${W} ${H}`} role="group" aria-label={t('topology.map.label')}>
            <Grid proj={proj} />
            <LinkLayer links={routed} part="path" />
            {/* Big sites first, so a small one next to them stays clickable on top. */}
            {[...located]
              .sort((a, b) => b.nodes.total - a.nodes.total)
              .map((s) => (
                <Marker key={s.name} site={s} at={pos.get(s.name)!} radius={radius.get(s.name)!} nameBox={labels.get(s.name)!} selected={s.name === selected} />
              ))}
            <LinkLayer links={routed} part="label" />
          </svg>
        ) : (
          <p class="muted">{t('topology.map.none')}</p>
        )}
        <MarkerLegend />
      </div>
      {unplaced.length > 0 && (
        <div class="topo-unplaced">
          <h3>{t('topology.map.noLocation')}</h3>
          <ul>
            {unplaced.map((s) => (
              <li key={s.name}>
                <a href={href('topology', s.name)}>{s.name}</a> <span class="muted">{t(`tier.${s.tier}`)}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

function MarkerLegend() {
  const { t } = useI18n();
  const items = [
    ['ok', t('topology.legend.healthy')],
    ['bad', t('topology.legend.unhealthy')],
    ['idle', t('topology.legend.empty')],
  ] as const;
  return (
    <ul class="topo-legend" aria-label={t('topology.legend')}>
      {items.map(([tone, text]) => (
        <li key={tone}>
          <svg class="topo-swatch" width="14" height="14" aria-hidden="true">
            <g class={`topo-marker topo-health-${tone}`}>
              <circle cx="7" cy="7" r="5" />
            </g>
          </svg>
          {text}
        </li>
      ))}
      <li>{t('topology.legend.size')}</li>
    </ul>
  );
}

function Grid({ proj }: { proj: Projection }) {
  const { t } = useI18n();
  const deg = (v: number) => Math.abs(v).toFixed(proj.decimals);
  return (
    <g class="topo-grid" aria-hidden="true">
      {proj.lat.map((lat) => {
        const y = proj.at(lat, 0).y;
        return (
          <g key={`lat${lat}`}>
            <path d={`M0,${y} L${W},${y}`} />
            <text x={4} y={y - 4}>
              {t(lat >= 0 ? 'topology.map.north' : 'topology.map.south', { v: deg(lat) })}
            </text>
          </g>
        );
      })}
      {proj.lon.map((lon) => {
        const x = proj.at(0, lon).x;
        return (
          <g key={`lon${lon}`}>
            <path d={`M${x},0 L${x},${H}`} />
            <text x={x + 4} y={H - 6}>
              {t(lon >= 0 ? 'topology.map.east' : 'topology.map.west', { v: deg(lon) })}
            </text>
          </g>
        );
      })}
    </g>
  );
}

function Marker({ site, at, radius, nameBox, selected }: { site: SiteSummary; at: Point; radius: number; nameBox: Rect; selected: boolean }) {
  const { t } = useI18n();
  const nameY = (nameBox.y0 + nameBox.y1) / 2;
  const label = t('topology.site.aria', { name: site.name, tier: t(`tier.${site.tier}`), ready: site.nodes.ready, total: site.nodes.total });
  return (
    <a href={href('topology', site.name)} aria-label={label} aria-current={selected ? 'true' : undefined} class={`topo-marker topo-health-${siteTone(site)}${selected ? ' topo-selected' : ''}`} data-site={site.name}>
      <title>{label}</title>
      <circle cx={at.x} cy={at.y} r={radius} />
      {/* A name moved away to make room is tied back to its marker. */}
      {Math.abs(nameY - at.y) > LABEL_H && <path class="topo-leader" d={`M${at.x},${at.y} L${nameBox.x1 < at.x ? nameBox.x1 + 2 : nameBox.x0 - 2},${nameY}`} />}
      <text x={nameBox.x0} y={nameY} dominant-baseline="middle" class="topo-marker-name">
        {short(site.name, 22)}
      </text>
    </a>
  );
}
