import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useI18n } from '../i18n/index.ts';

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  color: string;
  /** Formats axis ticks and the legend value. */
  format?: (v: number) => string;
}

/**
 * A time-series line chart (uPlot, canvas). `t` is in epoch seconds. The
 * figure has a text alternative: its label and the latest value of each
 * series, so the numbers are there without the picture.
 */
export function TimeChart({ label, t, series, height = 180 }: { label: string; t: number[]; series: ChartSeries[]; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const { t: tr, lang } = useI18n();
  const shape = `${lang}|${series.map((s) => s.label).join('|')}`;

  useEffect(() => {
    const el = box.current!;
    const fmt = series[0]?.format ?? ((v: number) => String(v));
    // Times in the page's language, not uPlot's built-in English formats.
    const hm = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' });
    const full = new Intl.DateTimeFormat(lang, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
      axes: [
        { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.2)' }, values: (_u, ticks) => ticks.map((s) => hm.format(s * 1000)) },
        { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.2)' }, size: 84, values: (_u, ticks) => ticks.map(fmt) },
      ],
      series: [{ label: tr('chart.time'), value: (_u: uPlot, v: number | null) => (v === null ? '–' : full.format(v * 1000)) }, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, spanGaps: false, value: (_u: uPlot, v: number | null) => (v === null ? '–' : (s.format ?? fmt)(v)) }))],
    };
    plot.current = new uPlot(opts, [t, ...series.map((s) => s.values)] as uPlot.AlignedData, el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // Rebuilt only when the set of series changes; data updates go through setData below.
  }, [shape, height]);

  useEffect(() => {
    plot.current?.setData([t, ...series.map((s) => s.values)] as uPlot.AlignedData);
  }, [t, series]);

  const latest = series.map((s) => {
    const v = [...s.values].reverse().find((x) => x !== null);
    return `${s.label}: ${v === undefined || v === null ? '–' : (s.format ?? String)(v)}`;
  });
  return (
    <figure class="chart" role="group" aria-label={label}>
      <figcaption>{label}</figcaption>
      <div ref={box} aria-hidden="true" />
      <p class="sr-only">{latest.join(', ')}</p>
    </figure>
  );
}
