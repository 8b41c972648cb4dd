import { useI18n } from '../i18n/index.ts';
import { Ago, Card } from './ui.tsx';
import { RolloutBadge } from './work-badges.tsx';
import { runSummary, type Service } from './work-model.tsx';

/** The rollout in progress (or the last one): its phase, each site's progress, and the revision history. */
export function RolloutCard({ svc }: { svc: Service }) {
  const { t } = useI18n();
  const r = svc.status?.rollout;
  const revisions = svc.status?.revisions ?? [];
  return (
    <Card title={t('workloads.rollout.title')}>
      {!r ? (
        <p class="muted">{t('workloads.rollout.none')}</p>
      ) : (
        <>
          <dl class="props">
            <dt>{t('workloads.rollout.phase')}</dt>
            <dd>
              <RolloutBadge phase={r.phase} /> {t('workloads.rollout.revision', { n: r.revision })}
            </dd>
            {r.stableRevision !== undefined && (
              <>
                <dt>{t('workloads.rollout.stable')}</dt>
                <dd>{t('workloads.rollout.revision', { n: r.stableRevision })}</dd>
              </>
            )}
            <dt>{t('workloads.rollout.progress')}</dt>
            <dd>{t('workloads.rollout.counts', { updated: r.updated, ready: r.ready, replicas: svc.spec.replicas })}</dd>
            {r.message && (
              <>
                <dt>{t('col.message')}</dt>
                <dd>{r.message}</dd>
              </>
            )}
            <dt>{t('workloads.rollout.started')}</dt>
            <dd>
              <Ago at={r.startedAt} />
            </dd>
            {r.finishedAt && (
              <>
                <dt>{t('workloads.rollout.finished')}</dt>
                <dd>
                  <Ago at={r.finishedAt} />
                </dd>
              </>
            )}
          </dl>
          {r.sites.length > 0 && <SiteProgress sites={r.sites} />}
        </>
      )}
      {revisions.length > 0 && (
        <>
          <h3 class="work-h3">{t('workloads.rollout.history')}</h3>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('workloads.rollout.rev')}</th>
                <th scope="col">{t('workloads.rollout.hash')}</th>
                <th scope="col">{t('workloads.col.runs')}</th>
                <th scope="col">{t('workloads.rollout.created')}</th>
              </tr>
            </thead>
            <tbody>
              {[...revisions].reverse().map((v) => (
                <tr key={v.revision}>
                  <td>
                    {v.revision}
                    {v.revision === svc.status?.revision && <span class="work-tag"> {t('workloads.rollout.current')}</span>}
                    {v.revision === r?.stableRevision && v.revision !== svc.status?.revision && <span class="work-tag"> {t('workloads.rollout.stableTag')}</span>}
                  </td>
                  <td>
                    <code>{v.hash}</code>
                  </td>
                  <td>
                    <code class="work-wrap">{runSummary(v.template)}</code>
                  </td>
                  <td>
                    <Ago at={v.createdAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </Card>
  );
}

/** Each site's rollout progress, in rollout order. */
export function SiteProgress({ sites }: { sites: { site: string; updated: number; total: number; done: boolean }[] }) {
  const { t } = useI18n();
  return (
    <table>
      <caption class="sr-only">{t('workloads.rollout.sites')}</caption>
      <thead>
        <tr>
          <th scope="col">{t('col.site')}</th>
          <th scope="col">{t('workloads.rollout.updated')}</th>
          <th scope="col">{t('workloads.rollout.state')}</th>
        </tr>
      </thead>
      <tbody>
        {sites.map((s) => (
          <tr key={s.site} data-rollout-site={s.site} data-updated={s.updated} data-total={s.total} data-done={String(s.done)}>
            <td>{s.site}</td>
            <td>
              <progress max={Math.max(1, s.total)} value={s.updated} aria-label={t('workloads.rollout.siteProgress', { site: s.site })} /> {s.updated}/{s.total}
            </td>
            <td>{s.done ? t('workloads.rollout.siteDone') : t('workloads.rollout.siteWaiting')}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
