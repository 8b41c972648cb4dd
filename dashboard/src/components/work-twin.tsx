import { useMemo } from 'preact/hooks';
import { useI18n } from '../i18n/index.ts';

type Doc = Record<string, unknown>;
type Match = 'same' | 'differs' | 'desiredOnly' | 'reportedOnly';

const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/**
 * A device twin's desired document beside its reported one, by top-level key.
 * A desired value the device does not report (or reports otherwise) is
 * marked in words as well as colour.
 */
export function TwinCompare({ desired, reported }: { desired: Doc; reported: Doc }) {
  const { t } = useI18n();
  const rows = useMemo(() => {
    const keys = [...new Set([...Object.keys(desired), ...Object.keys(reported)])].sort();
    return keys.map((k) => {
      const inD = k in desired;
      const inR = k in reported;
      const match: Match = !inR ? 'desiredOnly' : !inD ? 'reportedOnly' : show(desired[k]) === show(reported[k]) ? 'same' : 'differs';
      return { k, d: inD ? show(desired[k]) : null, r: inR ? show(reported[k]) : null, match };
    });
  }, [desired, reported]);
  if (rows.length === 0) return <p class="muted">{t('edge.twin.empty')}</p>;
  // Extra reported keys (battery, firmware...) are the device's own news, not a drift from what was asked.
  const drifts = (m: Match) => m === 'differs' || m === 'desiredOnly';
  const differing = rows.filter((r) => drifts(r.match)).length;
  return (
    <>
      <p class={differing ? 'work-differs-note' : 'muted'}>{differing ? t('edge.twin.differing', { n: differing }) : t('edge.twin.inSync')}</p>
      <div class="work-scroll">
        <table class="work-twin">
          <caption class="sr-only">{t('edge.twin.caption')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('edge.twin.key')}</th>
              <th scope="col">{t('edge.twin.desired')}</th>
              <th scope="col">{t('edge.twin.reported')}</th>
              <th scope="col">{t('edge.twin.match')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.k} class={drifts(r.match) ? 'work-diff' : ''} data-twin-key={r.k} data-match={r.match}>
                <th scope="row">
                  <code>{r.k}</code>
                </th>
                <td>{r.d === null ? <span class="muted">–</span> : <code class="work-wrap">{r.d}</code>}</td>
                <td>{r.r === null ? <span class="muted">–</span> : <code class="work-wrap">{r.r}</code>}</td>
                <td>{drifts(r.match) ? <strong>{t(`edge.twin.${r.match}`)}</strong> : <span class="muted">{t(`edge.twin.${r.match}`)}</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
