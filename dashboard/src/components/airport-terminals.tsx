import type { ComponentChildren } from 'preact';
import { useI18n } from '../i18n/index.ts';
import { Ago, Card, fmt } from './ui.tsx';
import { fmtMs } from './topo-model.ts';
import { percent2, WINDOW_MS, type TerminalSummary } from './airport-model.ts';

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Each terminal over its newest six 5 s windows (the last 30 s): frames a
 * second, the share answered by the exit at the edge, accuracy against the
 * frames' known labels, inference latency, and the frames the cloud answered
 * or that fell back to the exit because the cloud was out of reach.
 */
export function TerminalsCard({ terminals, empty }: { terminals: TerminalSummary[]; empty: ComponentChildren }) {
  const { t } = useI18n();
  return (
    <Card title={t('airport.terminals.title')} id="airport-terminals">
      <p class="muted city-help">{t('airport.terminals.help')}</p>
      {terminals.length === 0 ? (
        empty
      ) : (
        <div class="work-scroll">
          <table class="city-table" aria-label={t('airport.terminals.table')}>
            <thead>
              <tr>
                <th scope="col">{t('airport.col.terminal')}</th>
                <th scope="col" class="num">
                  {t('airport.col.fps')}
                </th>
                <th scope="col" class="num">
                  <abbr title={t('airport.local.long')}>{t('airport.col.local')}</abbr>
                </th>
                <th scope="col" class="num">
                  {t('airport.col.accuracy')}
                </th>
                <th scope="col" class="num">
                  <abbr title={t('scenario.p50.long')}>p50</abbr>
                </th>
                <th scope="col" class="num">
                  <abbr title={t('scenario.p99.long')}>p99</abbr>
                </th>
                <th scope="col" class="num">
                  {t('airport.col.cloud')}
                </th>
                <th scope="col" class="num">
                  <abbr title={t('airport.fallback.long')}>{t('airport.col.fallback')}</abbr>
                </th>
                <th scope="col">{t('airport.col.window')}</th>
              </tr>
            </thead>
            <tbody>
              {terminals.map((s) => (
                <Row key={s.site} s={s} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

function Row({ s }: { s: TerminalSummary }) {
  const { t } = useI18n();
  return (
    <tr
      data-terminal={s.site}
      data-windows={s.windows}
      data-frames={s.frames}
      data-fps={s.fps}
      data-local-share={s.localShare ?? undefined}
      data-accuracy={s.accuracy ?? undefined}
      data-p50={s.p50 ?? undefined}
      data-p99={s.p99 ?? undefined}
      data-cloud={s.cloud}
      data-fallback={s.fallback}
    >
      <th scope="row">{s.site}</th>
      <td class="num" title={t('airport.terminals.frames', { n: s.frames, s: (s.windows * WINDOW_MS) / 1000 })}>
        {fmt(s.fps, 1)}
      </td>
      <td class="num">{percent2(s.localShare)}</td>
      <td class="num">{percent2(s.accuracy)}</td>
      <td class="num">{fmtMs(s.p50)}</td>
      <td class="num">{fmtMs(s.p99)}</td>
      <td class="num">{fmt(s.cloud, 0)}</td>
      <td class={s.fallback > 0 ? 'num city-buffering' : 'num'}>{fmt(s.fallback, 0)}</td>
      <td>
        <Ago at={iso(s.to)} />
      </td>
    </tr>
  );
}
