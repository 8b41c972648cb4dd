import type { Logger } from 'pino';
import { nowIso, ruleTargets, type EgressPolicy, type Rule, type RuleNodeStatus, type TargetSubject, projectOf, projectKey } from '../../core/index.ts';
import { Engine, type CheckpointStore, type RuleState } from '../../engine/index.ts';
import type { BrokerMessage, EdgeBroker } from '../../broker/index.ts';
import type { NodeModels } from '../models/model-client.ts';
import type { LocalState } from '../local-state.ts';
import type { UplinkQueue } from '../uplink/index.ts';
import { ActionRunner } from './actions.ts';

export interface RuleHostDeps {
  node: string;
  state: LocalState;
  broker?: EdgeBroker;
  uplink?: UplinkQueue;
  /** A device's twin row for JOIN twins. */
  twin?(project: string, device: string): Record<string, unknown> | undefined;
  logger: Logger;
  /** Where webhooks may go. */
  egress: EgressPolicy;
  /** Where this node serves model Services (infer actions). */
  models?: NodeModels;
  /** How often open windows are saved besides when windows close; default 1 s. */
  checkpointMs?: number;
}

interface Hosted {
  rule: Rule;
  /** The spec parts that make the engine's rule, and the actions', to tell what an update changed. */
  query: string;
  effects: string;
  actions: ActionRunner[];
  phase: RuleNodeStatus['phase'];
  message?: string;
}

/**
 * Runs, on this node, the rules that target it: keeps the engine's rules
 * and their actions in step with the synced Rule objects, feeds the engine
 * from the edge broker, saves window state in local state, and reports each
 * rule's state and counters for the Rule's status.
 */
export class RuleHost {
  private readonly engine: Engine;
  private readonly hosted = new Map<string, Hosted>();
  private readonly timer: NodeJS.Timeout;
  /** The last report sent per rule (without its time), to send only changes. */
  private readonly sent = new Map<string, string>();
  /** Rules this node stopped running, to be reported gone once. */
  private readonly gone = new Map<string, Rule>();

  constructor(private readonly deps: RuleHostDeps) {
    const checkpoints: CheckpointStore = {
      load: (rule) => deps.state.record('rule_state', rule) as RuleState | undefined,
      save: (rule, st) => deps.state.putRecord('rule_state', rule, st),
      drop: (rule) => deps.state.deleteRecord('rule_state', rule),
    };
    this.engine = new Engine({
      checkpoints,
      twin: deps.twin,
      emit: (rule, rows, hops) => {
        for (const a of this.hosted.get(rule)?.actions ?? []) a.send(rows, hops);
      },
    });
    this.timer = setInterval(() => this.engine.checkpoint(), deps.checkpointMs ?? 1000);
    this.timer.unref();
  }

  /** Every accepted publish on the edge broker (synchronous and cheap when no rule matches). */
  ingest(msg: BrokerMessage): void {
    this.engine.ingest(msg.project, msg.topic, msg.payload, msg.device ?? null, msg.origin);
  }

  /** Brings the running rules in line with the synced ones and this node's Node and Site. */
  sync(rules: Rule[], own: TargetSubject): void {
    const wanted = new Map(rules.filter((r) => ruleTargets(r.spec.target, own)).map((r) => [projectKey(r), r]));
    for (const [key, h] of this.hosted) {
      if (wanted.has(key)) continue;
      this.engine.remove(projectOf(h.rule), h.rule.metadata.name);
      for (const a of h.actions) a.stop();
      this.hosted.delete(key);
      this.sent.delete(key);
      this.gone.set(key, h.rule);
    }
    for (const [key, rule] of wanted) this.put(key, rule);
  }

  /** Every rule run here with its phase and counters now (read by /metrics too: no side effects). */
  current(): { key: string; project: string; rule: string; status: Omit<RuleNodeStatus, 'reportedAt'> }[] {
    const metrics = new Map(this.engine.metrics().map((m) => [m.rule, m.metrics]));
    return [...this.hosted].map(([key, h]) => {
      const m = metrics.get(key) ?? { in: 0, out: 0, filtered: 0, dropped: 0, late: 0, sinkErrors: 0, groups: 0, latencyMs: { count: 0, sum: 0, max: 0, p50: null, p99: null, buckets: [] } };
      return { key, project: projectOf(h.rule), rule: h.rule.metadata.name, status: { phase: h.phase, ...(h.message && { message: h.message }), ...m, pending: h.actions.reduce((n, a) => n + a.pending, 0) } };
    });
  }

  /** Reports of the rules whose state or counters changed since the last call (all of them with `all`), and of those no longer run here (null). */
  reports(all = false): { project: string; rule: string; status: RuleNodeStatus | null }[] {
    const out: { project: string; rule: string; status: RuleNodeStatus | null }[] = [];
    for (const [key, rule] of this.gone) {
      if (!this.hosted.has(key)) out.push({ project: projectOf(rule), rule: rule.metadata.name, status: null });
    }
    this.gone.clear();
    for (const { key, project, rule, status } of this.current()) {
      const text = JSON.stringify(status);
      if (!all && this.sent.get(key) === text) continue;
      this.sent.set(key, text);
      out.push({ project, rule, status: { ...status, reportedAt: nowIso() } });
    }
    return out;
  }

  /** Saves every rule's windows and stops; a restart resumes them. */
  stop(): void {
    clearInterval(this.timer);
    this.engine.stop();
    for (const h of this.hosted.values()) for (const a of h.actions) a.stop();
    this.hosted.clear();
  }

  private put(key: string, rule: Rule): void {
    const project = projectOf(rule);
    const name = rule.metadata.name;
    const spec = rule.spec;
    const query = JSON.stringify([spec.sql, spec.tables]);
    const effects = JSON.stringify([spec.actions, spec.retry]);
    const prev = this.hosted.get(key);
    if (prev && prev.query === query && prev.effects === effects && (prev.phase === 'Paused') === spec.paused) {
      prev.rule = rule;
      return;
    }
    let actions = prev?.actions ?? [];
    if (!prev || prev.effects !== effects) {
      for (const a of actions) a.stop();
      actions = spec.actions.map(
        (a) =>
          new ActionRunner({ project, name, key }, a, spec.retry, {
            broker: this.deps.broker,
            uplink: this.deps.uplink,
            models: this.deps.models,
            logger: this.deps.logger,
            egress: this.deps.egress,
            onError: (action, message) => this.engine.sinkError(key, action, message),
            onDrop: (action, rows) => this.engine.sinkError(key, action, `${rows} result row(s) dropped: the action's queue is full`),
          }),
      );
    }
    const h: Hosted = { rule, query, effects, actions, phase: 'Running' };
    this.hosted.set(key, h);
    if (spec.paused) {
      // Paused keeps its windows: saved now, resumed (closing what ended meanwhile) when unpaused.
      this.engine.remove(project, name, { keepState: true });
      h.phase = 'Paused';
      return;
    }
    if (!this.deps.broker) {
      h.phase = 'Failed';
      h.message = 'this node runs no edge broker (start the agent with --mqtt-listen)';
      return;
    }
    try {
      this.engine.apply({ project, name, sql: spec.sql, tables: spec.tables });
    } catch (err) {
      // The center checked the SQL; an agent of another version may still disagree.
      h.phase = 'Failed';
      h.message = (err as Error).message;
      this.deps.logger.warn({ rule: key, err: h.message }, 'rule not started');
    }
  }
}
