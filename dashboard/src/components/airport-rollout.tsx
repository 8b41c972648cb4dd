import { useI18n } from '../i18n/index.ts';
import { href } from '../router.ts';
import { Ago, Badge, Card, fmt } from './ui.tsx';
import { RolloutBadge } from './work-badges.tsx';
import { SiteProgress } from './work-rollout.tsx';
import { AIRPORT_PROJECT, CCTV_SERVICE, evaluationView, fmtRunMs, percent2, type CctvInstance, type CctvService } from './airport-model.ts';

const signed = (n: number, digits: number) => `${n > 0 ? '+' : n < 0 ? '−' : '±'}${fmt(Math.abs(n), digits)}`;

/**
 * The cctv Service's model rollout: the revision and model it serves, the
 * rollout's phase, message and per-site progress, and how each new version's
 * instance fares against the version it replaces (the model gate).
 */
export function RolloutCard({ svc, instances, siteOf }: { svc: CctvService | null; instances: CctvInstance[]; siteOf: Map<string, string> }) {
  const { t } = useI18n();
  const r = svc?.status?.rollout;
  const split = svc?.spec.template.split;
  const gated = instances.filter((i) => i.status?.evaluation);
  return (
    <Card title={t('airport.rollout.title')} id="airport-rollout">
      <p class="muted city-help">{t('airport.rollout.help')}</p>
      {!svc ? (
        <p class="muted city-empty">{t('airport.rollout.noService', { service: CCTV_SERVICE, project: AIRPORT_PROJECT })}</p>
      ) : (
        <div data-service-revision={svc.status?.revision} data-model={svc.spec.template.model} data-rollout-phase={r?.phase} data-rollout-revision={r?.revision}>
          <dl class="props">
            <dt>{t('airport.rollout.revision')}</dt>
            <dd>
              <a href={href('services', AIRPORT_PROJECT, CCTV_SERVICE)}>{svc.status?.revision === undefined ? '–' : t('workloads.rollout.revision', { n: svc.status.revision })}</a>
              {r?.stableRevision !== undefined && r.stableRevision !== svc.status?.revision && (
                <span class="muted">
                  {' '}
                  · {t('workloads.rollout.stable')}: {t('workloads.rollout.revision', { n: r.stableRevision })}
                </span>
              )}
            </dd>
            <dt>{t('airport.rollout.model')}</dt>
            <dd>
              <code>{svc.spec.template.model ?? '–'}</code>
            </dd>
            {split && (
              <>
                <dt>{t('airport.rollout.split')}</dt>
                <dd>{t('airport.rollout.splitValue', { tail: split.tail, threshold: split.threshold })}</dd>
              </>
            )}
            <dt>{t('workloads.rollout.phase')}</dt>
            <dd>
              {r ? (
                <>
                  <RolloutBadge phase={r.phase} /> {t('workloads.rollout.revision', { n: r.revision })} · <Ago at={r.finishedAt ?? r.startedAt} />
                </>
              ) : (
                <span class="muted">{t('workloads.rollout.none')}</span>
              )}
            </dd>
            {r?.message && (
              <>
                <dt>{t('col.message')}</dt>
                <dd data-rollout-message="">{r.message}</dd>
              </>
            )}
          </dl>
          {r && r.sites.length > 0 && <SiteProgress sites={r.sites} />}
        </div>
      )}
      <h3 class="work-h3">{t('airport.eval.title')}</h3>
      {gated.length === 0 ? <p class="muted city-empty">{t('airport.eval.none')}</p> : <Evaluations instances={gated} siteOf={siteOf} />}
    </Card>
  );
}

function Evaluations({ instances, siteOf }: { instances: CctvInstance[]; siteOf: Map<string, string> }) {
  const { t } = useI18n();
  return (
    <div class="work-scroll">
      <table class="city-table" aria-label={t('airport.eval.table')}>
        <thead>
          <tr>
            <th scope="col">{t('airport.col.candidate')}</th>
            <th scope="col">{t('col.phase')}</th>
            <th scope="col" class="num">
              {t('airport.col.accuracyVs')}
            </th>
            <th scope="col" class="num">
              {t('airport.col.p99Vs')}
            </th>
            <th scope="col">{t('airport.col.shadow')}</th>
          </tr>
        </thead>
        <tbody>
          {instances.map((i) => {
            const e = i.status!.evaluation!;
            const v = evaluationView(e);
            return (
              <tr
                key={i.metadata.name}
                data-evaluation={i.metadata.name}
                data-phase={e.phase}
                data-accuracy={e.accuracy ?? undefined}
                data-baseline-accuracy={e.baselineAccuracy ?? undefined}
                data-p50={e.p50Ms ?? undefined}
                data-p99={e.p99Ms ?? undefined}
                data-baseline-p99={e.baselineP99Ms ?? undefined}
                data-shadow-requests={e.shadow?.requests}
                data-shadow-agreed={e.shadow?.agreed}
                data-shadow-wanted={e.shadow?.wanted}
              >
                <th scope="row">
                  <a href={href('instances', AIRPORT_PROJECT, i.metadata.name)}>{i.metadata.name}</a>
                  <br />
                  <span class="muted">
                    {siteOf.get(i.spec.node ?? '') ?? i.spec.node ?? '–'} · <code>{i.spec.template.model ?? '–'}</code> {t('airport.eval.against', { baseline: v.baseline })}
                  </span>
                </th>
                <td>
                  <Badge value={e.phase} label={t(`airport.eval.${e.phase}`)} />
                  {e.message && <div class="muted airport-eval-message">{e.message}</div>}
                </td>
                <td class="num">
                  {percent2(e.accuracy)} / {percent2(e.baselineAccuracy)}
                  {v.accuracyDelta !== null && (
                    <div class={v.accuracyDelta < 0 ? 'city-buffering' : 'muted'}>{t('airport.eval.points', { d: signed(v.accuracyDelta, 2) })}</div>
                  )}
                </td>
                <td class="num">
                  {fmtRunMs(e.p50Ms)} / {fmtRunMs(e.baselineP50Ms)}
                  {v.slowdown !== null && <div class="muted">{`${fmt(v.slowdown, 2)}×`}</div>}
                  <div class="muted">{`p99 ${fmtRunMs(e.p99Ms)} / ${fmtRunMs(e.baselineP99Ms)}`}</div>
                </td>
                <td>
                  {e.shadow ? (
                    <>
                      <progress max={Math.max(1, e.shadow.wanted)} value={Math.min(e.shadow.requests, e.shadow.wanted)} aria-label={`${t('airport.col.shadow')} (${i.metadata.name})`} />{' '}
                      {t('airport.eval.shadow', { requests: e.shadow.requests, wanted: e.shadow.wanted, agreed: e.shadow.agreed })}
                    </>
                  ) : (
                    <span class="muted">{t('airport.eval.noShadow')}</span>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
