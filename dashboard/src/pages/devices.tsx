import { useMemo } from 'preact/hooks';
import type { Obj } from '../api.ts';
import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { useCollection, useObject } from '../live.ts';
import { href } from '../router.ts';
import { Ago, Badge, Card, ErrorBox, FilterBox, Loading, Page, ShowMore, useFiltered } from '../components/ui.tsx';
import { useMeaningfulPaint } from '../components/paint.ts';
import { involvedKey, ObjectEvents } from '../components/work-events.tsx';
import { projectOf } from '../components/work-model.tsx';
import { TwinCompare } from '../components/work-twin.tsx';

/** core/device-schema.ts: desired properties live in spec.twin.desired, their version is metadata.generation. */
type DeviceSpec = {
  site: string;
  description?: string;
  grants?: { publish: string[]; subscribe: string[] };
  twin?: { desired: Record<string, unknown> };
};
type DeviceStatus = {
  connected?: boolean;
  node?: string;
  lastSeen?: string;
  connectedAt?: string;
  reported?: Record<string, unknown>;
  reportedVersion?: number;
  desiredAckVersion?: number;
  denied?: number;
};
type Device = Obj<DeviceSpec, DeviceStatus>;

const byProjectName = (a: Device, b: Device) => projectOf(a).localeCompare(projectOf(b)) || a.metadata.name.localeCompare(b.metadata.name);

export function Devices({ project, name }: { project?: string; name?: string }) {
  return project && name ? <DeviceDetail project={project} name={name} /> : <DeviceList />;
}

function Connected({ d }: { d: Device }) {
  const { t } = useI18n();
  const on = d.status?.connected ?? false;
  return <Badge value={on ? 'connected' : 'disconnected'} label={t(on ? 'edge.connected' : 'edge.disconnected')} />;
}

/** The acknowledged desired version against the current one; behind is said in words. */
function Ack({ d }: { d: Device }) {
  const { t } = useI18n();
  const want = d.metadata.generation ?? 0;
  const ack = d.status?.desiredAckVersion ?? 0;
  return (
    <span class={ack < want ? 'bad' : ''}>
      {t('edge.ackOf', { ack, want })}
      {ack < want && ` · ${t('edge.behind')}`}
    </span>
  );
}

function DeviceList() {
  const { t } = useI18n();
  const live = useLive();
  const { items, loaded, error } = useCollection<Device>(live, 'devices');
  const sorted = useMemo(() => [...items].sort(byProjectName), [items]);
  const { filter, setFilter, shown, total, more } = useFiltered(sorted, (d) => `${d.metadata.name} ${projectOf(d)} ${d.spec.site} ${d.status?.node ?? ''}`);
  useMeaningfulPaint('devices', loaded);
  return (
    <Page title={t('edge.devices.title')}>
      {error && <ErrorBox error={error} />}
      {!loaded ? (
        !error && <Loading />
      ) : (
        <Card title={t('edge.devices.list', { n: items.length })}>
          <FilterBox id="work-devices-filter" value={filter} onInput={setFilter} />
          {total === 0 ? (
            <p class="muted">{t('empty')}</p>
          ) : (
            <div class="work-scroll">
              <table data-ready="devices">
                <thead>
                  <tr>
                    <th scope="col">{t('col.name')}</th>
                    <th scope="col">{t('col.project')}</th>
                    <th scope="col">{t('col.site')}</th>
                    <th scope="col">{t('edge.col.connection')}</th>
                    <th scope="col">{t('col.node')}</th>
                    <th scope="col">{t('edge.col.lastSeen')}</th>
                    <th scope="col" class="num">
                      {t('edge.col.reportedVersion')}
                    </th>
                    <th scope="col">{t('edge.col.desiredAck')}</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map((d) => (
                    <tr key={`${projectOf(d)}/${d.metadata.name}`} data-device={d.metadata.name}>
                      <td>
                        <a href={href('devices', projectOf(d), d.metadata.name)}>{d.metadata.name}</a>
                      </td>
                      <td>{projectOf(d)}</td>
                      <td>{d.spec.site}</td>
                      <td>
                        <Connected d={d} />
                      </td>
                      <td>{d.status?.node ? <a href={href('nodes', d.status.node)}>{d.status.node}</a> : '–'}</td>
                      <td>
                        <Ago at={d.status?.lastSeen} />
                      </td>
                      <td class="num">{d.status?.reportedVersion ?? 0}</td>
                      <td>
                        <Ack d={d} />
                      </td>
                    </tr>
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

function DeviceDetail({ project, name }: { project: string; name: string }) {
  const { t } = useI18n();
  const live = useLive();
  const { object: d, loaded, error } = useObject<Device>(live, 'devices', name, project);
  const eventKeys = useMemo(() => new Set([involvedKey('Device', name, project)]), [name, project]);
  useMeaningfulPaint('device', d !== null);
  if (!d)
    return (
      <Page title={name}>
        {error ? <ErrorBox error={error} /> : loaded ? <p>{t('notFound', { name })}</p> : <Loading />}
      </Page>
    );
  const s = d.status ?? {};
  const labels = Object.entries(d.metadata.labels ?? {});
  return (
    <Page title={name} actions={<Connected d={d} />}>
      <p class="muted">
        <a href={href('devices')}>{t('edge.devices.title')}</a> / {project}
      </p>
      <div class="columns">
        <Card title={t('edge.device.identity')}>
          <dl class="props">
            <dt>{t('col.site')}</dt>
            <dd>{d.spec.site}</dd>
            {d.spec.description && (
              <>
                <dt>{t('edge.device.description')}</dt>
                <dd>{d.spec.description}</dd>
              </>
            )}
            <dt>{t('edge.device.labels')}</dt>
            <dd>{labels.length ? labels.map(([k, v]) => `${k}=${v}`).join(', ') : '–'}</dd>
            <dt>{t('edge.device.publish')}</dt>
            <dd>{[`devices/${name}/#`, ...(d.spec.grants?.publish ?? [])].join(', ')}</dd>
            <dt>{t('edge.device.subscribe')}</dt>
            <dd>{[`devices/${name}/#`, ...(d.spec.grants?.subscribe ?? [])].join(', ')}</dd>
          </dl>
        </Card>
        <Card title={t('edge.device.connection')}>
          <dl class="props" data-connection>
            <dt>{t('edge.col.connection')}</dt>
            <dd>
              <Connected d={d} />
            </dd>
            <dt>{t('col.node')}</dt>
            <dd>{s.node ? <a href={href('nodes', s.node)}>{s.node}</a> : '–'}</dd>
            <dt>{t('edge.device.connectedAt')}</dt>
            <dd>
              <Ago at={s.connectedAt} />
            </dd>
            <dt>{t('edge.col.lastSeen')}</dt>
            <dd>
              <Ago at={s.lastSeen} />
            </dd>
            <dt>{t('edge.device.denied')}</dt>
            <dd class={(s.denied ?? 0) > 0 ? 'bad' : ''}>{t('edge.device.deniedCount', { n: s.denied ?? 0 })}</dd>
          </dl>
        </Card>
      </div>
      <Card title={t('edge.twin.title')}>
        <dl class="props">
          <dt>{t('edge.twin.desiredVersion')}</dt>
          <dd>
            <Ack d={d} />
          </dd>
          <dt>{t('edge.col.reportedVersion')}</dt>
          <dd>{s.reportedVersion ?? 0}</dd>
        </dl>
        <TwinCompare desired={d.spec.twin?.desired ?? {}} reported={s.reported ?? {}} />
      </Card>
      <ObjectEvents keys={eventKeys} />
    </Page>
  );
}
