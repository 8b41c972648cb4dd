import { useMemo } from 'preact/hooks';
import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { useCollection, useObject } from '../live.ts';
import { href } from '../router.ts';
import { Ago, Badge, bytes, Card, ErrorBox, FilterBox, fmt, Loading, Page, ShowMore, useFiltered } from '../components/ui.tsx';
import { useMeaningfulPaint } from '../components/paint.ts';
import { NodeProps, UsageBars } from '../components/topo-node-props.tsx';
import { NodeCharts } from '../components/topo-node-charts.tsx';
import { NodeHistory, NodeInstances } from '../components/topo-node-history.tsx';
import type { NodeObj } from '../components/topo-model.ts';

/** Nodes that need a look come first; the rest by name. */
function byAttention(a: NodeObj, b: NodeObj): number {
  const rank = (n: NodeObj) => (n.status?.phase === 'NotReady' ? 0 : 1);
  return rank(a) - rank(b) || (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0);
}

/** "used / capacity", or just "used" when the capacity is unknown (0). */
function ofCapacity(used: number | undefined, capacity: number | undefined, digits: number): string {
  return capacity ? `${fmt(used, digits)} / ${fmt(capacity, digits)}` : fmt(used, digits);
}

export function Nodes() {
  const { t } = useI18n();
  const live = useLive();
  const { items, loaded, error } = useCollection<NodeObj>(live, 'nodes');
  // `items` stays the same array until the collection changes, so these hold between renders.
  const sorted = useMemo(() => [...items].sort(byAttention), [items]);
  const notReady = useMemo(() => items.filter((n) => n.status?.phase === 'NotReady').length, [items]);
  const cordoned = useMemo(() => items.filter((n) => n.spec.unschedulable).length, [items]);
  const list = useFiltered(sorted, (n) => `${n.metadata.name} ${n.spec.site} ${n.status?.phase ?? 'Pending'}`);
  useMeaningfulPaint('nodes', loaded);
  return (
    <Page title={t('nodes.title')} actions={loaded && <span class="muted" role="status">{t('nodes.summary', { total: items.length, notReady, cordoned })}</span>}>
      {error && <ErrorBox error={error} />}
      {!loaded && !error && <Loading />}
      {loaded && (
        <Card title={t('nodes.list')}>
          <FilterBox id="node-filter" value={list.filter} onInput={list.setFilter} />
          {list.total === 0 ? (
            <p class="muted">{t('empty')}</p>
          ) : (
            <div class="topo-scroll">
              <table class="topo-nodes" data-ready="nodes">
                <thead>
                  <tr>
                    <th scope="col">{t('col.name')}</th>
                    <th scope="col">{t('col.site')}</th>
                    <th scope="col">{t('col.phase')}</th>
                    <th scope="col" class="num">
                      {t('nodes.col.cpu')}
                    </th>
                    <th scope="col" class="num">
                      {t('nodes.col.memory')}
                    </th>
                    <th scope="col" class="num">
                      {t('nodes.col.network')}
                    </th>
                    <th scope="col">{t('nodes.col.heartbeat')}</th>
                    <th scope="col">{t('nodes.col.agent')}</th>
                    <th scope="col">{t('nodes.col.runtimes')}</th>
                  </tr>
                </thead>
                <tbody>
                  {list.shown.map((n) => (
                    <NodeRow key={n.metadata.name} node={n} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <ShowMore shown={list.shown.length} total={list.total} more={list.more} />
        </Card>
      )}
    </Page>
  );
}

function NodeRow({ node: n }: { node: NodeObj }) {
  const { t } = useI18n();
  const u = n.status?.usage;
  const cap = n.spec.capacity;
  const phase = n.status?.phase ?? 'Pending';
  return (
    <tr data-node={n.metadata.name} class={phase === 'NotReady' ? 'topo-attention' : undefined}>
      <td>
        <a href={href('nodes', n.metadata.name)}>{n.metadata.name}</a> {n.spec.unschedulable && <Badge value="Cordoned" label={t('nodes.cordoned')} />}
      </td>
      <td>
        <a href={href('topology', n.spec.site)}>{n.spec.site}</a>
      </td>
      <td class="phase">
        <Badge value={phase} />
      </td>
      <td class="num">{ofCapacity(u?.cpu, cap?.cpu, 2)}</td>
      <td class="num">{ofCapacity(u?.memoryMiB, cap?.memoryMiB, 0)}</td>
      <td class="num">{u?.netRxBps === undefined && u?.netTxBps === undefined ? '–' : t('nodes.net', { rx: bytes(u?.netRxBps), tx: bytes(u?.netTxBps) })}</td>
      <td>
        <Ago at={n.status?.lastHeartbeatAt} />
      </td>
      <td>{n.status?.agent?.version ?? '–'}</td>
      <td>{n.status?.runtimes?.join(', ') ?? '–'}</td>
    </tr>
  );
}

export function NodeDetail({ name }: { name: string }) {
  const { t } = useI18n();
  const live = useLive();
  const { object: node, loaded, error } = useObject<NodeObj>(live, 'nodes', name);
  const title = t('nodes.detail.title', { name });
  if (!loaded) {
    return (
      <Page title={title}>
        <Loading />
      </Page>
    );
  }
  if (!node) return <Page title={title}>{error && error.status !== 404 ? <ErrorBox error={error} /> : <p role="status">{t('notFound', { name })}</p>}</Page>;
  const phase = node.status?.phase ?? 'Pending';
  return (
    <Page
      title={title}
      actions={
        <span class="topo-badges" role="status">
          <Badge value={phase} />
          {node.spec.unschedulable && <Badge value="Cordoned" label={t('nodes.cordoned')} />}
        </span>
      }
    >
      <p>
        <a href={href('nodes')}>{t('nodes.back')}</a>
      </p>
      <div class="columns">
        <Card title={t('nodes.detail.props')}>
          <NodeProps node={node} />
        </Card>
        <Card title={t('nodes.detail.usage')}>
          <UsageBars node={node} />
        </Card>
      </div>
      <Card title={t('nodes.detail.charts')}>
        <NodeCharts name={name} usage={node.status?.usage} />
      </Card>
      <div class="columns">
        <Card title={t('nodes.detail.history')}>
          <NodeHistory node={node} />
        </Card>
        <Card title={t('nodes.detail.instances')}>
          <NodeInstances node={name} />
        </Card>
      </div>
    </Page>
  );
}
