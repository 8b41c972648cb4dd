import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LocalState } from '../agent/local-state.ts';
import { gedgeArgv } from '../cli/launch.ts';
import { killProcessGroup, recordedGroupIsOurs } from '../agent/runtime/process-group.ts';
import { Podman, runRoot } from '../agent/runtime/podman.ts';
import { ApiClient, tlsFetch, type Fetch, durationMs } from '../core/index.ts';
import { waitFor } from './wait-for.ts';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: string; event?: string };

/** A real gedge process whose JSON log lines are collected for assertions. */
export class GedgeProcess {
  readonly lines: LogLine[] = [];
  /** What it wrote to stderr (errors before logging starts, e.g. a refused join). */
  stderr = '';
  readonly exited: Promise<number | null>;
  private listeners: (() => void)[] = [];
  /** Set when the test stops or kills it: any other exit is reported. */
  private ending = false;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    /** A center or agent, meant to run until the test ends it: an exit before that is reported. */
    daemon = false,
  ) {
    const rl = createInterface({ input: proc.stdout! });
    rl.on('line', (l) => {
      try {
        this.lines.push(JSON.parse(l) as LogLine);
      } catch {
        this.lines.push({ msg: l });
      }
      for (const f of this.listeners) f();
    });
    proc.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-65_536);
      if (process.env.GEDGE_TEST_VERBOSE) process.stderr.write(`[${name}] ${d.toString()}`);
    });
    // 'close', not 'exit': the last lines of output may still be unread at 'exit'.
    this.exited = new Promise((r) => proc.once('close', (code) => r(code)));
    live.add(proc);
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      // A process that dies unasked shows up in a test as a refused connection: say what happened, beside the test's output.
      if (daemon && !this.ending) process.stderr.write(`[testkit] ${name} (pid ${proc.pid}) exited unasked: code ${code}, signal ${signal}; last lines ${JSON.stringify(this.lines.slice(-5))}; stderr ${JSON.stringify(this.stderr.slice(-2000))}\n`);
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Waits for a log line matching `pred` after index `from` (default: any). */
  async waitForLine(pred: (l: LogLine) => boolean, timeoutMs = 20_000, from = 0): Promise<LogLine> {
    return waitFor(() => this.lines.slice(from).find(pred), timeoutMs, `${this.name}: a matching log line`);
  }

  events(type: string, from = 0): LogLine[] {
    return this.lines.slice(from).filter((l) => l.event === type);
  }

  /** Graceful stop (SIGTERM), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.ending = true;
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    this.proc.kill('SIGTERM');
    await this.exited;
    clearTimeout(t);
  }

  async kill9(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.ending = true;
    this.proc.kill('SIGKILL');
    await this.exited;
  }
}

/**
 * Every gedge process a test started and that still runs. A test that fails
 * before it can stop its platform (a center that started, then an apply that
 * threw) must not leave a center running on the machine after the test
 * process is gone: whatever is left is killed when it exits.
 */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const proc of live) proc.kill('SIGKILL');
});

