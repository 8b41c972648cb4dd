import { useI18n, type MessageKey, type Translate } from '../i18n/index.ts';
import { href } from '../router.ts';
import { Ago, Badge, fmt } from './ui.tsx';
import { routeCurves, type Point, type Rect, type Routed } from './topo-geometry.ts';
import { fmtMs, linkRtt, linkTone, type LinkObj, type LinkTone } from './topo-model.ts';

export interface PlacedLink {
  link: LinkObj;
  from: Point;
  to: Point;
  /** Sideways bend as a fraction of the length, so links stay apart from straight parent edges. */
  bend: number;
}

/** What a link's label says: its round trip, "down", or the declared plan; nothing when there is no number. */
function labelText(t: Translate, l: LinkObj): string | null {
  if (l.status?.state === 'Down') return t('topology.link.down');
  const rtt = linkRtt(l);
  if (rtt === null) return null;
  return linkTone(l) === 'planned' ? t('topology.link.planned', { rtt: fmtMs(rtt) }) : fmtMs(rtt);
}

/** Curves and label spots for the links, keeping labels off `obstacles` and each other. */
export function useRoutedLinks(links: PlacedLink[], obstacles: Rect[], minLength = 0): Routed<LinkObj>[] {
  const { t } = useI18n();
  return routeCurves(
    links.map((l) => ({ item: l.link, from: l.from, to: l.to, bend: l.bend, text: labelText(t, l.link) })),
    obstacles,
    minLength,
  );
}

/**
 * Links drawn as curves coloured by round trip: `path` draws the lines and
 * `label` their RTTs, so a caller can put site boxes between the two layers.
 * Hidden from assistive technology: the link table says the same in text.
 */
export function LinkLayer({ links, part }: { links: Routed<LinkObj>[]; part: 'path' | 'label' }) {
  return (
    <g aria-hidden="true">
      {links.map(({ item: link, d, label, text }) =>
        part === 'path' ? (
          <g key={link.metadata.name} class={`topo-link topo-link-${linkTone(link)}`}>
            <path d={d}>
              <title>
                {link.spec.sites[0]} ↔ {link.spec.sites[1]}
              </title>
            </path>
          </g>
        ) : (
          label && (
            <text key={link.metadata.name} x={label.x} y={label.y} class={`topo-link-label topo-link-${linkTone(link)}`} text-anchor="middle" dominant-baseline="middle">
              {text}
            </text>
          )
        ),
      )}
    </g>
  );
}

const LEGEND: { tone: LinkTone; key: MessageKey }[] = [
  { tone: 'ok', key: 'topology.legend.ok' },
  { tone: 'warn', key: 'topology.legend.warn' },
  { tone: 'bad', key: 'topology.legend.bad' },
  { tone: 'stale', key: 'topology.legend.stale' },
  { tone: 'planned', key: 'topology.legend.planned' },
];

/** What the line colours mean, in words; `parent` adds the diagram's parent edges. */
export function LinkLegend({ parent }: { parent?: boolean }) {
  const { t } = useI18n();
  return (
    <ul class="topo-legend" aria-label={t('topology.legend')}>
      {parent && (
        <li>
          <Swatch cls="topo-parent" />
          {t('topology.legend.parent')}
        </li>
      )}
      {LEGEND.map((l) => (
        <li key={l.tone}>
          <Swatch cls={`topo-link topo-link-${l.tone}`} />
          {t(l.key)}
        </li>
      ))}
    </ul>
  );
}

function Swatch({ cls }: { cls: string }) {
  return (
    <svg class="topo-swatch" width="28" height="10" aria-hidden="true">
      <g class={cls}>
        <path d="M2,5 L26,5" />
      </g>
    </svg>
  );
}

/** Links as a table: all of them, or those of one site (then the other end is named). */
export function LinkTable({ links, site }: { links: LinkObj[]; site?: string }) {
  const { t } = useI18n();
  const rows = (site ? links.filter((l) => l.spec.sites.includes(site)) : [...links]).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  if (rows.length === 0) return <p class="muted">{t('topology.links.none')}</p>;
  return (
    <table class="topo-links">
      <thead>
        <tr>
          <th scope="col">{t(site ? 'topology.col.peer' : 'topology.col.link')}</th>
          <th scope="col">{t('topology.col.state')}</th>
          <th scope="col" class="num">
            {t('topology.col.rtt')}
          </th>
          <th scope="col">{t('topology.col.measured')}</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((l) => {
          const [a, b] = l.spec.sites;
          const tone = linkTone(l);
          return (
            <tr key={l.metadata.name} data-link={l.metadata.name}>
              <td>
                {site ? (
                  <SiteLink name={a === site ? b : a} />
                ) : (
                  <>
                    <SiteLink name={a} /> ↔ <SiteLink name={b} />
                  </>
                )}
              </td>
              <td>{l.status ? <Badge value={l.status.state} label={t(`topology.state.${l.status.state}`)} /> : <span class="muted">{t('topology.state.declared')}</span>}</td>
              <td class="num">
                <div class={`topo-rtt-${tone}`}>{fmtMs(linkRtt(l))}</div>
                {l.status && (
                  <div class="muted">
                    <span class="sr-only">{t('topology.col.jitter')}</span> ± {fmt(l.status.jitterMs ?? 0)} ms
                  </div>
                )}
              </td>
              <td>
                <Ago at={l.status?.measuredAt} />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function SiteLink({ name }: { name: string }) {
  return (
    <a href={href('topology', name)} class="topo-nowrap">
      {name}
    </a>
  );
}
