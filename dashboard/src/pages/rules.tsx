import { useMemo } from 'preact/hooks';
import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { useCollection, useObject } from '../live.ts';
import { href } from '../router.ts';
import { Ago, Badge, Card, ErrorBox, FilterBox, Loading, Page, ShowMore, fmt, useFiltered } from '../components/ui.tsx';
import { useMeaningfulPaint } from '../components/paint.ts';
import { involvedKey, ObjectEvents } from '../components/work-events.tsx';
import { projectOf } from '../components/work-model.tsx';
import { actionSummary, ruleTotals, targetSummary, type Rule, type RuleNodeStatus } from '../components/work-rule-model.tsx';

const byProjectName = (a: Rule, b: Rule) => projectOf(a).localeCompare(projectOf(b)) || a.metadata.name.localeCompare(b.metadata.name);
// Rule latencies are often microseconds: keep three decimals below 1 ms.
const ms = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${fmt(v, v < 1 ? 3 : 1)} ms`);

export function Rules({ project, name }: { project?: string; name?: string }) {
  return project && name ? <RuleDetail project={project} name={name} /> : <RuleList />;
}

function Paused({ r }: { r: Rule }) {
  const { t } = useI18n();
  return r.spec.paused ? <Badge value="Paused" label={t('edge.rule.paused')} /> : <span class="muted">{t('edge.rule.active')}</span>;
}

function RuleList() {
  const { t } = useI18n();
  const live = useLive();
  const { items, loaded, error } = useCollection<Rule>(live, 'rules');
  const rows = useMemo(() => [...items].sort(byProjectName).map((r) => ({ r, sum: ruleTotals(r) })), [items]);
  const { filter, setFilter, shown, total, more } = useFiltered(rows, ({ r }) => `${r.metadata.name} ${projectOf(r)} ${targetSummary(t, r.spec.target)}`);
  useMeaningfulPaint('rules', loaded);
  const num = (n: number, bad = false) => <td class={`num${bad && n > 0 ? ' bad' : ''}`}>{fmt(n, 0)}</td>;
  return (
    <Page title={t('edge.rules.title')}>
      {error && <ErrorBox error={error} />}
      {!loaded ? (
        !error && <Loading />
      ) : (
        <Card title={t('edge.rules.list', { n: items.length })}>
          <FilterBox id="work-rules-filter" value={filter} onInput={setFilter} />
          {total === 0 ? (
            <p class="muted">{t('empty')}</p>
          ) : (
            <div class="work-scroll">
              <table data-ready="rules">
                <thead>
                  <tr>
                    <th scope="col">{t('col.name')}</th>
                    <th scope="col">{t('col.project')}</th>
                    <th scope="col">{t('edge.col.state')}</th>
                    <th scope="col">{t('edge.col.target')}</th>
                    <th scope="col" class="num">{t('edge.col.nodes')}</th>
                    <th scope="col" class="num">{t('edge.col.in')}</th>
                    <th scope="col" class="num">{t('edge.col.out')}</th>
                    <th scope="col" class="num">{t('edge.col.dropped')}</th>
                    <th scope="col" class="num">{t('edge.col.late')}</th>
                    <th scope="col" class="num">{t('edge.col.sinkErrors')}</th>
                    <th scope="col" class="num">{t('edge.col.pending')}</th>
                    <th scope="col" class="num">{t('edge.col.worstP99')}</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map(({ r, sum }) => (
                    <tr key={`${projectOf(r)}/${r.metadata.name}`} data-rule={r.metadata.name}>
                      <td>
                        <a href={href('rules', projectOf(r), r.metadata.name)}>{r.metadata.name}</a>
                      </td>
                      <td>{projectOf(r)}</td>
                      <td>
                        <Paused r={r} />
                        {sum.failed > 0 && (
                          <>
                            {' '}
                            <Badge value="Failed" label={t('edge.rule.failedOn', { n: sum.failed })} />
                          </>
                        )}
                      </td>
                      <td>{targetSummary(t, r.spec.target)}</td>
                      {num(sum.nodes)}
                      {num(sum.in)}
                      {num(sum.out)}
                      {num(sum.dropped, true)}
                      {num(sum.late, true)}
                      {num(sum.sinkErrors, true)}
                      {num(sum.pending, true)}
                      <td class="num">{ms(sum.p99)}</td>
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

function RuleDetail({ project, name }: { project: string; name: string }) {
  const { t } = useI18n();
  const live = useLive();
  const { object: r, loaded, error } = useObject<Rule>(live, 'rules', name, project);
  const eventKeys = useMemo(() => new Set([involvedKey('Rule', name, project)]), [name, project]);
  useMeaningfulPaint('rule', r !== null);
  if (!r)
    return (
      <Page title={name}>
        {error ? <ErrorBox error={error} /> : loaded ? <p>{t('notFound', { name })}</p> : <Loading />}
      </Page>
    );
  const nodes = Object.entries(r.status?.nodes ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const tables = Object.keys(r.spec.tables ?? {});
  return (
    <Page title={name} actions={<Paused r={r} />}>
      <p class="muted">
        <a href={href('rules')}>{t('edge.rules.title')}</a> / {project}
      </p>
      <Card title={t('edge.rule.sql')}>
        <pre class="work-sql" tabIndex={0} aria-label={t('edge.rule.sql')}>
          {r.spec.sql}
        </pre>
      </Card>
      <div class="columns">
        <Card title={t('edge.rule.actions')}>
          <ol class="work-actions">
            {r.spec.actions.map((a, i) => {
              const { kind, detail } = actionSummary(a);
              return (
                <li key={i}>
                  <strong>{kind}</strong> <code class="work-wrap">{detail}</code>
                </li>
              );
            })}
          </ol>
        </Card>
        <Card title={t('edge.rule.where')}>
          <dl class="props">
            <dt>{t('edge.col.target')}</dt>
            <dd>{targetSummary(t, r.spec.target)}</dd>
            <dt>{t('edge.rule.tables')}</dt>
            <dd>{tables.length ? tables.join(', ') : '–'}</dd>
            <dt>{t('edge.rule.retry')}</dt>
            <dd>{t('edge.rule.retryText', { initial: r.spec.retry.initialBackoff, max: r.spec.retry.maxBackoff, queue: r.spec.retry.maxQueue })}</dd>
          </dl>
        </Card>
      </div>
      <Card title={t('edge.rule.perNode', { n: nodes.length })}>{nodes.length === 0 ? <p class="muted">{t('edge.rule.noNodes')}</p> : <NodeTable nodes={nodes} />}</Card>
      {nodes.some(([, n]) => n.lastDropped || n.lastSinkError) && <LastProblems nodes={nodes} />}
      <ObjectEvents keys={eventKeys} />
    </Page>
  );
}

function NodeTable({ nodes }: { nodes: [string, RuleNodeStatus][] }) {
  const { t } = useI18n();
  const cols = ['in', 'out', 'filtered', 'dropped', 'late', 'sinkErrors', 'pending', 'groups'] as const;
  const warn = new Set(['dropped', 'late', 'sinkErrors', 'pending']);
  return (
    <div class="work-scroll">
      <table data-rule-nodes>
        <thead>
          <tr>
            <th scope="col">{t('col.node')}</th>
            <th scope="col">{t('col.phase')}</th>
            {cols.map((c) => (
              <th scope="col" class="num" key={c}>
                {t(`edge.col.${c}`)}
              </th>
            ))}
            <th scope="col" class="num">p50</th>
            <th scope="col" class="num">p99</th>
            <th scope="col">{t('edge.col.reported')}</th>
          </tr>
        </thead>
        <tbody>
          {nodes.map(([node, n]) => (
            <tr key={node} data-node={node}>
              <td>
                <a href={href('nodes', node)}>{node}</a>
              </td>
              <td>
                <Badge value={n.phase} label={t(`edge.rulePhase.${n.phase}`)} />
                {n.message && <div class="muted">{n.message}</div>}
              </td>
              {cols.map((c) => (
                <td key={c} class={`num${warn.has(c) && n[c] > 0 ? ' bad' : ''}`}>
                  {fmt(n[c], 0)}
                </td>
              ))}
              <td class="num">{ms(n.latencyMs.p50)}</td>
              <td class="num">{ms(n.latencyMs.p99)}</td>
              <td>
                <Ago at={n.reportedAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The last message each node dropped (with a sample of it) and its last failed action. */
function LastProblems({ nodes }: { nodes: [string, RuleNodeStatus][] }) {
  const { t } = useI18n();
  return (
    <Card title={t('edge.rule.problems')}>
      {nodes.map(([node, n]) =>
        n.lastDropped || n.lastSinkError ? (
          <section key={node} class="work-problem" aria-label={node}>
            <h3 class="work-h3">{node}</h3>
            <dl class="props">
              {n.lastDropped && (
                <>
                  <dt>{t('edge.rule.lastDropped')}</dt>
                  <dd>
                    {n.lastDropped.reason} · <code>{n.lastDropped.topic}</code> · <Ago at={n.lastDropped.at} />
                  </dd>
                  <dt>{t('edge.rule.sample')}</dt>
                  <dd>
                    <pre class="work-sample">{n.lastDropped.sample}</pre>
                  </dd>
                </>
              )}
              {n.lastSinkError && (
                <>
                  <dt>{t('edge.rule.lastSinkError')}</dt>
                  <dd>
                    <strong>{n.lastSinkError.action}</strong>: {n.lastSinkError.message} · <Ago at={n.lastSinkError.at} />
                  </dd>
                </>
              )}
            </dl>
          </section>
        ) : null,
      )}
    </Card>
  );
}