export function spawnGedge(name: string, args: string[], env: Record<string, string> = {}, daemon = false): GedgeProcess {
  const proc = spawn(process.execPath, gedgeArgv(args), { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  return new GedgeProcess(name, proc, daemon);
}

export interface CenterOptions {
  dataDir?: string;
  heartbeatMs?: number;
  notReadyAfterMs?: number;
  evictAfterMs?: number;
  port?: number;
  /** The admin token of a previous run on the same data dir (it is printed only once). */
  adminToken?: string;
  /** The center's own site (its agents' round trips to it then measure links to this site). */
  site?: string;
  probeIntervalMs?: number;
  linkStaleMs?: number;
  rebalanceMs?: number;
  linkExpireMs?: number;
  /** SQLite commit durability (default full). */
  storeSync?: 'full' | 'normal';
  /** The loopback plain-HTTP listener's port (default any free one). */
  localPort?: number;
  /** More flags, e.g. ['--node-cert-ttl', '30s']. */
  args?: string[];
}

export interface CenterHandle {
  process: GedgeProcess;
  /** https://127.0.0.1:port */
  url: string;
  port: number;
  /** The plain-HTTP loopback listener (what a browser on this machine opens). */
  localUrl: string;
  dataDir: string;
  adminToken: string;
  /** The center's CA (PEM), its file (for the CLI's --ca-file) and its pin, as a join token's holder gets them. */
  ca: string;
  caFile: string;
  caPin: string;
  /** The API client over HTTPS, trusting only the center's CA. */
  api: ApiClient;
  /** fetch() over HTTPS trusting only the center's CA (for requests the API client does not make). */
  fetch: Fetch;
}

/** Starts `gedge center` on 127.0.0.1 and a free port, and waits until it serves. */
export async function startCenterProcess(o: CenterOptions = {}): Promise<CenterHandle> {
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'gedge-center-'));
  const tokenFile = join(dataDir, 'admin.token');
  const args = ['center', '--data-dir', dataDir, '--port', String(o.port ?? 0), '--local-listen', `127.0.0.1:${o.localPort ?? 0}`, '--admin-token-file', tokenFile];
  if (o.heartbeatMs) args.push('--heartbeat-interval', `${o.heartbeatMs}ms`);
  if (o.notReadyAfterMs) args.push('--not-ready-after', `${o.notReadyAfterMs}ms`);
  if (o.evictAfterMs !== undefined) args.push('--evict-after', `${o.evictAfterMs}ms`);
  if (o.site) args.push('--site', o.site);
  if (o.probeIntervalMs) args.push('--probe-interval', `${o.probeIntervalMs}ms`);
  if (o.linkStaleMs) args.push('--link-stale-after', `${o.linkStaleMs}ms`);
  if (o.rebalanceMs) args.push('--rebalance-interval', `${o.rebalanceMs}ms`);
  if (o.linkExpireMs) args.push('--link-expire-after', `${o.linkExpireMs}ms`);
  if (o.storeSync) args.push('--store-sync', o.storeSync);
  if (o.args) args.push(...o.args);
  const p = spawnGedge('center', args, {}, true);
  const line = await Promise.race([
    p.waitForLine((l) => l.msg === 'center listening', 30_000),
    p.exited.then((c) => {
      throw new Error(`center exited with ${c} before listening`);
    }),
  ]);
  const url = line.url as string;
  // The CLI writes the token file just after the center logs that it listens.
  if (!o.adminToken) await waitFor(() => existsSync(tokenFile) && readFileSync(tokenFile, 'utf8').trim(), 10_000, 'the admin token file');
  const adminToken = o.adminToken ?? readFileSync(tokenFile, 'utf8').trim();
  const caFile = join(dataDir, 'pki', 'ca.crt');
  const ca = readFileSync(caFile, 'utf8');
  return { process: p, url, port: Number(new URL(url).port), localUrl: line.localUrl as string, dataDir, adminToken, ca, caFile, caPin: line.caPin as string, api: new ApiClient(url, adminToken, ca), fetch: tlsFetch({ ca }) };
}

export interface AgentOptions {
  center: string;
  name: string;
  site?: string;
  joinToken?: string;
  /** The center CA's pin (needed with a join token). */
  caPin?: string;
  dataDir?: string;
  /** host:port for the agent's probe responder, or 'off'. */
  probeListen?: string;
  /** host:port peers dial for probes (e.g. a LinkEmulator in front of the responder). */
  probeAdvertise?: string;
  /** Run the edge MQTT broker: true on a free port, or host:port (its port is in the handle). */
  mqtt?: boolean | string;
  /** Capacity offered to workloads, instead of what the machine has. */
  cpu?: number;
  memoryMiB?: number;
  /** More flags, e.g. ['--uplink-overflow', 'drop-newest']. */
  args?: string[];
}

