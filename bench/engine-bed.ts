// The end-to-end bed of bench/engine.ts: one platform (center + one agent
// with its edge broker) with the bench's devices signed in, the agent
// restarted when it dies during a run, rules applied and deleted through the
// API, the CPU of the processes that run a rule, and the forked load
// processes (bench/engine-load.ts) driven over IPC. What is measured, and
// how, stays in bench/engine.ts.
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import type { ApiClient, Node, Rule } from '../core/index.ts';
import { waitFor, type AgentHandle, type Platform } from '../testkit/index.ts';
import { epochMs, type Creds, type EngineLoadCommand, type EngineLoadReply } from './engine-load.ts';
import { cpuSeconds } from './proc-stats.ts';

export const EDGE = 'edge-1';
/** How often the CPU of the process that runs the window rule is sampled, to see when it stopped being busy. */
const CPU_SAMPLE_MS = 50;
/** How much of the agent's stderr is kept (a stack overflow's trace). */
const STDERR_CHARS = 64 * 1024;

export interface Bed {
  platform: Platform;
  api: ApiClient;
  url: string;
  /** The agent (replaced when it had to be restarted) and the end of its stderr. */
  agent: AgentHandle;
  stderr: string;
  creds: Record<string, Creds>;
  loaders: ChildProcess[];
  sink: ChildProcess;
}

/** The bench's devices (by name, with their grants) on the agent's site, each signed in once at the edge. */
export async function setUp(p: Platform, devices: Record<string, { publish: string[]; subscribe: string[] }>, loaders: ChildProcess[], sink: ChildProcess): Promise<Bed> {
  const api = p.center.api;
  const agent = p.agents.get(EDGE)!;
  await api.apply(
    Object.entries(devices)
      .map(([name, grants]) => JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name }, spec: { site: 'edge-a', grants } }))
      .join('\n---\n'),
  );
  const url = `mqtt://127.0.0.1:${agent.mqttPort!}`;
  const creds: Record<string, Creds> = {};
  for (const name of Object.keys(devices)) {
    const { password } = await api.issueDeviceCredential('default', name);
    creds[name] = { clientId: name, username: name, password };
    // The credential reaches the edge with the next sync: until then the broker refuses it.
    const c = await waitFor(() => mqtt.connectAsync(url, { ...creds[name], reconnectPeriod: 0 }, false).catch(() => undefined), 20_000, `${name} signed in at the edge`, 100);
    await c.endAsync();
  }
  const bed: Bed = { platform: p, api, url, agent, stderr: '', creds, loaders, sink };
  keepStderr(bed);
  return bed;
}

function keepStderr(bed: Bed): void {
  bed.agent.process.proc.stderr!.on('data', (d: Buffer) => void (bed.stderr = (bed.stderr + d.toString()).slice(-STDERR_CHARS)));
}

/**
 * After a run: when the agent died, says so (its stderr goes to a file, for
 * the stack), restarts it on the same data dir and broker port, and returns true.
 */
export async function crashed(bed: Bed, label: string): Promise<boolean> {
  const proc = bed.agent.process.proc;
  if (proc.exitCode === null && proc.signalCode === null) return false;
  const file = join(tmpdir(), `gedge-bench-engine-agent-${Date.now()}.log`);
  writeFileSync(file, bed.stderr);
  const error = bed.stderr.split('\n').find((l) => /^\w*Error\b/.test(l)) ?? `exit ${proc.exitCode ?? proc.signalCode}`;
  log(`  ${label}: THE AGENT DIED (${error}); its stderr is in ${file}; restarting it`);
  bed.stderr = '';
  bed.agent = await bed.platform.startAgent(EDGE);
  keepStderr(bed);
  await waitFor(async () => (await bed.platform.readyNodes()).includes(EDGE), 30_000, `${EDGE} Ready again`, 100);
  return true;
}

/** CPU seconds of each process; NaN for one that is gone. */
export function cpuOf(pids: number[]): number[] {
  return pids.map((pid) => {
    try {
      return cpuSeconds(pid);
    } catch {
      return NaN;
    }
  });
}

/** A rule of the bench: its name, SQL and one action. */
export interface RuleBench {
  name: string;
  sql: string;
  action: Record<string, unknown>;
}

export async function applyRule(api: ApiClient, r: RuleBench): Promise<void> {
  await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Rule', metadata: { name: r.name }, spec: { sql: r.sql, actions: [r.action] } }));
  await waitFor(async () => (await api.get<Rule>('Rule', r.name)).status?.nodes?.[EDGE]?.phase === 'Running', 30_000, `${r.name} running on ${EDGE}`, 100);
}

/** Deletes a rule and waits until the agent has applied the deletion (its acknowledged revision). */
export async function deleteRule(api: ApiClient, name: string): Promise<void> {
  const gone = await api.delete<Rule>('Rule', name);
  const revision = gone.metadata.revision ?? 0;
  await waitFor(async () => ((await api.get<Node>('Node', EDGE)).status?.syncedRevision ?? 0) >= revision, 30_000, `${EDGE} past the deletion of ${name}`, 100);
}

/** A process's CPU use, sampled every CPU_SAMPLE_MS: when it was busy. */
export class CpuTrace {
  private readonly samples: { at: number; cpu: number }[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.sample();
    this.timer = setInterval(() => this.sample(), CPU_SAMPLE_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  /** The end of the last sampling interval, ending by `before`, in which the process used more than half a core. */
  busyUntil(before: number): number | undefined {
    let end: number | undefined;
    for (let i = 1; i < this.samples.length; i++) {
      const [a, b] = [this.samples[i - 1]!, this.samples[i]!];
      if (b.at > before) break;
      if ((b.cpu - a.cpu) * 1000 > 0.5 * (b.at - a.at)) end = b.at;
    }
    return end;
  }

  private sample(): void {
    const [cpu] = cpuOf([this.pid]);
    if (Number.isFinite(cpu)) this.samples.push({ at: epochMs(), cpu: cpu! });
  }
}

// ---- load processes -------------------------------------------------------------

export function forkLoad(): ChildProcess {
  return fork(fileURLToPath(new URL('./engine-load.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

export const command = (child: ChildProcess, m: EngineLoadCommand): void => void child.send(m);

/** The next reply `op` from a load process (after `after`, when replies come in order). */
export async function reply<Op extends EngineLoadReply['op']>(child: ChildProcess, op: Op, after?: Promise<unknown>): Promise<Extract<EngineLoadReply, { op: Op }>> {
  await after;
  return new Promise((resolve, reject) => {
    const done = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (m: EngineLoadReply) => {
      if (m.op === 'error') reject(new Error(`load process: ${m.message}`));
      else if (m.op !== op) return;
      else resolve(m as Extract<EngineLoadReply, { op: Op }>);
      done();
    };
    const onExit = (code: number | null, signal: string | null) => {
      reject(new Error(`load process ${child.pid} exited (${code ?? signal}) before its "${op}"`));
      done();
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

export function log(s: string): void {
  console.error(s);
}
