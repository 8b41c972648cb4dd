import { useMemo } from 'preact/hooks';
import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { useCollection, useObject } from '../live.ts';
import { href } from '../router.ts';
import { Ago, Card, ErrorBox, FilterBox, Loading, Page, ShowMore, useFiltered } from '../components/ui.tsx';
import { useMeaningfulPaint } from '../components/paint.ts';
import { RolloutBadge } from '../components/work-badges.tsx';
import { involvedKey, ObjectEvents } from '../components/work-events.tsx';
import { projectOf, runSummary, SERVICE_LABEL, type Instance, type Service } from '../components/work-model.tsx';
import { RolloutCard } from '../components/work-rollout.tsx';
import { ReplicaTable } from '../components/work-replicas.tsx';
import { PlacementProps, TemplateProps } from '../components/work-spec.tsx';

interface Counts {
  total: number;
  running: number;
  restarts: number;
}

const byProjectName = (a: Service, b: Service) => projectOf(a).localeCompare(projectOf(b)) || a.metadata.name.localeCompare(b.metadata.name);

export function Services() {
  const { t } = useI18n();
  const live = useLive();
  const services = useCollection<Service>(live, 'services');
  const instances = useCollection<Instance>(live, 'instances');
  // One pass over every instance (there may be 10,000): counts per project/service.
  const counts = useMemo(() => {
    const m = new Map<string, Counts>();
    for (const i of instances.items) {
      const svc = i.metadata.labels?.[SERVICE_LABEL];
      if (!svc) continue;
      const key = `${projectOf(i)}/${svc}`;
      let c = m.get(key);
      if (!c) m.set(key, (c = { total: 0, running: 0, restarts: 0 }));
      c.total++;
      if (i.status?.phase === 'Running') c.running++;
      c.restarts += i.status?.restarts ?? 0;
    }
    return m;
  }, [instances.items]);
  const sorted = useMemo(() => [...services.items].sort(byProjectName), [services.items]);
  const { filter, setFilter, shown, total, more } = useFiltered(sorted, (s) => `${s.metadata.name} ${projectOf(s)} ${runSummary(s.spec.template)}`);
  useMeaningfulPaint('services', services.loaded);

  return (
    <Page title={t('workloads.services.title')}>
      {services.error && <ErrorBox error={services.error} />}
      {!services.loaded ? (
        !services.error && <Loading />
      ) : (
        <Card title={t('workloads.services.list', { n: services.items.length })}>
          <FilterBox id="work-services-filter" value={filter} onInput={setFilter} />
          {total === 0 ? (
            <p class="muted">{t('empty')}</p>
          ) : (
            <div class="work-scroll">
              <table data-ready="services">
                <thead>
                  <tr>
                    <th scope="col">{t('col.name')}</th>
                    <th scope="col">{t('col.project')}</th>
                    <th scope="col">{t('workloads.col.runs')}</th>
                    <th scope="col" class="num">
                      {t('workloads.col.replicas')}
                    </th>
                    <th scope="col" class="num">
                      {t('workloads.col.instances')}
                    </th>
                    <th scope="col">{t('workloads.col.rollout')}</th>
                    <th scope="col">{t('col.age')}</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map((s) => (
                    <ServiceRow key={`${projectOf(s)}/${s.metadata.name}`} s={s} c={counts.get(`${projectOf(s)}/${s.metadata.name}`)} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <ShowMore shown={shown.length} total={total} more={more} />
        </Card>
      )}
    </Page>
  );
}

function ServiceRow({ s, c }: { s: Service; c: Counts | undefined }) {
  const { t } = useI18n();
  const ready = s.status?.ready ?? 0;
  const tpl = s.spec.template;
  return (
    <tr data-service={s.metadata.name}>
      <td>
        <a href={href('services', projectOf(s), s.metadata.name)}>{s.metadata.name}</a>
      </td>
      <td>{projectOf(s)}</td>
      <td>
        <span class="muted">{tpl.runtime}</span> <code class="work-wrap">{runSummary(tpl)}</code>
      </td>
      <td class={`num${ready < s.spec.replicas ? ' bad' : ''}`}>
        {ready}/{s.spec.replicas}
      </td>
      <td class="num">
        {c ? t('workloads.services.running', { running: c.running, total: c.total }) : '0'}
        {c && c.restarts > 0 && <div class="muted">{t('workloads.services.restarts', { n: c.restarts })}</div>}
      </td>
      <td>
        <RolloutBadge phase={s.status?.rollout?.phase} /> {s.status?.revision !== undefined && <span class="muted">{t('workloads.rollout.revision', { n: s.status.revision })}</span>}
      </td>
      <td>
        <Ago at={s.metadata.createdAt} />
      </td>
    </tr>
  );
}

export function ServiceDetail({ project, name }: { project: string; name: string }) {
  const { t } = useI18n();
  const live = useLive();
  const { object: svc, loaded, error } = useObject<Service>(live, 'services', name, project);
  const all = useCollection<Instance>(live, 'instances');
  const replicas = useMemo(
    () => all.items.filter((i) => i.metadata.labels?.[SERVICE_LABEL] === name && projectOf(i) === project).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)),
    [all.items, name, project],
  );
  // The service and its replicas; a stable string key so the set is rebuilt only when membership changes.
  const memberKey = replicas.map((i) => i.metadata.name).join(',');
  const eventKeys = useMemo(() => new Set([involvedKey('Service', name, project), ...replicas.map((i) => involvedKey('Instance', i.metadata.name, project))]), [memberKey, name, project]);
  useMeaningfulPaint('service', svc !== null && all.loaded);

  if (!svc)
    return (
      <Page title={name}>
        {error ? <ErrorBox error={error} /> : loaded ? <p>{t('notFound', { name })}</p> : <Loading />}
      </Page>
    );
  return (
    <Page title={name} actions={<RolloutBadge phase={svc.status?.rollout?.phase} />}>
      <p class="muted">
        <a href={href('services')}>{t('workloads.services.title')}</a> / {project}
      </p>
      <div class="columns">
        <Card title={t('workloads.spec.title')}>
          <TemplateProps tpl={svc.spec.template}>
            <dt>{t('workloads.col.replicas')}</dt>
            <dd>{t('workloads.spec.replicas', { ready: svc.status?.ready ?? 0, desired: svc.spec.replicas, surge: svc.spec.maxSurge, unavailable: svc.spec.maxUnavailable })}</dd>
          </TemplateProps>
        </Card>
        <Card title={t('workloads.place.title')}>
          <PlacementProps p={svc.spec.placement} />
        </Card>
      </div>
      <RolloutCard svc={svc} />
      <ReplicaTable replicas={replicas} loaded={all.loaded} />
      <ObjectEvents keys={eventKeys} />
    </Page>
  );
}
