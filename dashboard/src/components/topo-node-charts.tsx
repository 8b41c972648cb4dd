import { useEffect, useMemo, useState } from 'preact/hooks';
import { asApiError, type ApiError } from '../api.ts';
import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { TimeChart, type ChartSeries } from './chart.tsx';
import { bytes, ErrorBox, fmt, Loading } from './ui.tsx';
import type { NodeObj } from './topo-model.ts';

type Range = '15m' | '1h' | '6h' | '24h';
const RANGE_S: Record<Range, number> = { '15m': 900, '1h': 3600, '6h': 21_600, '24h': 86_400 };
const RANGES = Object.keys(RANGE_S) as Range[];

type Usage = NonNullable<NonNullable<NodeObj['status']>['usage']>;
type Column = (number | null)[];

/** GET /api/v1/nodes/{name}/telemetry (center/dashboard/routes.ts). */
interface Telemetry {
  t: number[];
  series: { cpu?: Column; memoryMiB?: Column; netRxBps?: Column; netTxBps?: Column };
}

interface Series {
  t: number[];
  cpu: Column;
  memoryMiB: Column;
  netRxBps: Column;
  netTxBps: Column;
}

function fromApi(d: Telemetry): Series {
  const col = (c: Column | undefined) => c ?? d.t.map(() => null);
  return { t: d.t, cpu: col(d.series.cpu), memoryMiB: col(d.series.memoryMiB), netRxBps: col(d.series.netRxBps), netTxBps: col(d.series.netTxBps) };
}

/** One heartbeat's usage added at the end; points older than the range fall off the front. */
function append(s: Series, at: number, u: Usage, spanS: number): Series {
  if (s.t.length > 0 && at <= s.t[s.t.length - 1]!) return s;
  let from = 0;
  while (from < s.t.length && s.t[from]! < at - spanS) from++;
  const add = (c: Column, v: number | undefined) => [...c.slice(from), v ?? null];
  return { t: [...s.t.slice(from), at], cpu: add(s.cpu, u.cpu), memoryMiB: add(s.memoryMiB, u.memoryMiB), netRxBps: add(s.netRxBps, u.netRxBps), netTxBps: add(s.netTxBps, u.netTxBps) };
}

/**
 * History from the telemetry endpoint when the range is chosen, then kept
 * live from the Node's own heartbeats as they arrive through the watch (no
 * polling): each new status.usage becomes the next point.
 */
export function NodeCharts({ name, usage }: { name: string; usage: Usage | undefined }) {
  const { t } = useI18n();
  const live = useLive();
  const [range, setRange] = useState<Range>('1h');
  const [data, setData] = useState<Series | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  useEffect(() => {
    let cancelled = false;
    setData(null);
    setError(null);
    live.api
      .get<Telemetry>(`/api/v1/nodes/${encodeURIComponent(name)}/telemetry?range=${range}`)
      .then((d) => !cancelled && setData(fromApi(d)))
      .catch((e: unknown) => !cancelled && setError(asApiError(e)));
    return () => {
      cancelled = true;
    };
  }, [live, name, range]);

  const at = usage?.at;
  useEffect(() => {
    if (usage && at) setData((d) => d && append(d, Date.parse(at) / 1000, usage, RANGE_S[range]));
    // Only a new report moves the charts; `usage` is the same report whenever `at` is.
  }, [at]);

  const charts = useMemo(() => {
    if (!data) return null;
    const perSecond = (v: number) => `${bytes(v)}/s`;
    return {
      cpu: [{ label: t('nodes.chart.cpuSeries'), values: data.cpu, color: '#1f6feb', format: (v: number) => fmt(v, 2) }],
      memory: [{ label: t('nodes.chart.memorySeries'), values: data.memoryMiB, color: '#8250df', format: (v: number) => fmt(v, 0) }],
      network: [
        { label: t('nodes.chart.rx'), values: data.netRxBps, color: '#1a7f37', format: perSecond },
        { label: t('nodes.chart.tx'), values: data.netTxBps, color: '#bf8700', format: perSecond },
      ],
    } satisfies Record<string, ChartSeries[]>;
  }, [data, t]);

  return (
    <>
      <div class="topo-range" role="group" aria-label={t('nodes.chart.range')}>
        {RANGES.map((r) => (
          <button key={r} type="button" aria-pressed={r === range} onClick={() => setRange(r)}>
            {t(`nodes.range.${r}`)}
          </button>
        ))}
      </div>
      {error && <ErrorBox error={error} />}
      {!data && !error && <Loading />}
      {data && charts && data.t.length === 0 && <p class="muted">{t('nodes.chart.empty')}</p>}
      {data && charts && data.t.length > 0 && (
        <div class="topo-charts">
          <TimeChart label={t('nodes.chart.cpu')} t={data.t} series={charts.cpu} />
          <TimeChart label={t('nodes.chart.memory')} t={data.t} series={charts.memory} />
          <TimeChart label={t('nodes.chart.network')} t={data.t} series={charts.network} />
        </div>
      )}
    </>
  );
}
