import type { ComponentChildren } from 'preact';
import { useI18n } from '../i18n/index.ts';
import { fmt } from './ui.tsx';
import type { Placement, Probe, Template } from './work-model.tsx';

const labels = (l: Record<string, string> | undefined) =>
  Object.entries(l ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

/** A `dt`/`dd` pair, left out when there is nothing to say. */
function Prop({ label, children }: { label: string; children: ComponentChildren }) {
  if (children === undefined || children === null || children === '' || children === false) return null;
  return (
    <>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </>
  );
}

function probeText(p: Probe | undefined): string {
  if (!p) return '';
  const what = p.http ? `HTTP ${p.http.path} @ ${p.http.port}` : p.tcp ? `TCP @ ${p.tcp.port}` : `exec ${p.exec?.command.join(' ') ?? ''}`;
  return `${what} · ${p.period} / ${p.timeout} ×${p.failureThreshold}`;
}

/** What a workload runs and needs: the template of a service or an instance (`children`: rows to put first). */
export function TemplateProps({ tpl, children }: { tpl: Template; children?: ComponentChildren }) {
  const { t } = useI18n();
  const r = tpl.resources;
  const accel = Object.entries(r.accelerators ?? {}).map(([k, n]) => `${k} ×${n}`);
  const res = [`${fmt(r.cpu, 3)} ${t('workloads.spec.cores')}`, `${fmt(r.memoryMiB)} MiB`, r.diskMiB ? `${fmt(r.diskMiB)} MiB ${t('workloads.spec.disk')}` : '', ...accel].filter(Boolean);
  return (
    <dl class="props">
      {children}
      <Prop label={t('workloads.spec.runtime')}>{tpl.runtime}</Prop>
      <Prop label={t('workloads.spec.image')}>{tpl.image && <code>{tpl.image}</code>}</Prop>
      <Prop label={t('workloads.spec.command')}>{tpl.command.length > 0 && <code class="work-wrap">{tpl.command.join(' ')}</code>}</Prop>
      <Prop label={t('workloads.spec.cwd')}>{tpl.cwd && <code>{tpl.cwd}</code>}</Prop>
      <Prop label={t('workloads.spec.resources')}>{res.join(' · ')}</Prop>
      <Prop label={t('workloads.spec.ports')}>{tpl.ports.map((p) => (p.port ? `${p.name}:${p.port}` : `${p.name} (${t('workloads.spec.autoPort')})`) + (p.containerPort ? ` → ${p.containerPort}` : '')).join(', ')}</Prop>
      <Prop label={t('workloads.spec.readiness')}>{probeText(tpl.readiness)}</Prop>
      <Prop label={t('workloads.spec.liveness')}>{probeText(tpl.liveness)}</Prop>
      <Prop label={t('workloads.spec.restartPolicy')}>{tpl.restartPolicy}</Prop>
      <Prop label={t('workloads.spec.volumes')}>{tpl.volumes.map((v) => `${v.name}${v.mountPath ? ` → ${v.mountPath}` : ''}${v.readOnly ? ' (ro)' : ''}`).join(', ')}</Prop>
      <Prop label={t('workloads.spec.env')}>{Object.keys(tpl.env).join(', ')}</Prop>
    </dl>
  );
}

/** Where a workload may and should run; "anywhere" when nothing constrains it. */
export function PlacementProps({ p }: { p: Placement }) {
  const { t } = useI18n();
  const terms = (ts: Placement['affinity']) => (ts ?? []).map((a) => `${labels(a.selector)} (${a.scope})`).join('; ');
  const c = p.clients;
  const clients = c ? [c.sites?.join(', '), c.location && `${c.location.lat}, ${c.location.lon}`, c.devices && labels(c.devices)].filter(Boolean).join(' · ') : '';
  const rows = (
    <>
      <Prop label={t('workloads.place.tiers')}>{p.tiers?.join(', ')}</Prop>
      <Prop label={t('workloads.place.sites')}>{p.sites?.join(', ')}</Prop>
      <Prop label={t('workloads.place.nodes')}>{p.nodes?.join(', ')}</Prop>
      <Prop label={t('workloads.place.nodeSelector')}>{labels(p.nodeSelector)}</Prop>
      <Prop label={t('workloads.place.clients')}>{clients}</Prop>
      <Prop label={t('workloads.place.maxLatency')}>{p.maxLatency}</Prop>
      <Prop label={t('workloads.place.affinity')}>{terms(p.affinity)}</Prop>
      <Prop label={t('workloads.place.antiAffinity')}>{terms(p.antiAffinity)}</Prop>
      <Prop label={t('workloads.place.tolerations')}>{(p.tolerations ?? []).map((x) => `${x.key}${x.operator === 'Exists' ? '' : `=${x.value}`}${x.effect ? `:${x.effect}` : ''}`).join(', ')}</Prop>
      <Prop label={t('workloads.place.weights')}>{Object.entries(p.weights ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}</Prop>
      <Prop label={t('workloads.place.priorityClass')}>{p.priorityClass}</Prop>
    </>
  );
  const constrained = Object.keys(p).some((k) => k !== 'policy');
  return (
    <dl class="props">
      <dt>{t('workloads.place.policy')}</dt>
      <dd>{p.policy ?? t('workloads.place.policyDefault')}</dd>
      {constrained ? (
        rows
      ) : (
        <>
          <dt>{t('workloads.place.constraints')}</dt>
          <dd class="muted">{t('workloads.place.anywhere')}</dd>
        </>
      )}
    </dl>
  );
}
