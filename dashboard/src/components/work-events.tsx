import { useMemo } from 'preact/hooks';
import type { Obj } from '../api.ts';
import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { useCollection } from '../live.ts';
import { Ago, Badge, Card, ErrorBox, Loading, ShowMore, useFiltered } from './ui.tsx';

type EventSpec = {
  involved: { kind: string; name: string; project?: string };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  at: string;
};
type GedgeEvent = Obj<EventSpec>;

/** `Kind/project/name`: how the events of an object are picked out. */
export function involvedKey(kind: string, name: string, project?: string): string {
  return `${kind}/${project ?? ''}/${name}`;
}

/** The events of the objects in `keys` (see involvedKey), newest first, live. */
export function ObjectEvents({ keys }: { keys: ReadonlySet<string> }) {
  const { t } = useI18n();
  const live = useLive();
  const { items, loaded, error } = useCollection<GedgeEvent>(live, 'events');
  const mine = useMemo(() => {
    const out = items.filter((e) => keys.has(involvedKey(e.spec.involved.kind, e.spec.involved.name, e.spec.involved.project)));
    return out.sort((a, b) => (a.spec.at < b.spec.at ? 1 : a.spec.at > b.spec.at ? -1 : 0));
  }, [items, keys]);
  const { shown, total, more } = useFiltered(mine, (e) => e.spec.reason, 25);
  // Several objects (a service and its replicas): say which one each event is about.
  const several = keys.size > 1;
  return (
    <Card title={t('events.title')}>
      {error && <ErrorBox error={error} />}
      {!loaded && !error ? (
        <Loading />
      ) : total === 0 ? (
        <p class="muted">{t('events.none')}</p>
      ) : (
        <ul class="events" data-events>
          {shown.map((e) => (
            <li key={e.metadata.name}>
              <Badge value={e.spec.type} label={e.spec.type === 'Warning' ? t('workloads.events.warning', { reason: e.spec.reason }) : e.spec.reason} /> {several && <span class="object">{e.spec.involved.kind}/{e.spec.involved.name}</span>} <Ago at={e.spec.at} />
              {e.spec.message && <div class="message">{e.spec.message}</div>}
            </li>
          ))}
        </ul>
      )}
      <ShowMore shown={shown.length} total={total} more={more} />
    </Card>
  );
}
