import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { nowIso, type AgentEvent, type Instance, type InstanceStatus } from '../core/index.ts';
import type { Runtime } from './runtime/runtime.ts';
import { InstanceSupervisor } from './runtime/supervisor.ts';
import { killProcessGroup } from './runtime/process-runtime.ts';
import type { LocalInstance, LocalState } from './local-state.ts';
import { instanceId } from './sync.ts';

/** The instance part of a sync step. */
export interface InstanceStep {
  put: Instance[];
  /** Instance ids. */
  remove: string[];
  replaceAll: boolean;
}

export interface WorkloadsDeps {
  runtime: Runtime;
  state: LocalState;
  dataDir: string;
  logger: Logger;
  onStatus: (instance: Instance, status: InstanceStatus) => void;
  onEvent: (e: AgentEvent) => void;
}

/**
 * The node's desired instances made real: one supervisor each. Desired state
 * is written to local state before anything is started or stopped, so a crash
 * at any point leaves a state that a restart converges from.
 */
export class Workloads {
  private readonly running = new Map<string, { sup: InstanceSupervisor; li: LocalInstance }>();
  private readonly desired = new Map<string, LocalInstance>();

  constructor(private readonly deps: WorkloadsDeps) {}

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
      if (li.pid) {
        await killProcessGroup(li.pid, li.instance.spec.template.stopGraceMs);
        this.deps.onEvent(event(li.instance, 'RestoredFromLocalState', `agent restarted after a crash; instance restarted from local state before contacting the center (previous pid ${li.pid})`, 'Normal'));
      }
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
    return [...this.running.values()].map(({ sup, li }) => ({ instance: li.instance, status: sup.status }));
  }

  logDir(id: string): string {
    return join(this.deps.dataDir, 'logs', id);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.halt(id)));
  }

  private async launch(id: string, li: LocalInstance): Promise<void> {
    const t = li.instance.spec.template;
    const env: Record<string, string> = { ...t.env, GEDGE_INSTANCE: li.instance.metadata.name, GEDGE_NODE: li.instance.spec.node ?? '' };
    for (const [name, port] of Object.entries(li.ports)) env[`PORT_${name.toUpperCase().replace(/-/g, '_')}`] = String(port);
    const first = t.ports[0];
    if (first) env.PORT = String(li.ports[first.name]);
    const sup = new InstanceSupervisor(this.deps.runtime, { id, template: t, env, logDir: this.logDir(id) }, li.ports);
    this.running.set(id, { sup, li });
    sup.on('status', (s) => {
      const cur = this.running.get(id);
      if (cur?.sup !== sup) return;
      if (s.pid !== undefined && s.pid !== cur.li.pid) {
        cur.li.pid = s.pid;
        void this.deps.state.setPid(id, s.pid).catch((err: unknown) => this.deps.logger.error({ err, id }, 'cannot record pid'));
      }
      this.deps.onStatus(cur.li.instance, s);
    });
    sup.on('event', (e) => this.deps.onEvent(event(li.instance, e.reason, e.message, e.type)));
    sup.start();
  }

  private async halt(id: string): Promise<void> {
    const cur = this.running.get(id);
    if (!cur) return;
    this.running.delete(id);
    await cur.sup.stop();
    if (this.desired.has(id)) await this.deps.state.setPid(id, null);
  }
}

function event(i: Instance, reason: string, message: string, type: 'Normal' | 'Warning'): AgentEvent {
  return { reason, message, type, at: nowIso(), involved: { kind: 'Instance', name: i.metadata.name, project: i.metadata.project } };
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
