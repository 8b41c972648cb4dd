import type { Overview } from '../../../core/overview.ts';
import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { useLiveQuery } from '../live.ts';
import { href } from '../router.ts';
import { Ago, Badge, Card, ErrorBox, Loading, Page } from '../components/ui.tsx';
import { useMeaningfulPaint } from '../components/paint.ts';

/** GET /api/v1/overview: one shape with the center's (core/overview.ts). */
export type OverviewData = Overview;

export const OVERVIEW_KINDS = ['sites', 'nodes', 'services', 'instances', 'devices', 'rules', 'events'] as const;

export function Overview() {
  const { t } = useI18n();
  const live = useLive();
  const { data, error } = useLiveQuery<OverviewData>(live, '/api/v1/overview', OVERVIEW_KINDS);
  useMeaningfulPaint('overview', data !== null);
  if (!data) return <Page title={t('overview.title')}>{error ? <ErrorBox error={error} /> : <Loading />}</Page>;
  const c = data.counts;
  const healthy = c.nodes.NotReady === 0 && c.instances.Failed === 0 && c.rules.failing === 0;
  return (
    <Page title={t('overview.title')} actions={<Badge value={healthy ? 'Ready' : 'Warning'} label={t(healthy ? 'overview.health.ok' : 'overview.health.warn')} />}>
      {error && <ErrorBox error={error} />}
      <div class="tiles" data-ready="overview">
        <Tile label={t('overview.sites')} total={c.sites.total} link={href('topology')} lines={[t('overview.tiers', c.sites)]} />
        <Tile
          label={t('overview.nodes')}
          total={c.nodes.total}
          link={href('nodes')}
          lines={[t('overview.ready', { n: c.nodes.Ready }), c.nodes.NotReady ? t('overview.notReady', { n: c.nodes.NotReady }) : '', c.nodes.Pending ? t('overview.pending', { n: c.nodes.Pending }) : '', c.nodes.cordoned ? t('overview.cordoned', { n: c.nodes.cordoned }) : '']}
          bad={c.nodes.NotReady > 0}
          testId="nodes"
        />
        <Tile label={t('overview.services')} total={c.services.total} link={href('services')} lines={[t('overview.available', { n: c.services.available }), c.services.rollingOut ? t('overview.rollingOut', { n: c.services.rollingOut }) : '']} />
        <Tile
          label={t('overview.instances')}
          total={c.instances.total}
          link={href('services')}
          lines={[t('overview.running', { n: c.instances.Running }), c.instances.Pending + c.instances.Starting ? t('overview.pending', { n: c.instances.Pending + c.instances.Starting }) : '', c.instances.Failed ? t('overview.failed', { n: c.instances.Failed }) : '', c.instances.restarts ? t('overview.restarts', { n: c.instances.restarts }) : '']}
          bad={c.instances.Failed > 0}
        />
        <Tile label={t('overview.devices')} total={c.devices.total} link={href('devices')} lines={[t('overview.connected', { n: c.devices.connected })]} />
        <Tile label={t('overview.rules')} total={c.rules.total} link={href('rules')} lines={[c.rules.paused ? t('overview.paused', { n: c.rules.paused }) : '', c.rules.failing ? t('overview.failing', { n: c.rules.failing }) : '']} bad={c.rules.failing > 0} />
      </div>
      <div class="columns">
        <Card title={t('overview.perSite')}>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('col.site')}</th>
                <th scope="col">{t('col.tier')}</th>
                <th scope="col">{t('overview.nodes')}</th>
                <th scope="col">{t('overview.instances')}</th>
              </tr>
            </thead>
            <tbody>
              {data.sites.map((s) => (
                <tr key={s.name}>
                  <td>
                    <a href={href('topology', s.name)}>{s.name}</a>
                  </td>
                  <td>{t(`tier.${s.tier}`)}</td>
                  <td class={s.nodes.ready < s.nodes.total ? 'bad' : ''}>
                    {s.nodes.ready}/{s.nodes.total}
                  </td>
                  <td>
                    {s.instances.running}/{s.instances.total}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
        <Card title={t('overview.warnings')}>
          {data.warnings.length === 0 ? (
            <p class="muted">{t('overview.noWarnings')}</p>
          ) : (
            <ul class="events">
              {data.warnings.map((w) => (
                <li key={w.name}>
                  <Badge value="Warning" label={w.reason} /> <span class="object">{w.involved.kind}/{w.involved.name}</span> <Ago at={w.at} />
                  <div class="message">{w.message}</div>
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
    </Page>
  );
}

function Tile({ label, total, lines, link, bad, testId }: { label: string; total: number; lines: string[]; link: string; bad?: boolean; testId?: string }) {
  return (
    <a class={`tile${bad ? ' tile-bad' : ''}`} href={link} data-tile={testId}>
      <span class="tile-label">{label}</span>
      <span class="tile-total">{total.toLocaleString()}</span>
      {lines
        .filter(Boolean)
        .map((l) => (
          <span class="tile-line" key={l}>
            {l}
          </span>
        ))}
    </a>
  );
}
