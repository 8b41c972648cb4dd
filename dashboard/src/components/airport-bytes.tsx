import { useI18n } from '../i18n/index.ts';
import { href } from '../router.ts';
import { bytes, Card, fmt } from './ui.tsx';
import { AIRPORT_PROJECT, RAW_FRAME_BYTES, uplinkOf, type CctvInstance, type Uplink } from './airport-model.ts';

/** A saving as a factor; infinite and unknown ones in words. */
function Saving({ u }: { u: Uplink }) {
  const { t } = useI18n();
  if (u.saving === null) return <span class="muted">{t('airport.saving.noFrames')}</span>;
  if (u.saving === Infinity) return <span title={t('airport.saving.nothingSent')}>∞ ({t('airport.saving.nothingSent')})</span>;
  return <>{`${fmt(u.saving, u.saving < 10 ? 1 : 0)}×`}</>;
}

const perFrame = (n: number | null) => (n === null ? '–' : `${fmt(n, n < 10 ? 2 : 1)} B`);

/**
 * What split inference sends up, per cctv instance (one a terminal): the
 * frames it classified, how many it offloaded, the cut bytes it sent, and
 * that against sending every raw frame (784 bytes). Counters run since the
 * instance's agent started (status.inference.split).
 */
export function BytesCard({ instances, siteOf, total }: { instances: CctvInstance[]; siteOf: Map<string, string>; total: Uplink | null }) {
  const { t } = useI18n();
  return (
    <Card title={t('airport.bytes.title')} id="airport-bytes">
      <p class="muted city-help">{t('airport.bytes.help', { raw: RAW_FRAME_BYTES })}</p>
      {instances.length === 0 ? (
        <p class="muted city-empty">{t('airport.bytes.none')}</p>
      ) : (
        <div class="work-scroll">
          <table class="city-table" aria-label={t('airport.bytes.table')}>
            <thead>
              <tr>
                <th scope="col">{t('airport.col.instance')}</th>
                <th scope="col">{t('col.site')}</th>
                <th scope="col" class="num">
                  {t('airport.col.frames')}
                </th>
                <th scope="col" class="num">
                  {t('airport.col.offloaded')}
                </th>
                <th scope="col" class="num">
                  <abbr title={t('airport.fallback.long')}>{t('airport.col.fallback')}</abbr>
                </th>
                <th scope="col" class="num">
                  {t('airport.col.sent')}
                </th>
                <th scope="col" class="num">
                  {t('airport.col.perFrame')}
                  <br />
                  <span class="muted">{t('airport.bytes.perFrameVs', { raw: RAW_FRAME_BYTES })}</span>
                </th>
                <th scope="col" class="num">
                  {t('airport.col.perOffload')}
                </th>
                <th scope="col" class="num">
                  <abbr title={t('airport.saving.long')}>{t('airport.col.saving')}</abbr>
                </th>
                <th scope="col" class="num">
                  <abbr title={t('airport.threshold.long')}>{t('airport.col.threshold')}</abbr>
                </th>
              </tr>
            </thead>
            <tbody>
              {instances.map((i) => (
                <InstanceRow key={i.metadata.name} i={i} site={siteOf.get(i.spec.node ?? '') ?? '–'} />
              ))}
            </tbody>
            {total && instances.length > 1 && (
              <tfoot>
                <tr data-uplink-total="" data-rows={total.rows} data-bytes-up={total.bytesUp} data-saving={total.saving ?? undefined}>
                  <th scope="row" colSpan={2}>
                    {t('airport.total')}
                  </th>
                  <Cells u={total} />
                  <td />
                </tr>
              </tfoot>
            )}
          </table>
        </div>
      )}
    </Card>
  );
}

function Cells({ u }: { u: Uplink }) {
  return (
    <>
      <td class="num">{fmt(u.rows, 0)}</td>
      <td class="num">{fmt(u.offloaded, 0)}</td>
      <td class={u.fallbacks > 0 ? 'num city-buffering' : 'num'}>{fmt(u.fallbacks, 0)}</td>
      <td class="num">{bytes(u.bytesUp)}</td>
      <td class="num">{perFrame(u.bytesPerFrame)}</td>
      <td class="num">{perFrame(u.bytesPerOffload)}</td>
      <td class="num">
        <Saving u={u} />
      </td>
    </>
  );
}

function InstanceRow({ i, site }: { i: CctvInstance; site: string }) {
  const { t } = useI18n();
  const split = i.status?.inference?.split;
  const u = split ? uplinkOf(split) : null;
  const name = (
    <th scope="row">
      <a href={href('instances', AIRPORT_PROJECT, i.metadata.name)}>{i.metadata.name}</a>
      <br />
      <span class="muted">
        {i.spec.node ?? '–'} · {i.spec.template.model ?? '–'}
      </span>
    </th>
  );
  if (!split || !u) {
    return (
      <tr data-uplink-instance={i.metadata.name} data-node={i.spec.node} data-site={site}>
        {name}
        <td>{site}</td>
        <td colSpan={8} class="muted">
          {t('airport.bytes.notReported')}
        </td>
      </tr>
    );
  }
  return (
    <tr
      data-uplink-instance={i.metadata.name}
      data-node={i.spec.node}
      data-site={site}
      data-rows={u.rows}
      data-offloaded={u.offloaded}
      data-fallbacks={u.fallbacks}
      data-bytes-up={u.bytesUp}
      data-bytes-per-frame={u.bytesPerFrame ?? undefined}
      data-saving={u.saving ?? undefined}
      data-threshold={split.threshold}
    >
      {name}
      <td>{site}</td>
      <Cells u={u} />
      <td class="num">{fmt(split.threshold, 3)}</td>
    </tr>
  );
}
