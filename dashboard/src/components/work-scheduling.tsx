import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { useI18n } from '../i18n/index.ts';
import { href } from '../router.ts';
import { Ago, fmt } from './ui.tsx';
import type { SchedulingExplanation } from '../../../core/placement-schema.ts';

/** The scheduler's explained decision, as core/placement-schema.ts has it (types only). */
export type { SchedulingExplanation };
export type Candidate = SchedulingExplanation['candidates'][number];

/** The chosen node's strongest score plugins, best first ("spread 100, leastAllocated 100"). */
function topScores(c: Candidate | undefined, n = 3): string {
  if (!c?.scores) return '';
  return Object.entries(c.scores)
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(', ');
}

/** The distinct reasons other nodes were filtered out. */
function rejections(s: SchedulingExplanation): string[] {
  return [...new Set(s.candidates.filter((c) => c.verdict !== 'fit').map((c) => c.verdict))];
}

/**
 * A `<details>` whose content is built only once opened: a replica table of a
 * few hundred rows would otherwise render every breakdown nobody looks at.
 */
export function Disclosure({ summary, children }: { summary: ComponentChildren; children: () => ComponentChildren }) {
  const [open, setOpen] = useState(false);
  return (
    <details class="work-disclosure" onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary>{summary}</summary>
      {open && children()}
    </details>
  );
}

/** One line of why an instance is where it is, with the full breakdown behind a disclosure. */
export function PlacementWhy({ s }: { s: SchedulingExplanation | undefined }) {
  const { t } = useI18n();
  if (!s) return <span class="muted">{t('workloads.sched.none')}</span>;
  const chosen = s.candidates.find((c) => c.node === s.node);
  const rejected = rejections(s);
  return (
    <div class="work-why">
      <span>{s.summary}</span>
      {chosen?.total !== undefined && <span class="muted"> · {t('workloads.sched.scoreOf', { score: fmt(chosen.total), top: topScores(chosen) })}</span>}
      {rejected.length > 0 && <span class="muted"> · {t('workloads.sched.rejectedBy', { reasons: rejected.slice(0, 2).join('; ') })}</span>}
      <Disclosure summary={t('workloads.sched.details')}>{() => <CandidateTable s={s} />}</Disclosure>
    </div>
  );
}

/** The whole explanation: policy, decision, and every candidate with its scores. */
export function SchedulingDetail({ s }: { s: SchedulingExplanation | undefined }) {
  const { t } = useI18n();
  if (!s) return <p class="muted">{t('workloads.sched.none')}</p>;
  return (
    <>
      <dl class="props">
        <dt>{t('workloads.sched.decision')}</dt>
        <dd>{s.node ? <a href={href('nodes', s.node)}>{s.node}</a> : <span class="bad">{t('workloads.sched.unplaced')}</span>}</dd>
        <dt>{t('workloads.sched.summary')}</dt>
        <dd>{s.summary}</dd>
        <dt>{t('workloads.sched.policy')}</dt>
        <dd>{s.policy}</dd>
        {s.nominatedNode && (
          <>
            <dt>{t('workloads.sched.nominated')}</dt>
            <dd>
              <a href={href('nodes', s.nominatedNode)}>{s.nominatedNode}</a>
            </dd>
          </>
        )}
        <dt>{t('workloads.sched.at')}</dt>
        <dd>
          <Ago at={s.at} />
        </dd>
      </dl>
      <CandidateTable s={s} />
    </>
  );
}

function CandidateTable({ s }: { s: SchedulingExplanation }) {
  const { t } = useI18n();
  // Columns are the score plugins any candidate reported, in first-seen order.
  const plugins = [...new Set(s.candidates.flatMap((c) => Object.keys(c.scores ?? {})))];
  return (
    <div class="work-scroll">
      <table class="work-candidates">
        <caption class="sr-only">{t('workloads.sched.candidates')}</caption>
        <thead>
          <tr>
            <th scope="col">{t('col.node')}</th>
            <th scope="col">{t('col.site')}</th>
            <th scope="col">{t('workloads.sched.verdict')}</th>
            <th scope="col" class="num">
              {t('workloads.sched.latency')}
            </th>
            {plugins.map((p) => (
              <th scope="col" class="num" key={p}>
                {t('workloads.sched.score', { name: p })}
              </th>
            ))}
            <th scope="col" class="num">
              {t('workloads.sched.total')}
            </th>
          </tr>
        </thead>
        <tbody>
          {s.candidates.map((c) => (
            <tr key={c.node} class={c.node === s.node ? 'work-chosen' : ''}>
              <td>
                <a href={href('nodes', c.node)}>{c.node}</a>
                {c.node === s.node && <span class="work-tag"> {t('workloads.sched.chosen')}</span>}
              </td>
              <td>{c.site}</td>
              <td class={c.verdict === 'fit' ? '' : 'bad'}>{c.verdict === 'fit' ? t('workloads.sched.fit') : c.verdict}</td>
              <td class="num">{c.latencyMs === null || c.latencyMs === undefined ? '–' : `${fmt(c.latencyMs)} ms`}</td>
              {plugins.map((p) => (
                <td class="num" key={p}>
                  {fmt(c.scores?.[p])}
                </td>
              ))}
              <td class="num">{fmt(c.total)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {s.omitted > 0 && <p class="muted">{t('workloads.sched.omitted', { n: s.omitted })}</p>}
    </div>
  );
}
