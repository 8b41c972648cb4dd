import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { durationMs, nowIso, type AgentEvent, type Instance, type InferenceStatus, type InstanceStatus, nameKey, projectOf } from '../core/index.ts';
import { ExecFailedError } from './runtime/errors.ts';
import type { ExecOptions, ExecSession, RunSpec, Runtime } from './runtime/runtime.ts';
import { InstanceSupervisor } from './runtime/supervisor.ts';
import { InferenceSampler } from './models/inference-stats.ts';
import { postInfer, type InferResponse, type ModelEndpoint } from './models/model-client.ts';
import { InstanceGate, readEvaluation, topClass } from './models/model-gate.ts';
import { StartFailedError } from './runtime/errors.ts';
import { readLog } from './runtime/log-files.ts';
import type { LogReadOptions } from './runtime/runtime.ts';
import type { LocalInstance, LocalState } from './local-state.ts';
import { instanceId } from './sync.ts';
import type { WorkloadUsers } from './workload-users.ts';

/** One instance this node runs: its supervisor, and for a model its serving figures and, as a gated rollout's candidate, its gate. */
interface Running {
  sup: InstanceSupervisor;
  li: LocalInstance;
  spec: RunSpec;
  runtime: Runtime;
  inference?: InferenceStatus;
  gate?: InstanceGate;
  /** A shadowed request is on its way to it. */
  mirroring?: boolean;
}

/** The instance part of a sync step. */
export interface InstanceStep {
  put: Instance[];
  /** Instance ids. */
  remove: string[];
  replaceAll: boolean;
}

export interface WorkloadsDeps {
  /** By template.runtime; a kind missing here fails its instances with a clear message. */
  runtimes: Partial<Record<string, Runtime>>;
  state: LocalState;
  dataDir: string;
  /** Who process workloads run as (workload-users.ts). */
  users: WorkloadUsers;
  logger: Logger;
  onStatus: (instance: Instance, status: InstanceStatus) => void;
  onEvent: (e: AgentEvent) => void;
  /** How often model instances' serving figures are sampled into their status (default 5 s). */
  inferenceEveryMs?: number;
  /** A split head's figures on this node (split-inference.ts), added to its serving figures. */
  splitCounters?: (project: string, instance: string) => InferenceStatus['split'];
  /** Where an instance of a Service with continuity reaches the session-state API, and its token (agent/sessions). */
  sessionEnv?: (project: string, instance: string) => Record<string, string>;
}

/**
 * The node's desired instances made real: one supervisor each. Desired state
 * is written to local state before anything is started or stopped, so a crash
 * at any point leaves a state that a restart converges from.
 */
export class Workloads {
  private readonly running = new Map<string, Running>();
  private readonly desired = new Map<string, LocalInstance>();
  private readonly inference = new InferenceSampler();
  private readonly sampling: NodeJS.Timeout;
  private samplingNow = false;

  constructor(private readonly deps: WorkloadsDeps) {
    this.sampling = setInterval(() => void this.sampleInference(), deps.inferenceEveryMs ?? 5000).unref();
  }

  private nextEndpoint = 0;

  /** The ready instances of a model Service on this node that serve (a gated rollout's candidate serves once it passed). */
  private serving(project: string, service: string): Running[] {
    return [...this.running.values()].filter((r) => r.spec.template.runtime === 'model' && r.sup.status.ready && (!r.gate || r.gate.passed) && r.li.instance.spec.service === service && projectOf(r.li.instance) === project);
  }

  /** Whether this node is to run another instance of `r`'s Service that is not a candidate still being judged. */
  private othersHere(r: Running): boolean {
    const project = projectOf(r.li.instance);
    const service = r.li.instance.spec.service;
    return [...this.desired].some(([id, li]) => {
      const other = this.running.get(id);
      return other !== r && li.instance.spec.service === service && projectOf(li.instance) === project && (!other?.gate || other.gate.passed);
    });
  }

  /** A ready instance of a model Service on this node (turn by turn among several), for inference over MQTT and rules. */
  modelEndpoint(project: string, service: string): ModelEndpoint | undefined {
    const ready = this.serving(project, service);
    return endpointOf(ready[this.nextEndpoint++ % Math.max(1, ready.length)]);
  }

