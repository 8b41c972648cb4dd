import { useMemo } from 'preact/hooks';
import { path, type ApiError, type Obj } from '../api.ts';
import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { useCollection, useLiveQuery } from '../live.ts';
import { Card, ErrorBox, Loading, Page } from '../components/ui.tsx';
import { useMeaningfulPaint } from '../components/paint.ts';
import type { SinkPage } from '../components/scenario-model.ts';
import { AIRPORT_PROJECT, CCTV_SERVICE, STATS_ROUTE, cctvInstances, cctvRows, summarizeTerminals, totalUplink, type CctvService } from '../components/airport-model.ts';
import { TerminalsCard } from '../components/airport-terminals.tsx';
import { BytesCard } from '../components/airport-bytes.tsx';
import { RolloutCard } from '../components/airport-rollout.tsx';
import '../components/scenario.css';
import '../components/airport.css';

/** The route's status (`delivered`) changes when rows land in its table: that, not a timer, fetches the rows again. */
const TABLE_KINDS = ['routes'] as const;

/**
 * The smart-airport scenario (project `airport`) live: per terminal, the
 * frames classified at the edge over the last 30 s (rate, local exits,
 * accuracy, latency, cloud and fallback answers); the bytes split inference
 * sends to the cloud against sending every raw frame; and the cctv Service's
 * model rollout with each new version's evaluation against the current one.
 * Everything is read through the public API and follows the watch stream.
 */
export function Airport() {
  const { t } = useI18n();
  const live = useLive();
  const stats = useLiveQuery<SinkPage>(live, `${path('routes', STATS_ROUTE, AIRPORT_PROJECT, '/messages')}&limit=500`, TABLE_KINDS);
  const services = useCollection<Obj>(live, 'services');
  const instances = useCollection<Obj>(live, 'instances');
  const nodes = useCollection<Obj<{ site: string }>>(live, 'nodes');

  const missing = stats.error?.status === 404;
  const terminals = useMemo(() => summarizeTerminals(cctvRows(missing ? [] : (stats.data?.items ?? []))), [stats.data, missing]);
  const siteOf = useMemo(() => new Map(nodes.items.map((n) => [n.metadata.name, n.spec.site])), [nodes.items]);
  const cctv = useMemo(() => cctvInstances(instances.items, siteOf), [instances.items, siteOf]);
  const total = useMemo(() => totalUplink(cctv), [cctv]);
  const svc = useMemo(
    () => (services.items.find((s) => s.metadata.project === AIRPORT_PROJECT && s.metadata.name === CCTV_SERVICE) as CctvService | undefined) ?? null,
    [services.items],
  );

  const collections = [services, instances, nodes];
  const ready = (stats.data !== null || stats.error !== null) && collections.every((c) => c.loaded || c.error);
  useMeaningfulPaint('airport', ready);
  const errors = [missing ? null : stats.error, ...collections.map((c) => c.error)].filter((e): e is ApiError => e !== null);
  if (!ready) return <Page title={t('airport.title')}>{errors.length ? errors.map((e, i) => <ErrorBox key={i} error={e} />) : <Loading />}</Page>;

  return (
    <Page title={t('airport.title')}>
      {errors.map((e, i) => (
        <ErrorBox key={i} error={e} />
      ))}
      <div data-ready="airport">
        <p class="muted city-intro">{t('airport.intro', { project: AIRPORT_PROJECT })}</p>
        {missing && (
          <Card title={t('airport.notDeployed.title')} id="airport-not-deployed">
            <p>{t('airport.notDeployed.body', { project: AIRPORT_PROJECT, route: STATS_ROUTE })}</p>
            <p>
              {t('airport.notDeployed.start')} <code>gedge up --scenario airport</code>
            </p>
          </Card>
        )}
        <TerminalsCard
          terminals={terminals}
          empty={<p class="muted city-empty">{missing ? t('airport.notDeployed.short') : t('airport.empty.rows', { route: STATS_ROUTE })}</p>}
        />
        <BytesCard instances={cctv} siteOf={siteOf} total={total} />
        <RolloutCard svc={svc} instances={cctv} siteOf={siteOf} />
      </div>
    </Page>
  );
}
