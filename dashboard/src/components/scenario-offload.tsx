import { useI18n } from '../i18n/index.ts';
import { Ago, Badge, Card, fmt } from './ui.tsx';
import type { AssistRow, OffloadState } from './scenario-vehicles-model.ts';

const iso = (at: number | null) => (at === null ? undefined : new Date(at).toISOString());
const ms = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${fmt(v, 0)} ms`);

/**
 * Per edge: whether the assistant answers there or overflows to the region
 * now, since when and why (the node's event), and its response times as
 * the vehicles saw them over the newest window (and the rush hour's, where
 * one runs).
 */
export function OffloadCard({ states, assist }: { states: OffloadState[]; assist: AssistRow[] }) {
  const { t } = useI18n();
  const bySite = new Map(assist.map((a) => [a.site, a]));
  return (
    <Card title={t('vehicles.offload.title')} id="city-offload">
      <p class="muted city-help">{t('vehicles.offload.help')}</p>
      {states.length === 0 ? (
        <p class="muted city-empty">{t('vehicles.offload.none')}</p>
      ) : (
        <div class="work-scroll">
          <table class="city-table" aria-label={t('vehicles.offload.title')}>
            <thead>
              <tr>
                <th scope="col">{t('col.site')}</th>
                <th scope="col">{t('vehicles.col.state')}</th>
                <th scope="col">{t('vehicles.col.since')}</th>
                <th scope="col" class="num">
                  {t('vehicles.col.p50')}
                </th>
                <th scope="col" class="num">
                  {t('vehicles.col.p99')}
                </th>
                <th scope="col" class="num">
                  {t('vehicles.col.requests')}
                </th>
                <th scope="col">{t('vehicles.col.surge')}</th>
              </tr>
            </thead>
            <tbody>
              {states.map((s) => {
                const a = bySite.get(s.site);
                return (
                  <tr key={s.node} data-offload={s.site} data-state={s.state} data-since={s.since ?? undefined}>
                    <th scope="row">{s.site}</th>
                    <td title={s.why ?? undefined}>
                      <Badge value={s.state === 'overflowing' ? 'Warning' : 'Ready'} label={t(`vehicles.offload.${s.state}`)} />
                    </td>
                    <td>{s.since === null ? '–' : <Ago at={iso(s.since)} />}</td>
                    <td class="num" data-assist={s.site} data-p50={a?.p50 ?? undefined} data-p99={a?.p99 ?? undefined} data-requests={a?.requests ?? undefined}>
                      {ms(a?.p50)}
                    </td>
                    <td class="num">{ms(a?.p99)}</td>
                    <td class="num">{a ? fmt(a.requests, 0) : '–'}</td>
                    <td>{a?.surge && a.surge.requests > 0 ? t('vehicles.surge.line', { n: a.surge.requests, up: a.surge.requests - a.surge.atEdge, p99: fmt(a.surge.p99, 0) }) : '–'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}
