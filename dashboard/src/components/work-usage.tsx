import { useEffect, useMemo, useState } from 'preact/hooks';
import { asApiError, type ApiError } from '../api.ts';
import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { TimeChart } from './chart.tsx';
import { Card, ErrorBox, Loading, fmt } from './ui.tsx';

const RANGES = ['15m', '1h', '6h', '24h'] as const;
type Range = (typeof RANGES)[number];

interface Telemetry {
  resolutionS: number;
  t: number[];
  series: { cpu?: (number | null)[]; memoryMiB?: (number | null)[] };
}

/**
 * An instance's CPU and memory history. Samples arrive with its node's
 * heartbeat, which also rewrites the Node object: the chart fetches again
 * when that node changes in the watch stream, not on a timer.
 */
export function InstanceUsage({ project, name, node }: { project: string; name: string; node: string | undefined }) {
  const { t } = useI18n();
  const live = useLive();
  const [range, setRange] = useState<Range>('1h');
  const [state, setState] = useState<{ data: Telemetry | null; error: ApiError | null }>({ data: null, error: null });

  useEffect(() => {
    let cancelled = false;
    const url = `/api/v1/instances/${encodeURIComponent(name)}/telemetry?project=${encodeURIComponent(project)}&range=${range}`;
    const load = () =>
      live.api.get<Telemetry>(url).then(
        (data) => !cancelled && setState({ data, error: null }),
        (e: unknown) => !cancelled && setState((s) => ({ data: s.data, error: asApiError(e) })),
      );
    void load();
    const off = live.onChange(['nodes'], (l) => {
      if (l.object.metadata.name === node) void load();
    });
    return () => {
      cancelled = true;
      off();
    };
  }, [live, project, name, node, range]);

  const { data, error } = state;
  const cpu = useMemo(() => [{ label: t('workloads.usage.cpu'), values: data?.series.cpu ?? [], color: '#1f6feb', format: (v: number) => fmt(v, 3) }], [data, t]);
  const mem = useMemo(() => [{ label: t('workloads.usage.memory'), values: data?.series.memoryMiB ?? [], color: '#8250df', format: (v: number) => `${fmt(v)} MiB` }], [data, t]);

  return (
    <Card title={t('workloads.usage.title')}>
      <div class="filter">
        <label for="work-range">{t('workloads.usage.range')}</label>
        <select id="work-range" value={range} onChange={(e) => setRange((e.target as HTMLSelectElement).value as Range)}>
          {RANGES.map((r) => (
            <option key={r} value={r}>
              {t(`workloads.range.${r}`)}
            </option>
          ))}
        </select>
      </div>
      {error && <ErrorBox error={error} />}
      {!data ? (
        !error && <Loading />
      ) : data.t.length === 0 ? (
        <p class="muted">{t('workloads.usage.none')}</p>
      ) : (
        <div class="work-charts">
          <TimeChart label={t('workloads.usage.cpu')} t={data.t} series={cpu} />
          <TimeChart label={t('workloads.usage.memory')} t={data.t} series={mem} />
        </div>
      )}
    </Card>
  );
}
