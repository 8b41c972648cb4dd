import { useMemo } from 'preact/hooks';
import type { Obj } from '../api.ts';
import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { useCollection } from '../live.ts';
import { href } from '../router.ts';
import { Ago, Badge, ErrorBox, Loading, ShowMore, useFiltered } from './ui.tsx';
import type { NodeObj } from './topo-model.ts';
import { projectOf } from './work-model.tsx';

type EventObj = Obj<{ involved: { kind: string; name: string; project?: string }; type: 'Normal' | 'Warning'; reason: string; message: string; at: string }>;
type InstanceObj = Obj<{ node?: string }, { phase?: string; restarts?: number }>;

const byName = (a: Obj, b: Obj) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0);

/** The node's conditions, then the events about it, newest first. */
export function NodeHistory({ node }: { node: NodeObj }) {
  const { t } = useI18n();
  const conditions = node.status?.conditions ?? [];
  return (
    <>
      <h3 class="topo-sub">{t('nodes.history.conditions')}</h3>
      {conditions.length === 0 ? (
        <p class="muted">{t('nodes.history.noConditions')}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{t('nodes.history.type')}</th>
              <th scope="col">{t('nodes.history.status')}</th>
              <th scope="col">{t('col.reason')}</th>
              <th scope="col">{t('col.time')}</th>
            </tr>
          </thead>
          <tbody>
            {conditions.map((c) => (
              <tr key={c.type}>
                <td>{c.type}</td>
                <td>{c.status}</td>
                <td>
                  {c.reason ?? '–'}
                  {c.message && <div class="muted">{c.message}</div>}
                </td>
                <td>
                  <Ago at={c.at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3 class="topo-sub">{t('events.title')}</h3>
      <NodeEvents name={node.metadata.name} />
    </>
  );
}

function NodeEvents({ name }: { name: string }) {
  const { t } = useI18n();
  const live = useLive();
  const events = useCollection<EventObj>(live, 'events');
  const mine = useMemo(
    () => events.items.filter((e) => e.spec.involved.kind === 'Node' && e.spec.involved.name === name).sort((a, b) => (a.spec.at < b.spec.at ? 1 : a.spec.at > b.spec.at ? -1 : 0)),
    [events.items, name],
  );
  const list = useFiltered(mine, (e) => e.spec.reason, 20);
  if (events.error) return <ErrorBox error={events.error} />;
  if (!events.loaded) return <Loading />;
  if (mine.length === 0) return <p class="muted">{t('events.none')}</p>;
  return (
    <>
      <ul class="events" role="log" aria-label={t('events.title')}>
        {list.shown.map((e) => (
          <li key={e.metadata.name}>
            <Badge value={e.spec.type} label={t(`nodes.event.${e.spec.type}`)} /> <span class="object">{e.spec.reason}</span> <Ago at={e.spec.at} />
            {e.spec.message && <div class="message">{e.spec.message}</div>}
          </li>
        ))}
      </ul>
      <ShowMore shown={list.shown.length} total={list.total} more={list.more} />
    </>
  );
}

/** Instances placed on this node, from the shared instances collection. */
export function NodeInstances({ node }: { node: string }) {
  const { t } = useI18n();
  const live = useLive();
  const instances = useCollection<InstanceObj>(live, 'instances');
  const mine = useMemo(() => instances.items.filter((i) => i.spec.node === node).sort(byName), [instances.items, node]);
  const list = useFiltered(mine, (i) => i.metadata.name, 50);
  if (instances.error) return <ErrorBox error={instances.error} />;
  if (!instances.loaded) return <Loading />;
  if (mine.length === 0) return <p class="muted">{t('nodes.instances.none')}</p>;
  return (
    <>
      <table>
        <thead>
          <tr>
            <th scope="col">{t('col.name')}</th>
            <th scope="col">{t('col.project')}</th>
            <th scope="col">{t('col.phase')}</th>
            <th scope="col" class="num">
              {t('nodes.instances.restarts')}
            </th>
          </tr>
        </thead>
        <tbody>
          {list.shown.map((i) => {
            const project = projectOf(i);
            return (
              <tr key={`${project}/${i.metadata.name}`} data-instance={i.metadata.name}>
                <td>
                  <a href={href('instances', project, i.metadata.name)}>{i.metadata.name}</a>
                </td>
                <td>{project}</td>
                <td>
                  <Badge value={i.status?.phase ?? 'Pending'} />
                </td>
                <td class="num">{i.status?.restarts ?? 0}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <ShowMore shown={list.shown.length} total={list.total} more={list.more} />
    </>
  );
}