export interface AgentHandle {
  process: GedgeProcess;
  dataDir: string;
  name: string;
  /** The edge MQTT broker's port (TCP), with `mqtt`. */
  mqttPort?: number;
}

/** Starts `gedge agent`; resolves once it has restored its local state (it may still be connecting). */
export async function startAgentProcess(o: AgentOptions): Promise<AgentHandle> {
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), `gedge-agent-${o.name}-`));
  const args = ['agent', '--center', o.center, '--data-dir', dataDir, '--name', o.name];
  if (o.site) args.push('--site', o.site);
  // As `gedge up` does: a join token in the environment, not in the arguments `ps` shows.
  const env: Record<string, string> = { ...(o.joinToken ? { GEDGE_JOIN_TOKEN: o.joinToken } : {}), ...(o.caPin ? { GEDGE_CA_PIN: o.caPin } : {}) };
  if (o.probeListen) args.push('--probe-listen', o.probeListen);
  if (o.probeAdvertise) args.push('--probe-advertise', o.probeAdvertise);
  if (o.mqtt) args.push('--mqtt-listen', o.mqtt === true ? '127.0.0.1:0' : o.mqtt);
  if (o.cpu !== undefined) args.push('--cpu', String(o.cpu));
  if (o.memoryMiB !== undefined) args.push('--memory-mib', String(o.memoryMiB));
  if (o.args) args.push(...o.args);
  const p = spawnGedge(o.name, args, env, true);
  await Promise.race([
    p.waitForLine((l) => l.event === 'restored', 30_000),
    p.exited.then((c) => {
      throw new Error(`agent ${o.name} exited with ${c}: ${JSON.stringify(p.lines.slice(-3))} ${p.stderr.slice(-2000)}`);
    }),
  ]);
  const broker = o.mqtt ? await p.waitForLine((l) => l.event === 'broker', 30_000) : undefined;
  return { process: p, dataDir, name: o.name, mqttPort: broker ? Number(broker.tcp) : undefined };
}

/**
 * Ends the workloads a dead agent left running, and removes its containers.
 * Process workloads lead their own process groups so that they outlive an
 * agent crash, and only the agent's next run reaps them, from the groups it
 * recorded in its local state; for an agent a test SIGKILLed for good (or
 * that ignored SIGTERM), that is left to us. After a graceful stop nothing
 * is recorded: the agent cleared it.
 */
export async function reapWorkloads(dataDir: string): Promise<void> {
  // Its containers live in its own store, inside its data dir (removed with it once nothing there is mounted), its run root under /run.
  const containers = join(dataDir, 'containers');
  if (existsSync(join(containers, 'storage.conf'))) {
    const podman = new Podman(containers, { ownStore: true });
    const r = await podman.run(['rm', '--all', '--force', '--time', '0']);
    if (r.code !== 0) throw new Error(`cannot remove the containers of ${dataDir}: ${r.stderr}`);
    rmSync(runRoot(podman.store), { recursive: true, force: true });
  }
  if (!existsSync(join(dataDir, 'state.db'))) return;
  const state = await LocalState.open(dataDir);
  try {
    // Only a pid that is still that workload: pids wrap (pid_max is 32768 here), and a recorded one may now be another test's center.
    const left = [...(await state.instances()).values()].filter((li) => li.pid && li.instance.spec.template.runtime !== 'container');
    const ours = await Promise.all(left.map((li) => recordedGroupIsOurs(li.pid!, { GEDGE_INSTANCE: li.instance.metadata.name })));
    await Promise.all(left.filter((_, i) => ours[i]).map((li) => killProcessGroup(li.pid!, durationMs(li.instance.spec.template.stopGracePeriod))));
  } finally {
    await state.close();
  }
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** True while a process with this pid exists (signal 0 checks without signalling). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
