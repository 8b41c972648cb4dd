import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { durationMs } from '../../core/index.ts';
import type { ModelCache } from '../models/model-cache.ts';
import { StartFailedError } from './errors.ts';
import type { ProcessRuntime } from './process-runtime.ts';
import type { ExecOptions, ExecSession, Execution, LogReadOptions, RunSpec, Runtime } from './runtime.ts';

/**
 * `runtime: model`: the instance is gedge's own model server
 * (`gedge model serve`, inference/), run as a process workload of its
 * project's user, on the model file the center resolved for the template
 * (`template.artifact`). The file comes from the node's model cache: fetched
 * from the center once, then served from disk, also while the center is
 * unreachable. The server speaks the Open Inference Protocol on the
 * template's first port, on loopback.
 */
export class ModelRuntime implements Runtime {
  readonly kind = 'model';

  constructor(
    private readonly processes: ProcessRuntime,
    private readonly cache: ModelCache,
    private readonly server: string[] = modelServerCommand(),
  ) {}

  async start(spec: RunSpec): Promise<Execution> {
    const t = spec.template;
    const a = t.artifact;
    const port = t.ports[0] && spec.ports[t.ports[0].name];
    if (!a || !spec.project || port === undefined) throw new StartFailedError(`${spec.id}: a model instance needs its model file resolved by the center (template.artifact) and a port`);
    let file: string;
    try {
      file = await this.cache.ensure(spec.project, a, spec.user);
    } catch (err) {
      throw new StartFailedError(`${spec.id}: cannot get model ${a.model} version ${a.version} (${a.digest}): ${(err as Error).message}`, { cause: err });
    }
    // A gated rollout's candidate: the version it replaces (kept in the cache, so a rollback starts offline) and the labelled set.
    const ev = spec.evaluation;
    const measure: string[] = [];
    if (ev) {
      try {
        measure.push('--baseline', await this.cache.ensure(spec.project, ev.baseline, spec.user));
        if (ev.evalSet) measure.push('--eval-set', await this.cache.ensure(spec.project, ev.evalSet, spec.user));
      } catch (err) {
        throw new StartFailedError(`${spec.id}: cannot get what model ${a.model} version ${a.version} is measured against (${ev.baseline.model} version ${ev.baseline.version}, its evaluation set): ${(err as Error).message}`, { cause: err });
      }
    }
    const inf = t.inference;
    const command = [
      ...this.server,
      'model', 'serve',
      '--file', file,
      '--name', a.model,
      '--model-version', String(a.version),
      '--host', '127.0.0.1',
      '--port', String(port),
      ...measure,
      ...(inf ? ['--max-batch', String(inf.maxBatch), '--max-delay', `${durationMs(inf.maxDelay)}ms`, '--threads', String(inf.threads)] : []),
    ];
    return this.processes.start({ ...spec, template: { ...t, runtime: 'process', command, cwd: t.cwd ?? spec.user?.home } });
  }

  logs(spec: Pick<RunSpec, 'logDir'>, opts: LogReadOptions): AsyncIterable<string> {
    return this.processes.logs(spec, opts);
  }

  exec(spec: RunSpec, opts: ExecOptions): Promise<ExecSession> {
    return this.processes.exec({ ...spec, template: { ...spec.template, cwd: spec.template.cwd ?? spec.user?.home } }, opts);
  }

  reap(spec: RunSpec, pid: number | null): Promise<void> {
    return this.processes.reap(spec, pid);
  }
}

/** How to run this gedge's CLI: the bundle beside the sources (dist/gedge.mjs), which needs no build step and writes nothing. */
function modelServerCommand(): string[] {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return [process.execPath, join(dir, 'dist', 'gedge.mjs')];
  }
  throw new Error('cannot find the gedge package this agent runs from');
}
