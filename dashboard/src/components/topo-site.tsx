import { useMemo } from 'preact/hooks';
import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { useCollection } from '../live.ts';
import { href } from '../router.ts';
import { Ago, Badge, Card, ErrorBox, FilterBox, fmt, Loading, ShowMore, useFiltered } from './ui.tsx';
import { LinkTable } from './topo-links.tsx';
import type { LinkObj, NodeObj, SiteSummary } from './topo-model.ts';

/** The selected site: where it sits, its nodes and instances, and its links. */
export function SiteDetail({ name, site, links }: { name: string; site: SiteSummary | undefined; links: LinkObj[] }) {
  const { t } = useI18n();
  if (!site) {
    return (
      <Card title={name}>
        <p role="status">{t('notFound', { name })}</p>
        <a href={href('topology')}>{t('topology.detail.close')}</a>
      </Card>
    );
  }
  return (
    <Card title={t('topology.detail.title', { name })} id="site-detail">
      <p class="topo-close">
        <a href={href('topology')}>{t('topology.detail.close')}</a>
      </p>
      <dl class="props">
        <dt>{t('col.tier')}</dt>
        <dd>{t(`tier.${site.tier}`)}</dd>
        <dt>{t('topology.detail.parent')}</dt>
        <dd>{site.parent ? <a href={href('topology', site.parent)}>{site.parent}</a> : <span class="muted">{t('topology.detail.noParent')}</span>}</dd>
        <dt>{t('topology.detail.location')}</dt>
        <dd>{site.location ? `${fmt(site.location.lat, 4)}, ${fmt(site.location.lon, 4)}` : <span class="muted">{t('topology.detail.noLocation')}</span>}</dd>
        <dt>{t('topology.detail.nodes')}</dt>
        <dd class={site.nodes.ready < site.nodes.total ? 'bad' : ''}>{t('topology.detail.nodesValue', { ready: site.nodes.ready, total: site.nodes.total })}</dd>
        <dt>{t('topology.detail.instances')}</dt>
        <dd>{t('topology.detail.instancesValue', { running: site.instances.running, total: site.instances.total })}</dd>
      </dl>
      <h3 class="topo-sub">{t('topology.detail.nodeList')}</h3>
      <SiteNodes site={site.name} />
      <h3 class="topo-sub">{t('topology.links.title')}</h3>
      <LinkTable links={links} site={site.name} />
    </Card>
  );
}

/** Mounted only while a site is selected: the topology page itself never lists every node. */
function SiteNodes({ site }: { site: string }) {
  const { t } = useI18n();
  const live = useLive();
  const nodes = useCollection<NodeObj>(live, 'nodes');
  const mine = useMemo(() => nodes.items.filter((n) => n.spec.site === site).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1)), [nodes.items, site]);
  const list = useFiltered(mine, (n) => n.metadata.name, 50);
  if (nodes.error) return <ErrorBox error={nodes.error} />;
  if (!nodes.loaded) return <Loading />;
  if (mine.length === 0) return <p class="muted">{t('topology.detail.noNodes')}</p>;
  return (
    <>
      {mine.length > 10 && <FilterBox id="site-node-filter" value={list.filter} onInput={list.setFilter} />}
      <table>
        <thead>
          <tr>
            <th scope="col">{t('col.name')}</th>
            <th scope="col">{t('col.phase')}</th>
            <th scope="col" class="num">
              {t('nodes.col.cpu')}
            </th>
            <th scope="col">{t('nodes.col.heartbeat')}</th>
          </tr>
        </thead>
        <tbody>
          {list.shown.map((n) => (
            <tr key={n.metadata.name} data-node={n.metadata.name}>
              <td>
                <a href={href('nodes', n.metadata.name)} class="topo-nowrap">
                  {n.metadata.name}
                </a>
              </td>
              <td>
                <Badge value={n.status?.phase ?? 'Pending'} />
              </td>
              <td class="num">{fmt(n.status?.usage?.cpu, 2)}</td>
              <td>
                <Ago at={n.status?.lastHeartbeatAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <ShowMore shown={list.shown.length} total={list.total} more={list.more} />
    </>
  );
}
