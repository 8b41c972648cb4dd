import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { href } from '../router.ts';
import { Ago, Card, FilterBox, Loading, ShowMore, useFiltered } from './ui.tsx';
import { PhaseBadge, YesNo } from './work-badges.tsx';
import { projectOf, useNodeSites, type Instance } from './work-model.tsx';
import { PlacementWhy } from './work-scheduling.tsx';

/** A service's instances: where each runs, how it is doing, and why the scheduler put it there. */
export function ReplicaTable({ replicas, loaded }: { replicas: Instance[]; loaded: boolean }) {
  const { t } = useI18n();
  const sites = useNodeSites(useLive());
  const siteOf = (i: Instance) => (i.spec.node ? (sites.get(i.spec.node) ?? '') : '');
  const { filter, setFilter, shown, total, more } = useFiltered(replicas, (i) => `${i.metadata.name} ${i.spec.node ?? ''} ${siteOf(i)} ${i.status?.phase ?? ''}`);
  return (
    <Card title={t('workloads.replicas.title', { n: replicas.length })} id="replicas">
      {!loaded ? (
        <Loading />
      ) : (
        <>
          <FilterBox id="work-replicas-filter" value={filter} onInput={setFilter} />
          {total === 0 ? (
            <p class="muted">{t('workloads.replicas.none')}</p>
          ) : (
            <div class="work-scroll">
              <table class="work-replicas" data-replicas>
                <thead>
                  <tr>
                    <th scope="col">{t('workloads.col.instance')}</th>
                    <th scope="col">{t('col.node')}</th>
                    <th scope="col">{t('col.site')}</th>
                    <th scope="col">{t('col.phase')}</th>
                    <th scope="col">{t('workloads.col.ready')}</th>
                    <th scope="col" class="num">
                      {t('workloads.col.restarts')}
                    </th>
                    <th scope="col">{t('col.age')}</th>
                    <th scope="col">{t('workloads.col.why')}</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map((i) => (
                    <tr key={i.metadata.name} data-instance={i.metadata.name}>
                      <td>
                        <a href={href('instances', projectOf(i), i.metadata.name)}>{i.metadata.name}</a>
                        {i.spec.revision !== undefined && <div class="muted">{t('workloads.rollout.revision', { n: i.spec.revision })}</div>}
                      </td>
                      <td>{i.spec.node ? <a href={href('nodes', i.spec.node)}>{i.spec.node}</a> : <span class="muted">{t('workloads.replicas.unplaced')}</span>}</td>
                      <td>{siteOf(i) || '–'}</td>
                      <td data-phase>
                        <PhaseBadge phase={i.status?.phase} />
                      </td>
                      <td>
                        <YesNo value={i.status?.ready} />
                      </td>
                      <td class={`num${(i.status?.restarts ?? 0) > 0 ? ' bad' : ''}`}>{i.status?.restarts ?? 0}</td>
                      <td>
                        <Ago at={i.metadata.createdAt} />
                      </td>
                      <td class="work-why-cell">
                        <PlacementWhy s={i.status?.scheduling} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <ShowMore shown={shown.length} total={total} more={more} />
        </>
      )}
    </Card>
  );
}
