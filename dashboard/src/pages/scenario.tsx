import { useMemo } from 'preact/hooks';
import { path, type ApiError, type Obj } from '../api.ts';
import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { useCollection, useLiveQuery, type Live } from '../live.ts';
import { Card, ErrorBox, Loading, Page } from '../components/ui.tsx';
import { useMeaningfulPaint } from '../components/paint.ts';
import type { LinkObj, NodeObj } from '../components/topo-model.ts';
import { CITY_PROJECT, ROUTES, cityRows, incidentRows, latencyRows, lightsBySite, summarizeLatency, summarizeVolume, volumeRows, type SinkPage, type SinkRow } from '../components/scenario-model.ts';
import { LatencyCard } from '../components/scenario-latency.tsx';
import { ReductionCard } from '../components/scenario-reduction.tsx';
import { UplinkCard, type SiteObj } from '../components/scenario-uplink.tsx';
import { LightsCard } from '../components/scenario-lights.tsx';
import { CityCard, IncidentsCard } from '../components/scenario-city.tsx';
import { assistRows, handoverRows, offloadStates, vehicleDots, VEHICLE_ROUTES, type NodeEvent, type OffloadNode } from '../components/scenario-vehicles-model.ts';
import { HandoversCard, VehiclesCard, type MapSite } from '../components/scenario-vehicles.tsx';
import { OffloadCard } from '../components/scenario-offload.tsx';
import '../components/scenario.css';

/** A route's status (`delivered`, written at most once a second) changes when rows land in its table. */
const TABLE_KINDS = ['routes'] as const;

interface Table {
  rows: SinkRow[] | null;
  /** 404: the route is not deployed. */
  missing: boolean;
  error: ApiError | null;
  loaded: boolean;
}

/** The newest `limit` rows of one of the city's table-sink routes, fetched again as rows land. */
function useTable(live: Live, route: string, limit: number): Table {
  const { data, error } = useLiveQuery<SinkPage>(live, `${path('routes', route, CITY_PROJECT, '/messages')}&limit=${limit}`, TABLE_KINDS);
  const missing = error?.status === 404;
  return { rows: missing ? null : (data?.items ?? null), missing, error: missing ? null : error, loaded: data !== null || error !== null };
}

/**
 * The smart-city scenario (project `city`) live: control-loop latency at the
 * edge against through the cloud, how much data stays at the edge, the edges'
 * uplink buffers, the vehicles with their hand-overs and each edge's
 * offload state (when the vehicles run), every traffic light, the cloud's city-wide view and the
 * newest incidents. Everything is read through the public API and follows
 * the watch stream; nothing polls.
 */
