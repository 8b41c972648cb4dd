import { useI18n } from '../i18n/index.ts';
import { bytes, Card, fmt } from './ui.tsx';
import { Period } from './scenario-latency.tsx';
import type { VolumeSum, VolumeSummary } from './scenario-model.ts';

const ratioText = (r: number | null) => (r === null ? '–' : `${fmt(r, r < 10 ? 1 : 0)}×`);

/**
 * What stays at the edge against what goes up: the raw sensor stream on the
 * edge brokers ("traffic") and the aggregates uplinked to the cloud ("flows"),
 * summed over the windows read, per site and in total.
 */
export function ReductionCard({ s }: { s: VolumeSummary }) {
  const { t } = useI18n();
  const { total } = s;
  return (
    <Card title={t('scenario.reduction.title')} id="city-reduction">
      <p class="muted city-help">{t('scenario.reduction.help')}</p>
      <div class="city-stats" data-reduction="total" data-ratio={total.ratio ?? undefined} data-raw-bytes={total.rawBytes} data-uplink-bytes={total.upBytes}>
        <div class="city-stat">
          <span class="city-stat-label">{t('scenario.reduction.raw')}</span>
          <span class="city-stat-value">{bytes(total.rawBytes)}</span>
          <span class="city-stat-line">{t('scenario.reduction.messages', { n: fmt(total.rawMessages, 0) })}</span>
        </div>
        <div class="city-stat">
          <span class="city-stat-label">{t('scenario.reduction.up')}</span>
          <span class="city-stat-value">{bytes(total.upBytes)}</span>
          <span class="city-stat-line">{t('scenario.reduction.messages', { n: fmt(total.upMessages, 0) })}</span>
        </div>
        <div class="city-stat city-ratio">
          <span class="city-stat-label">{t('scenario.reduction.ratioLabel')}</span>
          <span class="city-stat-value">{ratioText(total.ratio)}</span>
          <span class="city-stat-line">{total.ratio === null ? t('scenario.reduction.noRatio') : t('scenario.reduction.ratio', { pct: fmt(100 * (1 - 1 / total.ratio), 1) })}</span>
        </div>
      </div>
      <Period from={s.from} to={s.to} />
      <div class="work-scroll">
        <table class="city-table" aria-label={t('scenario.reduction.perSite')}>
          <thead>
            <tr>
              <th scope="col">{t('col.site')}</th>
              <th scope="col" class="num">
                {t('scenario.reduction.raw')}
              </th>
              <th scope="col" class="num">
                {t('scenario.reduction.up')}
              </th>
              <th scope="col" class="num">
                {t('scenario.reduction.ratioLabel')}
              </th>
            </tr>
          </thead>
          <tbody>
            {s.perSite.map(({ site, sum }) => (
              <Row key={site} label={site} sum={sum} />
            ))}
          </tbody>
          {s.perSite.length > 1 && (
            <tfoot>
              <Row label={t('scenario.total')} sum={total} />
            </tfoot>
          )}
        </table>
      </div>
    </Card>
  );
}

function Row({ label, sum }: { label: string; sum: VolumeSum }) {
  return (
    <tr data-reduction-site={label}>
      <th scope="row">{label}</th>
      <td class="num">{bytes(sum.rawBytes)}</td>
      <td class="num">{bytes(sum.upBytes)}</td>
      <td class="num">{ratioText(sum.ratio)}</td>
    </tr>
  );
}
