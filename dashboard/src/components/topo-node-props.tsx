import { useI18n } from '../i18n/index.ts';
import { href } from '../router.ts';
import { Ago, Badge, bytes, fmt } from './ui.tsx';
import type { NodeObj, Uplink } from './topo-model.ts';

/** What the node is and how its agent last reported in. */
export function NodeProps({ node }: { node: NodeObj }) {
  const { t } = useI18n();
  const s = node.status;
  const cap = node.spec.capacity;
  const accel = Object.entries(cap?.accelerators ?? {});
  return (
    <dl class="props">
      <dt>{t('col.site')}</dt>
      <dd>
        <a href={href('topology', node.spec.site)}>{node.spec.site}</a>
      </dd>
      <dt>{t('col.phase')}</dt>
      <dd>
        <Badge value={s?.phase ?? 'Pending'} />
      </dd>
      <dt>{t('nodes.prop.since')}</dt>
      <dd>
        <Ago at={s?.since} />
      </dd>
      <dt>{t('nodes.col.heartbeat')}</dt>
      <dd>
        <Ago at={s?.lastHeartbeatAt} />
      </dd>
      <dt>{t('nodes.col.agent')}</dt>
      <dd>{s?.agent ? t('nodes.prop.agentValue', { ...s.agent, pid: String(s.agent.pid) }) : '–'}</dd>
      <dt>{t('nodes.col.runtimes')}</dt>
      <dd>{s?.runtimes?.join(', ') ?? '–'}</dd>
      <dt>{t('nodes.prop.mqtt')}</dt>
      <dd>{s?.mqtt ? <code>{mqttListeners(s.mqtt)}</code> : <span class="muted">{t('nodes.prop.noMqtt')}</span>}</dd>
      {s?.uplink && (
        <>
          <dt>{t('nodes.prop.uplink')}</dt>
          <dd>
            <UplinkStatus uplink={s.uplink} />
          </dd>
        </>
      )}
      <dt>{t('nodes.prop.scheduling')}</dt>
      <dd>{node.spec.unschedulable ? <Badge value="Cordoned" label={t('nodes.cordoned')} /> : t('nodes.prop.schedulable')}</dd>
      <dt>{t('nodes.prop.taints')}</dt>
      <dd>
        {node.spec.taints?.length ? (
          <ul class="topo-plain">
            {node.spec.taints.map((x) => (
              <li key={x.key}>
                <code>{`${x.key}${x.value ? `=${x.value}` : ''}:${x.effect ?? 'NoSchedule'}`}</code>
              </li>
            ))}
          </ul>
        ) : (
          <span class="muted">{t('nodes.prop.none')}</span>
        )}
      </dd>
      <dt>{t('nodes.prop.capacity')}</dt>
      <dd>
        {cap && (cap.cpu || cap.memoryMiB || cap.diskMiB) ? (
          t('nodes.prop.capacityValue', { cpu: fmt(cap.cpu, 2), memory: fmt(cap.memoryMiB, 0), disk: bytes(cap.diskMiB * 1024 * 1024) })
        ) : (
          <span class="muted">{t('nodes.prop.noCapacity')}</span>
        )}
        {accel.length > 0 && <div class="muted">{accel.map(([k, v]) => `${k}: ${v}`).join(', ')}</div>}
      </dd>
    </dl>
  );
}

function UplinkStatus({ uplink: u }: { uplink: Uplink }) {
  const { t } = useI18n();
  const dropped = u.droppedOverflow + u.droppedExpired + u.droppedRouteGone;
  return (
    <>
      <div>{t('nodes.uplink.depth', { n: u.depthMessages, size: bytes(u.depthBytes), oldest: fmt(u.oldestAgeMs / 1000, 0), peak: u.peakDepthMessages })}</div>
      <div class={dropped > 0 || u.blocked > 0 ? 'bad' : 'muted'}>{t('nodes.uplink.counts', { delivered: u.delivered, dropped, blocked: u.blocked })}</div>
      <div class="muted">
        {t('nodes.uplink.policy', { overflow: u.overflow, max: bytes(u.maxBytes) })} · <Ago at={u.at} />
      </div>
    </>
  );
}

/** Usage against capacity; a node that reported no capacity shows just the number. */
export function UsageBars({ node }: { node: NodeObj }) {
  const { t } = useI18n();
  const u = node.status?.usage;
  const cap = node.spec.capacity;
  if (!u) return <p class="muted">{t('nodes.usage.none')}</p>;
  const rows = [
    { id: 'cpu', label: t('nodes.usage.cpu'), used: u.cpu, max: cap?.cpu ?? 0, text: (v: number) => t('nodes.usage.cores', { n: fmt(v, 2) }) },
    { id: 'memory', label: t('nodes.usage.memory'), used: u.memoryMiB, max: cap?.memoryMiB ?? 0, text: (v: number) => bytes(v * 1024 * 1024) },
    { id: 'disk', label: t('nodes.usage.disk'), used: u.diskMiB, max: cap?.diskMiB ?? 0, text: (v: number) => bytes(v * 1024 * 1024) },
  ];
  return (
    <>
      <div class="topo-usage">
        {rows.map((r) => {
          const summary = r.max > 0 ? t('nodes.usage.of', { used: r.text(r.used), max: r.text(r.max), pct: Math.round((100 * r.used) / r.max) }) : t('nodes.usage.noCapacity', { used: r.text(r.used) });
          return (
            <div key={r.id} class="topo-usage-row">
              {r.max > 0 ? (
                <>
                  <label for={`usage-${r.id}`}>{r.label}</label>
                  <meter id={`usage-${r.id}`} min={0} max={r.max} value={r.used} low={r.max * 0.7} high={r.max * 0.9} optimum={0} aria-valuetext={summary} />
                </>
              ) : (
                <>
                  <span>{r.label}</span>
                  <span />
                </>
              )}
              <span class="num">{summary}</span>
            </div>
          );
        })}
      </div>
      <p class="muted">
        {t('nodes.usage.at')} <Ago at={u.at} />
      </p>
    </>
  );
}

/** The edge broker's listeners, encrypted first: mqtts://host:port · wss :port · mqtt (plain) :port · ws (plain) :port. */
function mqttListeners(m: { host: string; tcp?: number; ws?: number; tls?: number; wss?: number }): string {
  const parts = [m.tls && `mqtts://${m.host}:${m.tls}`, m.wss && `wss :${m.wss}`, m.tcp && `mqtt://${m.host}:${m.tcp} (plain)`, m.ws && `ws :${m.ws} (plain)`];
  return parts.filter(Boolean).join(' · ');
}
