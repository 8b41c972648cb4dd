import type { ComponentChildren } from 'preact';
import { useI18n } from '../i18n/index.ts';
import { Ago, Card, fmt } from './ui.tsx';
import type { CityRow, IncidentRow } from './scenario-model.ts';

const iso = (ms: number) => new Date(ms).toISOString();

/** The cloud's city-wide view: the newest 5 s summary per site, made by a rule in the cloud from what the edges uplink. */
export function CityCard({ rows, empty }: { rows: CityRow[]; empty: ComponentChildren }) {
  const { t } = useI18n();
  const intersections = rows.some((r) => r.intersections !== null);
  const reports = rows.some((r) => r.reports !== null);
  return (
    <Card title={t('scenario.city.title')} id="city-view">
      <p class="muted city-help">{t('scenario.city.help')}</p>
      {rows.length === 0 ? (
        empty
      ) : (
        <div class="work-scroll">
          <table class="city-table" aria-label={t('scenario.city.title')}>
            <thead>
              <tr>
                <th scope="col">{t('col.site')}</th>
                <th scope="col" class="num">
                  {t('scenario.city.vehicles')}
                </th>
                <th scope="col" class="num">
                  {t('scenario.city.queueAvg')}
                </th>
                <th scope="col" class="num">
                  {t('scenario.city.queueMax')}
                </th>
                {intersections && (
                  <th scope="col" class="num">
                    {t('scenario.city.intersections')}
                  </th>
                )}
                {reports && (
                  <th scope="col" class="num">
                    {t('scenario.city.reports')}
                  </th>
                )}
                <th scope="col">{t('scenario.col.window')}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.site} data-city-site={r.site}>
                  <th scope="row">{r.site}</th>
                  <td class="num">{fmt(r.vehicles, 0)}</td>
                  <td class="num">{fmt(r.queueAvg, 1)}</td>
                  <td class="num">{fmt(r.queueMax, 0)}</td>
                  {intersections && <td class="num">{fmt(r.intersections, 0)}</td>}
                  {reports && <td class="num">{fmt(r.reports, 0)}</td>}
                  <td>
                    <Ago at={iso(r.windowEnd)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

/** The newest incidents the edges detected (slow traffic, a full detector), newest first. */
export function IncidentsCard({ rows, empty }: { rows: IncidentRow[]; empty: ComponentChildren }) {
  const { t } = useI18n();
  return (
    <Card title={t('scenario.incidents.title')} id="city-incidents">
      {rows.length === 0 ? (
        empty
      ) : (
        <div class="work-scroll">
          <table class="city-table" aria-label={t('scenario.incidents.title')}>
            <thead>
              <tr>
                <th scope="col">{t('col.time')}</th>
                <th scope="col">{t('scenario.incidents.where')}</th>
                <th scope="col" class="num">
                  {t('scenario.incidents.speed')}
                </th>
                <th scope="col" class="num">
                  {t('scenario.incidents.occupancy')}
                </th>
                <th scope="col" class="num">
                  {t('scenario.incidents.queue')}
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id} data-incident={`${r.site}/${r.intersection}/${r.approach}`}>
                  <td>
                    <Ago at={iso(r.windowEnd)} />
                  </td>
                  <td>
                    {r.site}/{r.intersection} · {t(APPROACH[r.approach] ?? 'scenario.approach.other', { a: r.approach })}
                  </td>
                  <td class="num">{fmt(r.speedKmh, 0)} km/h</td>
                  <td class="num">{fmt(100 * r.occupancy, 0)}%</td>
                  <td class="num">{fmt(r.queue, 0)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

const APPROACH: Record<string, 'scenario.approach.n' | 'scenario.approach.e' | 'scenario.approach.s' | 'scenario.approach.w'> = {
  n: 'scenario.approach.n',
  e: 'scenario.approach.e',
  s: 'scenario.approach.s',
  w: 'scenario.approach.w',
};