  /**
   * A live request `at` answered: mirrored to the Service's candidates on
   * this node that are shadowing (a gated rollout's new version, ready but
   * not yet serving), their top class compared with the answer. One
   * mirrored request per candidate at a time: shadowing never doubles the
   * load, it samples it.
   */
  shadow(project: string, at: ModelEndpoint, body: string, answer: InferResponse): void {
    // Every answered request passes here: the common case (no candidate shadowing on this node) stops at once.
    const service = this.running.get(`${project}.${at.instance}`)?.li.instance.spec.service;
    const candidates = [...this.running.values()].filter((r) => r.gate?.shadowing && !r.mirroring && r.sup.status.ready && r.li.instance.spec.service === service && projectOf(r.li.instance) === project);
    const served = candidates.length ? topClass(answer) : undefined;
    if (served === undefined) return;
    for (const r of candidates) {
      const gate = r.gate!;
      const to = endpointOf(r);
      if (!to) continue;
      r.mirroring = true;
      // A split head is compared on its own exit (what it answers at the edge); a request it fails to answer disagrees.
      void postInfer(to, body, 10_000)
        .then((res) => gate.shadowed(res.status === 200 && topClass(res.body, to.split?.exitOutput) === served))
        .catch(() => gate.shadowed(false))
        .finally(() => (r.mirroring = false));
    }
  }

  /** A ready model instance of this node by name (a split's tail, asked through the center). */
  modelInstance(project: string, instance: string): ModelEndpoint | undefined {
    const r = [...this.running.values()].find((x) => x.spec.template.runtime === 'model' && x.sup.status.ready && (!x.gate || x.gate.passed) && x.li.instance.metadata.name === instance && projectOf(x.li.instance) === project);
    return endpointOf(r);
  }

  /** An instance running on this node, as an endpoint sees it: ready (a gated candidate once it passed) and its ports. */
  served(project: string, instance: string): { ready: boolean; ports: Record<string, number> } | undefined {
    const r = this.running.get(`${project}.${instance}`);
    if (!r) return undefined;
    const s = this.reported(r);
    return { ready: s.ready, ports: s.ports };
  }

  /** A running instance's Service and its continuity, when it declares one (the session-state API serves only those). */
  continuity(project: string, instance: string): { service: string; maxSessionBytes: number; lookaheadMs: number } | undefined {
    const spec = this.running.get(`${project}.${instance}`)?.li.instance.spec;
    return spec?.continuity && spec.service ? { service: spec.service, maxSessionBytes: spec.continuity.maxSessionBytes, lookaheadMs: durationMs(spec.continuity.lookahead) } : undefined;
  }

  /** The Services with continuity this node runs instances of, and how long their sessions may stay unused. */
  continuityServices(): { project: string; service: string; idleTimeoutMs: number }[] {
    const out = new Map<string, { project: string; service: string; idleTimeoutMs: number }>();
    for (const r of this.running.values()) {
      const spec = r.li.instance.spec;
      if (spec.continuity && spec.service) out.set(nameKey(projectOf(r.li.instance), spec.service), { project: projectOf(r.li.instance), service: spec.service, idleTimeoutMs: durationMs(spec.continuity.idleTimeout) });
    }
    return [...out.values()];
  }

  /** Model instances' serving figures, from their model servers, into their status (reported when they changed). */
  private async sampleInference(): Promise<void> {
    // One pass at a time: a slow scrape (2 s at most each) must not let the next tick start a second.
    if (this.samplingNow) return;
    this.samplingNow = true;
    try {
      await this.sampleEach();
    } finally {
      this.samplingNow = false;
    }
  }

  private async sampleEach(): Promise<void> {
    // A candidate shadowing a version that is no longer on this node has seen what it will see (one not ready for a moment is still there).
    for (const r of this.running.values()) {
      if (r.gate?.shadowing && !this.othersHere(r)) r.gate.noMoreTraffic();
    }
    const models = [...this.running].filter(([, r]) => r.spec.template.runtime === 'model' && r.sup.status.phase === 'Running');
    this.inference.keep(new Set(models.map(([id]) => id)));
    for (const [id, r] of models) {
      const port = r.spec.ports[r.spec.template.ports[0]?.name ?? ''];
      const sampled = port === undefined ? undefined : await this.inference.sample(id, port);
      if (!sampled || this.running.get(id) !== r) continue;
      const split = this.deps.splitCounters?.(projectOf(r.li.instance), r.li.instance.metadata.name);
      const figures = split ? { ...sampled, split: { ...split } } : sampled;
      // An idle instance is reported idle once, not every window.
      const was = r.inference;
      if (was && was.requests === figures.requests && was.errors === figures.errors && was.requestsPerSecond === 0 && was.split?.rows === figures.split?.rows) continue;
      r.inference = figures;
      this.deps.onStatus(r.li.instance, this.reported(r));
    }
  }