export function Scenario() {
  const { t } = useI18n();
  const live = useLive();
  const stats = useTable(live, ROUTES.stats, 500);
  const view = useTable(live, ROUTES.view, 50);
  const incidents = useTable(live, ROUTES.incidents, 20);
  const nodes = useCollection<NodeObj>(live, 'nodes');
  const sites = useCollection<SiteObj>(live, 'sites');
  const links = useCollection<LinkObj>(live, 'sitelinks');
  const devices = useCollection<Obj>(live, 'devices');
  const moving = useTable(live, VEHICLE_ROUTES.vehicles, 200);
  const handovers = useTable(live, VEHICLE_ROUTES.handovers, 30);
  const events = useCollection<NodeEvent>(live, 'events');

  const latency = useMemo(() => summarizeLatency(latencyRows(stats.rows ?? [])), [stats.rows]);
  const volume = useMemo(() => summarizeVolume(volumeRows(stats.rows ?? [])), [stats.rows]);
  const lights = useMemo(() => lightsBySite(devices.items), [devices.items]);
  const city = useMemo(() => cityRows(view.rows ?? []), [view.rows]);
  const recent = useMemo(() => incidentRows(incidents.rows ?? []), [incidents.rows]);
  const edgeNodes = useMemo(() => {
    const edge = new Set(sites.items.filter((s) => s.spec.tier === 'edge').map((s) => s.metadata.name));
    // The city's edges: where its lights are or its stats come from; every edge until either is known.
    const used = new Set([...lights.map((l) => l.site), ...latency.sites, ...volume.perSite.map((s) => s.site)].filter((s) => edge.has(s)));
    const mine = used.size > 0 ? used : edge;
    return nodes.items.filter((n) => mine.has(n.spec.site)).sort((a, b) => a.spec.site.localeCompare(b.spec.site) || a.metadata.name.localeCompare(b.metadata.name));
  }, [nodes.items, sites.items, lights, latency.sites, volume.perSite]);

  const dots = useMemo(() => vehicleDots(moving.rows ?? []), [moving.rows]);
  const assist = useMemo(() => assistRows(moving.rows ?? []), [moving.rows]);
  const moves = useMemo(() => handoverRows(handovers.rows ?? []), [handovers.rows]);
  const offload = useMemo(() => offloadStates(edgeNodes as OffloadNode[], new Set(edgeNodes.map((n) => n.spec.site)), events.items, CITY_PROJECT), [edgeNodes, events.items]);
  const mapSites = useMemo<MapSite[]>(
    () => (sites.items as (SiteObj & { spec: { location?: { lat: number; lon: number } } })[]).flatMap((s) => (s.spec.location ? [{ name: s.metadata.name, tier: s.spec.tier, lat: s.spec.location.lat, lon: s.spec.location.lon }] : [])),
    [sites.items],
  );

  const collections = [nodes, sites, links, devices, events];
  const ready = stats.loaded && view.loaded && incidents.loaded && moving.loaded && handovers.loaded && collections.every((c) => c.loaded || c.error);
  useMeaningfulPaint('scenario', ready);
  const errors = [stats.error, view.error, incidents.error, moving.error, handovers.error, ...collections.map((c) => c.error)].filter((e): e is ApiError => e !== null);
  if (!ready) return <Page title={t('scenario.title')}>{errors.length ? errors.map((e, i) => <ErrorBox key={i} error={e} />) : <Loading />}</Page>;

  // Missing routes are explained once, in the banner, when the whole scenario is missing.
  const notYet = (route: string, missing: boolean) => (
    <p class="muted city-empty">{missing && stats.missing ? t('scenario.notDeployed.short') : t(missing ? 'scenario.empty.route' : 'scenario.empty.rows', { route })}</p>
  );
  return (
    <Page title={t('scenario.title')}>
      {errors.map((e, i) => (
        <ErrorBox key={i} error={e} />
      ))}
      <p class="muted city-intro">{t('scenario.intro', { project: CITY_PROJECT })}</p>
      {stats.missing && (
        <Card title={t('scenario.notDeployed.title')} id="city-not-deployed">
          <p>{t('scenario.notDeployed.body', { project: CITY_PROJECT, route: ROUTES.stats })}</p>
          <p>
            {t('scenario.notDeployed.start')} <code>npm start</code> · <code>gedge up</code>
          </p>
        </Card>
      )}
      <div class="columns" data-ready="scenario">
        {latency.sites.length > 0 ? (
          <LatencyCard s={latency} />
        ) : (
          <Card title={t('scenario.latency.title')} id="city-latency">
            {notYet(ROUTES.stats, stats.missing)}
          </Card>
        )}
        {volume.perSite.length > 0 ? (
          <ReductionCard s={volume} />
        ) : (
          <Card title={t('scenario.reduction.title')} id="city-reduction">
            {notYet(ROUTES.stats, stats.missing)}
          </Card>
        )}
      </div>
      {!moving.missing && (
        <>
          <div class="columns">
            <VehiclesCard sites={mapSites} dots={dots} offload={offload} />
            <HandoversCard rows={moves} empty={t('vehicles.handovers.empty')} />
          </div>
          <OffloadCard states={offload} assist={assist} />
        </>
      )}
      <LightsCard sites={lights} />
      <UplinkCard nodes={edgeNodes} sites={sites.items} links={links.items} />
      <div class="columns">
        <CityCard rows={city} empty={notYet(ROUTES.view, view.missing)} />
        <IncidentsCard rows={recent} empty={incidents.missing ? notYet(ROUTES.incidents, true) : <p class="muted city-empty">{t('scenario.incidents.none')}</p>} />
      </div>
    </Page>
  );
}
