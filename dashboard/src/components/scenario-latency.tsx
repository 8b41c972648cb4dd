import { useMemo } from 'preact/hooks';
import { useI18n } from '../i18n/index.ts';
import { TimeChart, type ChartSeries } from './chart.tsx';
import { Ago, Card, fmt } from './ui.tsx';
import { fmtMs } from './topo-model.ts';
import { VIAS, WINDOW_MS, type LatencySummary, type Via, type ViaSummary } from './scenario-model.ts';

const COLOR: Record<Via, string> = { edge: '#1a7f37', cloud: '#8250df' };
const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? undefined : new Date(ms).toISOString());

/**
 * Control-loop latency (sensor reading to the light applying the command),
 * for the loop closed at the edge and the one through the cloud: the newest
 * window's numbers, how many times faster the edge is, p99 over time, per site.
 */
export function LatencyCard({ s }: { s: LatencySummary }) {
  const { t } = useI18n();
  const series = useMemo<ChartSeries[]>(
    () => VIAS.map((v) => ({ label: t(`scenario.via.${v}`), values: s.series[v], color: COLOR[v], format: (x: number) => fmtMs(x) })),
    [s, t],
  );
  return (
    <Card title={t('scenario.latency.title')} id="city-latency">
      <p class="muted city-help">{t('scenario.latency.help')}</p>
      <div class="city-stats">
        {VIAS.map((v) => (
          <ViaBlock key={v} via={v} sum={s.via[v]} />
        ))}
        <div class="city-stat city-ratio" data-latency-ratio={s.ratio ?? undefined}>
          <span class="city-stat-label">{t('scenario.latency.ratioLabel')}</span>
          <span class="city-stat-value">{s.ratio === null ? '–' : `${fmt(s.ratio, 1)}×`}</span>
          <span class="city-stat-line">{s.ratio === null ? t('scenario.latency.noRatio') : t('scenario.latency.ratio', { x: fmt(s.ratio, 1) })}</span>
        </div>
      </div>
      <Period from={s.from} to={s.to} />
      {s.series.t.length > 1 && <TimeChart label={t('scenario.latency.chart')} t={s.series.t} series={series} height={200} />}
      <SiteTable s={s} />
    </Card>
  );
}

/** The span the rows cover (first window's start to the newest window's end) and when the newest ended. */
export function Period({ from, to }: { from: number | null; to: number | null }) {
  const { t } = useI18n();
  if (from === null || to === null) return null;
  const secs = Math.round((to - from + WINDOW_MS) / 1000);
  const span = secs < 120 ? t('scenario.span.s', { n: secs }) : t('scenario.span.m', { n: Math.round(secs / 60) });
  return (
    <p class="muted city-period">
      {t('scenario.period', { span })} <Ago at={iso(to)} />
    </p>
  );
}

function ViaBlock({ via, sum }: { via: Via; sum: ViaSummary }) {
  const { t } = useI18n();
  return (
    <div class={`city-stat city-via-${via}`} data-latency={via} data-p99={sum.p99 ?? undefined} data-p50={sum.p50 ?? undefined} data-commands={sum.commands}>
      <span class="city-stat-label">{t(`scenario.latency.${via}`)}</span>
      <span class="city-stat-value">
        <abbr title={t('scenario.p99.long')}>p99</abbr> {fmtMs(sum.p99)}
      </span>
      <span class="city-stat-line">
        <abbr title={t('scenario.p50.long')}>p50</abbr> {fmtMs(sum.p50)} · {t('scenario.latency.commands', { n: fmt(sum.commands, 0) })}
      </span>
    </div>
  );
}

function SiteTable({ s }: { s: LatencySummary }) {
  const { t } = useI18n();
  if (s.sites.length === 0) return null;
  const cell = (v: Via, site: string, k: 'p50' | 'p99') => {
    const r = s.via[v].perSite.get(site);
    return <td class="num">{r ? fmtMs(r[k]) : '–'}</td>;
  };
  return (
    <div class="work-scroll">
      <table class="city-table" aria-label={t('scenario.latency.perSite')}>
        <thead>
          <tr>
            <th scope="col">{t('col.site')}</th>
            {VIAS.flatMap((v) => [
              <th key={`${v}50`} scope="col" class="num">
                {t(`scenario.via.${v}`)} p50
              </th>,
              <th key={`${v}99`} scope="col" class="num">
                {t(`scenario.via.${v}`)} p99
              </th>,
            ])}
            <th scope="col">{t('scenario.col.window')}</th>
          </tr>
        </thead>
        <tbody>
          {s.sites.map((site) => {
            const newest = Math.max(...VIAS.map((v) => s.via[v].perSite.get(site)?.windowEnd ?? 0));
            return (
              <tr key={site} data-latency-site={site}>
                <th scope="row">{site}</th>
                {cell('edge', site, 'p50')}
                {cell('edge', site, 'p99')}
                {cell('cloud', site, 'p50')}
                {cell('cloud', site, 'p99')}
                <td>
                  <Ago at={iso(newest || null)} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