  /** The runtimes this node offers, for the center's scheduler. */
  get runtimeKinds(): Array<'process' | 'container' | 'model'> {
    return (['process', 'container', 'model'] as const).filter((k) => this.deps.runtimes[k]);
  }

  get instances(): ReadonlyMap<string, Instance> {
    return new Map([...this.desired].map(([id, li]) => [id, li.instance]));
  }

  /**
   * Start-up, before any contact with the center: reap what a crashed agent
   * left behind, then start everything from local state.
   */
  async restore(): Promise<number> {
    const local = await this.deps.state.instances();
    for (const [id, li] of local) {
      const runtime = this.deps.runtimes[li.instance.spec.template.runtime];
      if (runtime) await runtime.reap(this.runSpec(id, li), li.pid).catch((err: unknown) => this.deps.logger.warn({ err, id }, 'cannot reap what the previous agent left running'));
      if (li.pid) this.deps.onEvent(event(li.instance, 'RestoredFromLocalState', `agent restarted after a crash; instance restarted from local state before contacting the center (previous pid ${li.pid})`, 'Normal'));
      this.desired.set(id, li);
      await this.launch(id, li);
    }
    return local.size;
  }

  /** Applies one sync step: `persist` first (the caller commits it with the rest of the step), then start and stop. */
  async apply(step: InstanceStep, persist: (put: Map<string, LocalInstance>, remove: string[]) => Promise<void>): Promise<void> {
    const put = new Map<string, LocalInstance>();
    const restart: string[] = [];
    for (const inst of step.put) {
      const id = instanceId(inst);
      const prev = this.desired.get(id);
      const ports = prev?.ports ?? (await allocatePorts(inst));
      if (prev && JSON.stringify(prev.instance.spec.template) !== JSON.stringify(inst.spec.template)) restart.push(id);
      put.set(id, { instance: inst, ports, pid: prev?.pid ?? null });
    }
    const remove = step.replaceAll ? [...this.desired.keys()].filter((id) => !put.has(id)) : step.remove;
    await persist(put, remove);
    for (const id of remove) {
      this.desired.delete(id);
      await this.halt(id);
    }
    for (const [id, li] of put) {
      const isNew = !this.desired.has(id);
      this.desired.set(id, li);
      if (restart.includes(id)) await this.halt(id);
      if (isNew || restart.includes(id)) await this.launch(id, li);
      else this.running.get(id)!.li = li;
    }
  }

  statuses(): { instance: Instance; status: InstanceStatus }[] {
    return [...this.running.values()].map((r) => ({ instance: r.li.instance, status: this.reported(r) }));
  }

  /** An instance's status as the center sees it: a gated candidate is ready only once it passed its gate. */
  private reported(r: Running): InstanceStatus {
    const s = r.sup.status;
    const withFigures = r.inference ? { ...s, inference: r.inference } : s;
    return r.gate ? { ...withFigures, ready: s.ready && r.gate.passed, evaluation: r.gate.status } : withFigures;
  }

  logDir(id: string): string {
    return join(this.deps.dataDir, 'logs', id);
  }

  /** Runs a command inside a running instance (gedge exec, and nothing else: probes go through their supervisor). */
  async exec(id: string, opts: ExecOptions): Promise<ExecSession> {
    const cur = this.running.get(id);
    if (!cur || cur.sup.status.phase !== 'Running') throw new ExecFailedError(`${id} is not running on this node`);
    return cur.runtime.exec(cur.spec, opts);
  }

  async stopAll(): Promise<void> {
    clearInterval(this.sampling);
    await Promise.all([...this.running.keys()].map((id) => this.halt(id)));
  }

