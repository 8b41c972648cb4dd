import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { useCollection, useLiveQuery } from '../live.ts';
import { Card, ErrorBox, Loading, Page } from '../components/ui.tsx';
import { useMeaningfulPaint } from '../components/paint.ts';
import { TierDiagram } from '../components/topo-diagram.tsx';
import { GeoMap } from '../components/topo-map.tsx';
import { LinkLegend, LinkTable } from '../components/topo-links.tsx';
import { SiteDetail } from '../components/topo-site.tsx';
import type { LinkObj } from '../components/topo-model.ts';
import type { OverviewData } from './overview.tsx';

/** The overview's per-site counts follow sites, their nodes and instances; nothing else moves this page. */
const TOPOLOGY_KINDS = ['sites', 'nodes', 'instances'] as const;

/**
 * Sites by tier and on a map, with the measured links between them. The main
 * view reads only the overview's per-site summary and the links, so it stays
 * fast however many nodes and instances there are; a selected site's panel
 * lists its nodes.
 */
export function Topology({ site }: { site?: string }) {
  const { t } = useI18n();
  const live = useLive();
  const { data, error } = useLiveQuery<OverviewData>(live, '/api/v1/overview', TOPOLOGY_KINDS);
  const links = useCollection<LinkObj>(live, 'sitelinks');
  const ready = data !== null && (links.loaded || links.error !== null);
  useMeaningfulPaint('topology', ready);
  if (!data) return <Page title={t('topology.title')}>{error ? <ErrorBox error={error} /> : <Loading />}</Page>;
  const linkItems = links.items;
  return (
    <Page title={t('topology.title')}>
      {error && <ErrorBox error={error} />}
      {links.error && <ErrorBox error={links.error} />}
      <div class="topo-layout" data-ready={ready ? 'topology' : undefined}>
        <div class="topo-main">
          <Card title={t('topology.diagram')}>
            <TierDiagram sites={data.sites} links={linkItems} selected={site} />
            <LinkLegend parent />
          </Card>
          <Card title={t('topology.map')}>
            <GeoMap sites={data.sites} links={linkItems} selected={site} />
          </Card>
        </div>
        <div class="topo-aside">
          {site ? (
            <SiteDetail key={site} name={site} site={data.sites.find((s) => s.name === site)} links={linkItems} />
          ) : (
            <Card title={t('topology.links.title')}>
              <p class="muted">{t('topology.detail.hint')}</p>
              <LinkTable links={linkItems} />
            </Card>
          )}
        </div>
      </div>
    </Page>
  );
}
