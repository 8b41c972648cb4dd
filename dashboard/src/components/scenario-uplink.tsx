import type { Obj } from '../api.ts';
import { useI18n } from '../i18n/index.ts';
import { href } from '../router.ts';
import { Ago, Badge, bytes, Card, fmt } from './ui.tsx';
import { fmtMs, linkRtt, linkTone, type LinkObj, type NodeObj, type Uplink } from './topo-model.ts';

export type SiteObj = Obj<{ tier: 'cloud' | 'region' | 'edge'; parent?: string }>;

/** Messages the edge gave up on: overflow, expiry, or a route deleted meanwhile. */
export const lost = (u: Uplink) => u.droppedOverflow + u.droppedExpired + u.droppedRouteGone;

/** An edge's link toward the cloud: to a cloud-tier site if measured, else to its parent. */
export function cloudLink(site: string, sites: SiteObj[], links: LinkObj[]): LinkObj | undefined {
  const tier = new Map(sites.map((s) => [s.metadata.name, s.spec.tier]));
  const mine = links.filter((l) => l.spec.sites.includes(site));
  const other = (l: LinkObj) => (l.spec.sites[0] === site ? l.spec.sites[1] : l.spec.sites[0]);
  const parent = sites.find((s) => s.metadata.name === site)?.spec.parent;
  return mine.find((l) => tier.get(other(l)) === 'cloud') ?? mine.find((l) => other(l) === parent);
}

/**
 * Each edge node's uplink queue (what it holds while the cloud is out of
 * reach, the most it held at once and when, and what it has delivered or
 * lost), its phase, and its link to the cloud. A cut-off edge cannot report,
 * so its outage shows once it is back: the peak it buffered, then the drain.
 */
export function UplinkCard({ nodes, sites, links }: { nodes: NodeObj[]; sites: SiteObj[]; links: LinkObj[] }) {
  const { t } = useI18n();
  return (
    <Card title={t('scenario.uplink.title')} id="city-uplink">
      <p class="muted city-help">{t('scenario.uplink.help')}</p>
      {nodes.length === 0 ? (
        <p class="muted">{t('scenario.uplink.none')}</p>
      ) : (
        <div class="work-scroll">
          <table class="city-table" aria-label={t('scenario.uplink.title')}>
            <thead>
              <tr>
                <th scope="col">{t('col.node')}</th>
                <th scope="col">{t('col.site')}</th>
                <th scope="col">{t('col.phase')}</th>
                <th scope="col" class="num">
                  {t('scenario.uplink.buffered')}
                </th>
                <th scope="col" class="num">
                  {t('scenario.uplink.peak')}
                </th>
                <th scope="col" class="num">
                  {t('scenario.uplink.delivered')}
                </th>
                <th scope="col" class="num">
                  {t('scenario.uplink.lost')}
                </th>
                <th scope="col">{t('scenario.uplink.link')}</th>
              </tr>
            </thead>
            <tbody>
              {nodes.map((n) => (
                <NodeRow key={n.metadata.name} node={n} link={cloudLink(n.spec.site, sites, links)} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

function NodeRow({ node, link }: { node: NodeObj; link: LinkObj | undefined }) {
  const { t } = useI18n();
  const u = node.status?.uplink;
  const phase = node.status?.phase ?? 'Pending';
  const gone = u ? lost(u) : 0;
  return (
    <tr data-uplink={node.metadata.name} data-buffered={u?.depthMessages} data-peak={u?.peakDepthMessages} data-lost={u ? gone : undefined} data-delivered={u?.delivered} data-phase={phase}>
      <th scope="row" class="topo-nowrap">
        <a href={href('nodes', node.metadata.name)}>{node.metadata.name}</a>
      </th>
      <td class="topo-nowrap">{node.spec.site}</td>
      <td>
        <Badge value={phase} />
      </td>
      {u ? (
        <>
          <td class={`num${u.depthMessages > 0 ? ' city-buffering' : ''}`}>
            {fmt(u.depthMessages, 0)}
            <div class="muted">
              {bytes(u.depthBytes)}
              {u.depthMessages > 0 && ` · ${t('scenario.uplink.oldest', { s: fmt(u.oldestAgeMs / 1000, 0) })}`}
            </div>
            {phase !== 'Ready' && (
              <div class="muted">
                {t('scenario.uplink.asOf')} <Ago at={u.at} />
              </div>
            )}
          </td>
          <td class="num">
            {fmt(u.peakDepthMessages, 0)}
            {u.peakDepthAt > 0 && (
              <div class="muted">
                <Ago at={new Date(u.peakDepthAt).toISOString()} />
              </div>
            )}
          </td>
          <td class="num">{fmt(u.delivered, 0)}</td>
          <td class={`num${gone > 0 ? ' bad' : ''}`}>{fmt(gone, 0)}</td>
        </>
      ) : (
        <td colSpan={4} class="muted">
          {t('scenario.uplink.noQueue')}
        </td>
      )}
      <td>
        {link ? (
          <>
            {link.status ? <Badge value={link.status.state} label={t(`topology.state.${link.status.state}`)} /> : <span class="muted">{t('topology.state.declared')}</span>}{' '}
            <span class={`topo-rtt-${linkTone(link)}`}>{fmtMs(linkRtt(link))}</span>
            <div class="muted">
              {link.spec.sites.join(' ↔ ')} · <Ago at={link.status?.measuredAt} />
            </div>
          </>
        ) : (
          <span class="muted">{t('scenario.uplink.noLink')}</span>
        )}
      </td>
    </tr>
  );
}
