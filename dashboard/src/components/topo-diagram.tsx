import { useMemo } from 'preact/hooks';
import { useI18n } from '../i18n/index.ts';
import { href } from '../router.ts';
import { around, type Point } from './topo-geometry.ts';
import { LinkLayer, useRoutedLinks, type PlacedLink } from './topo-links.tsx';
import { short, siteTone, TIERS, type LinkObj, type SiteSummary } from './topo-model.ts';

const BOX_W = 136;
const BOX_H = 48;
const GAP = 22;
const LINE_GAP = 26;
const BAND_GAP = 48;
const BAND_PAD = 18;
const LEFT = 96;

interface Box extends Point {
  site: SiteSummary;
  /** Index of the site's tier (0 cloud, 1 region, 2 edge). */
  tier: number;
}

interface Band {
  y: number;
  height: number;
}

/** Boxes per line: one line for a handful of sites, a near-square block for hundreds. */
const columns = (n: number) => (n <= 36 ? Math.max(1, Math.min(n, 6)) : Math.ceil(Math.sqrt(n)));

/**
 * Sites in three bands (cloud, region, edge); a band with many sites wraps
 * into several lines. A band is ordered by where its parents sit, so parent
 * edges cross as little as a simple rule allows.
 */
function layout(sites: SiteSummary[]): { width: number; height: number; bands: Band[]; boxes: Map<string, Box> } {
  const rows = TIERS.map((tier) => sites.filter((s) => s.tier === tier));
  const width = Math.max(760, LEFT + Math.max(...rows.map((r) => columns(r.length))) * (BOX_W + GAP) + GAP);
  const boxes = new Map<string, Box>();
  const bands: Band[] = [];
  let y = 16;
  rows.forEach((row, tier) => {
    const parentX = (s: SiteSummary) => (s.parent ? (boxes.get(s.parent)?.x ?? Infinity) : -Infinity);
    row.sort((a, b) => parentX(a) - parentX(b) || (a.name < b.name ? -1 : 1));
    const cols = columns(row.length);
    const lines = Math.max(1, Math.ceil(row.length / cols));
    row.forEach((site, j) => {
      const line = Math.floor(j / cols);
      const inLine = Math.min(cols, row.length - line * cols);
      const slot = (width - LEFT) / inLine;
      boxes.set(site.name, { site, tier, x: LEFT + slot * ((j % cols) + 0.5), y: y + BAND_PAD + line * (BOX_H + LINE_GAP) + BOX_H / 2 });
    });
    const height = 2 * BAND_PAD + lines * BOX_H + (lines - 1) * LINE_GAP;
    bands.push({ y, height });
    y += height + BAND_GAP;
  });
  return { width, height: y - BAND_GAP + 16, bands, boxes };
}

/** The tier diagram: rows of site boxes, parent edges, and measured links coloured by round trip. */
export function TierDiagram({ sites, links, selected }: { sites: SiteSummary[]; links: LinkObj[]; selected?: string }) {
  const { t } = useI18n();
  const { width, height, bands, boxes } = useMemo(() => layout(sites), [sites]);
  const routed = useRoutedLinks(
    placeLinks(links, boxes, width),
    [...boxes.values()].map((b) => around(b, BOX_W, BOX_H)),
  );
  return (
    <div class="topo-scroll">
      <svg class="topo-svg topo-diagram" viewBox={`0 0 ${width} ${height}`} style={{ minWidth: `${Math.round(width * 0.7)}px` }} role="group" aria-label={t('topology.diagram.label')}>
        {TIERS.map((tier, i) => (
          <g key={tier} class="topo-row">
            <rect x={4} y={bands[i]!.y} width={width - 8} height={bands[i]!.height} rx={8} />
            <text x={14} y={bands[i]!.y + bands[i]!.height / 2} dominant-baseline="middle" class="topo-tier">
              {t(`tier.${tier}`)}
            </text>
          </g>
        ))}
        <g aria-hidden="true">
          {sites.map((s) => {
            const child = boxes.get(s.name);
            const parent = s.parent ? boxes.get(s.parent) : undefined;
            if (!child || !parent) return null;
            const down = parent.y < child.y;
            return <path key={s.name} class="topo-parent" d={`M${parent.x},${parent.y + (down ? BOX_H / 2 : -BOX_H / 2)} L${child.x},${child.y + (down ? -BOX_H / 2 : BOX_H / 2)}`} />;
          })}
        </g>
        <LinkLayer links={routed} part="path" />
        {[...boxes.values()].map((b) => (
          <SiteBox key={b.site.name} box={b} selected={b.site.name === selected} />
        ))}
        <LinkLayer links={routed} part="label" />
      </svg>
    </div>
  );
}

function placeLinks(links: LinkObj[], boxes: Map<string, Box>, width: number): PlacedLink[] {
  const centre = (LEFT + width) / 2;
  const out: PlacedLink[] = [];
  for (const link of links) {
    const a = boxes.get(link.spec.sites[0]);
    const b = boxes.get(link.spec.sites[1]);
    if (!a || !b) continue;
    const [from, to] = a.x <= b.x ? [a, b] : [b, a];
    // Within a line: arc high enough to clear the boxes (a curve's middle
    // rises half as far as its control point). Across lines: bow outwards,
    // away from the middle where the bands between keep their boxes.
    const outwards = (from.x + to.x) / 2 < centre ? -1 : 1;
    const bend = from.y === to.y ? -Math.max(0.2, (BOX_H + 28) / (to.x - from.x)) : -outwards * Math.sign(to.y - from.y) * (Math.abs(from.tier - to.tier) > 1 ? 0.3 : 0.15);
    out.push({ link, from, to, bend });
  }
  return out;
}

function SiteBox({ box, selected }: { box: Box; selected: boolean }) {
  const { t } = useI18n();
  const s = box.site;
  const label = t('topology.site.aria', { name: s.name, tier: t(`tier.${s.tier}`), ready: s.nodes.ready, total: s.nodes.total });
  return (
    <a href={href('topology', s.name)} aria-label={label} aria-current={selected ? 'true' : undefined} class={`topo-site topo-health-${siteTone(s)}${selected ? ' topo-selected' : ''}`} data-site={s.name}>
      <title>{label}</title>
      <rect x={box.x - BOX_W / 2} y={box.y - BOX_H / 2} width={BOX_W} height={BOX_H} rx={6} />
      <text x={box.x} y={box.y - 7} text-anchor="middle" class="topo-site-name">
        {short(s.name, 17)}
      </text>
      <text x={box.x} y={box.y + 13} text-anchor="middle" class="topo-site-count">
        {t('topology.site.nodes', { ready: s.nodes.ready, total: s.nodes.total })}
      </text>
    </a>
  );
}