  private async launch(id: string, li: LocalInstance): Promise<void> {
    const spec = this.runSpec(id, li);
    const kind = spec.template.runtime;
    const runtime = this.deps.runtimes[kind] ?? new UnavailableRuntime(kind);
    // A workload runs as its project's user, who owns its volumes: a process directly, a container as the root of its user namespace.
    spec.user = await this.deps.users.of(projectOf(li.instance));
    for (const dir of Object.values(spec.volumes)) {
      await this.deps.users.ownDir(dirname(dir), spec.user);
      await this.deps.users.ownDir(dir, spec.user);
    }
    const sup = new InstanceSupervisor(runtime, spec);
    const r: Running = { sup, li, spec, runtime };
    if (spec.evaluation && kind === 'model') {
      r.gate = new InstanceGate(spec.evaluation, (e) => {
        if (this.running.get(id) !== r) return;
        this.deps.onStatus(r.li.instance, this.reported(r));
        if (e) this.deps.onEvent(event(r.li.instance, e.reason, e.message, e.type));
      });
    }
    this.running.set(id, r);
    sup.on('status', (s) => {
      const cur = this.running.get(id);
      if (cur?.sup !== sup) return;
      if (s.pid !== undefined && s.pid !== cur.li.pid) {
        cur.li.pid = s.pid;
        void this.deps.state.setPid(id, s.pid).catch((err: unknown) => this.deps.logger.error({ err, id }, 'cannot record pid'));
      }
      this.deps.onStatus(cur.li.instance, this.reported(cur));
      // Ready means the model server has measured the candidate: judge it.
      const to = s.ready && cur.gate ? endpointOf(cur) : undefined;
      if (to) void cur.gate!.measured(() => readEvaluation(to), () => this.serving(projectOf(li.instance), li.instance.spec.service ?? '').length > 0);
    });
    sup.on('event', (e) => this.deps.onEvent(event(li.instance, e.reason, e.message, e.type)));
    sup.start();
  }

  private runSpec(id: string, li: LocalInstance): RunSpec {
    const inst = li.instance;
    const t = inst.spec.template;
    const env: Record<string, string> = { ...t.env, GEDGE_INSTANCE: inst.metadata.name, GEDGE_NODE: inst.spec.node ?? '' };
    for (const [name, port] of Object.entries(li.ports)) env[`PORT_${envName(name)}`] = String(port);
    const first = t.ports[0];
    if (first) env.PORT = String(li.ports[first.name]);
    if (inst.spec.continuity) Object.assign(env, this.deps.sessionEnv?.(projectOf(inst), inst.metadata.name));
    // Volumes belong to the service (or the bare instance), so a replacement on this node finds its data.
    const owner = `${projectOf(inst)}.${inst.spec.service ?? inst.metadata.name}`;
    const volumes: Record<string, string> = {};
    for (const v of t.volumes) {
      volumes[v.name] = join(this.deps.dataDir, 'volumes', owner, v.name);
      if (t.runtime === 'process') env[`VOLUME_${envName(v.name)}`] = volumes[v.name]!;
    }
    return { id, project: projectOf(inst), template: t, ...(inst.spec.evaluation ? { evaluation: inst.spec.evaluation } : {}), env, logDir: this.logDir(id), ports: { ...li.ports }, volumes };
  }

  private async halt(id: string): Promise<void> {
    const cur = this.running.get(id);
    if (!cur) return;
    this.running.delete(id);
    await cur.sup.stop();
    if (this.desired.has(id)) await this.deps.state.setPid(id, null);
  }
}

/** Stands in for a runtime this node does not have, so the instance fails with a message that says so. */
class UnavailableRuntime implements Runtime {
  constructor(readonly kind: string) {}
  private error(): StartFailedError {
    return new StartFailedError(`the ${this.kind} runtime is not available on this node`);
  }
  start(): Promise<never> {
    return Promise.reject(this.error());
  }
  logs(spec: Pick<RunSpec, 'logDir'>, opts: LogReadOptions): AsyncIterable<string> {
    return readLog(spec.logDir, opts);
  }
  exec(): Promise<never> {
    return Promise.reject(new ExecFailedError(this.error().message));
  }
  async reap(): Promise<void> {}
}

function event(i: Instance, reason: string, message: string, type: 'Normal' | 'Warning'): AgentEvent {
  return { reason, message, type, at: nowIso(), involved: { kind: 'Instance', name: i.metadata.name, project: i.metadata.project } };
}

function envName(name: string): string {
  return name.toUpperCase().replace(/-/g, '_');
}

/** Ports declared as 0 get a free port, kept for the instance's life on this node. */
async function allocatePorts(inst: Instance): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const p of inst.spec.template.ports) out[p.name] = p.port || (await freePort());
  return out;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function endpointOf(r: { spec: RunSpec; li: LocalInstance } | undefined): ModelEndpoint | undefined {
  const port = r && r.spec.ports[r.spec.template.ports[0]?.name ?? ''];
  const a = r?.spec.template.artifact;
  if (!r || !a || port === undefined) return undefined;
  const split = r.spec.template.split;
  return { port, instance: r.li.instance.metadata.name, model: a.model, version: a.version, ...(a.classLabels ? { classLabels: a.classLabels } : {}), ...(split ? { split } : {}) };
}
