import { useMemo } from 'preact/hooks';
import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { useObject } from '../live.ts';
import { href } from '../router.ts';
import { Ago, Card, ErrorBox, Loading, Page } from '../components/ui.tsx';
import { useMeaningfulPaint } from '../components/paint.ts';
import { PhaseBadge, YesNo } from '../components/work-badges.tsx';
import { involvedKey, ObjectEvents } from '../components/work-events.tsx';
import { LogStream } from '../components/work-logs.tsx';
import { SERVICE_LABEL, useNodeSites, type Condition, type Instance, type InstanceStatus } from '../components/work-model.tsx';
import { SchedulingDetail } from '../components/work-scheduling.tsx';
import { TemplateProps } from '../components/work-spec.tsx';
import { InstanceUsage } from '../components/work-usage.tsx';

export function InstanceDetail({ project, name }: { project: string; name: string }) {
  const { t } = useI18n();
  // `#/instances` alone names nothing (and an empty name would fetch the whole list).
  if (!name)
    return (
      <Page title={t('workloads.services.title')}>
        <p>
          {t('notFound', { name: '–' })} <a href={href('services')}>{t('workloads.services.title')}</a>
        </p>
      </Page>
    );
  return <InstanceView project={project} name={name} />;
}

function InstanceView({ project, name }: { project: string; name: string }) {
  const { t } = useI18n();
  const live = useLive();
  const { object: inst, loaded, error } = useObject<Instance>(live, 'instances', name, project);
  const eventKeys = useMemo(() => new Set([involvedKey('Instance', name, project)]), [name, project]);
  useMeaningfulPaint('instance', inst !== null);

  if (!inst)
    return (
      <Page title={name}>
        {error ? <ErrorBox error={error} /> : loaded ? <p>{t('notFound', { name })}</p> : <Loading />}
      </Page>
    );
  const service = inst.metadata.labels?.[SERVICE_LABEL] ?? inst.spec.service;
  return (
    <Page title={name} actions={<PhaseBadge phase={inst.status?.phase} />}>
      <p class="muted">
        <a href={href('services')}>{t('workloads.services.title')}</a> / {project}
        {service && (
          <>
            {' / '}
            <a href={href('services', project, service)}>{service}</a>
          </>
        )}
      </p>
      <div class="columns">
        <Card title={t('workloads.instance.status')}>
          <StatusProps inst={inst} />
        </Card>
        <Card title={t('workloads.spec.title')}>
          <TemplateProps tpl={inst.spec.template} />
        </Card>
      </div>
      {(inst.status?.conditions ?? []).length > 0 && <Conditions list={inst.status?.conditions ?? []} />}
      <Card title={t('workloads.sched.title')}>
        <SchedulingDetail s={inst.status?.scheduling} />
      </Card>
      <InstanceUsage project={project} name={name} node={inst.spec.node} />
      {/* Keyed by node too: an instance placed while this page is open starts streaming without a retry. */}
      <LogStream key={`${project}/${name}/${inst.spec.node ?? ''}`} project={project} name={name} />
      <ObjectEvents keys={eventKeys} />
    </Page>
  );
}

function StatusProps({ inst }: { inst: Instance }) {
  const { t } = useI18n();
  const sites = useNodeSites(useLive());
  const s: Partial<InstanceStatus> = inst.status ?? {};
  const node = inst.spec.node;
  const ports = Object.entries(s.ports ?? {});
  return (
    <dl class="props" data-status>
      <dt>{t('col.phase')}</dt>
      <dd>
        <PhaseBadge phase={s.phase} />
      </dd>
      <dt>{t('workloads.col.ready')}</dt>
      <dd>
        <YesNo value={s.ready} />
      </dd>
      <dt>{t('col.node')}</dt>
      <dd>{node ? <a href={href('nodes', node)}>{node}</a> : <span class="muted">{t('workloads.replicas.unplaced')}</span>}</dd>
      <dt>{t('col.site')}</dt>
      <dd>{(node && sites.get(node)) ?? '–'}</dd>
      {inst.spec.revision !== undefined && (
        <>
          <dt>{t('workloads.rollout.rev')}</dt>
          <dd>{inst.spec.revision}</dd>
        </>
      )}
      <dt>{t('workloads.spec.ports')}</dt>
      <dd>{ports.length ? ports.map(([k, v]) => `${k}: ${v}`).join(', ') : '–'}</dd>
      <dt>{t('workloads.instance.pid')}</dt>
      <dd>{s.pid ?? '–'}</dd>
      <dt>{t('workloads.col.restarts')}</dt>
      <dd class={(s.restarts ?? 0) > 0 ? 'bad' : ''}>{s.restarts ?? 0}</dd>
      {(s.exitCode !== undefined && s.exitCode !== null) || s.signal ? (
        <>
          <dt>{t('workloads.instance.exit')}</dt>
          <dd>{[s.exitCode !== undefined && s.exitCode !== null ? t('workloads.instance.exitCode', { code: s.exitCode }) : '', s.signal ? t('workloads.instance.signal', { signal: s.signal }) : ''].filter(Boolean).join(' · ')}</dd>
        </>
      ) : null}
      {s.message && (
        <>
          <dt>{t('col.message')}</dt>
          <dd>{s.message}</dd>
        </>
      )}
      <dt>{t('workloads.instance.started')}</dt>
      <dd>
        <Ago at={s.startedAt} />
      </dd>
      <dt>{t('workloads.instance.created')}</dt>
      <dd>
        <Ago at={inst.metadata.createdAt} />
      </dd>
    </dl>
  );
}

function Conditions({ list }: { list: Condition[] }) {
  const { t } = useI18n();
  return (
    <Card title={t('workloads.instance.conditions')}>
      <table>
        <thead>
          <tr>
            <th scope="col">{t('workloads.instance.condType')}</th>
            <th scope="col">{t('workloads.instance.condStatus')}</th>
            <th scope="col">{t('col.reason')}</th>
            <th scope="col">{t('col.message')}</th>
            <th scope="col">{t('col.time')}</th>
          </tr>
        </thead>
        <tbody>
          {list.map((c) => (
            <tr key={c.type}>
              <td>{c.type}</td>
              <td>
                {t(`workloads.cond.${c.status}`)}
              </td>
              <td>{c.reason ?? '–'}</td>
              <td>{c.message ?? ''}</td>
              <td>
                <Ago at={c.at} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}
