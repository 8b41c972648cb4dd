import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { decodeEvalSet, type EvalSet } from '../../core/eval-set.ts';
import type { Command } from 'commander';
import { durationFlag } from '../durations.ts';
import { CliError } from '../errors.ts';
import { onShutdown } from './processes.ts';

const count = (flag: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new CliError(`${flag}: "${v}" is not a whole number from ${min}`);
  return n;
};

/**
 * gedge model serve: one ONNX model behind the Open Inference Protocol v2
 * (REST), the process a `runtime: model` instance runs. Ready once warmed up.
 */
export function registerModelServe(model: Command): void {
  model
    .command('serve')
    .description('serve an ONNX model over the Open Inference Protocol v2 (REST: /v2/health/ready, /v2/models/NAME, /v2/models/NAME/infer) with dynamic batching; /metrics for Prometheus')
    .requiredOption('--file <model.onnx>', 'the model file')
    .option('--name <name>', 'the name clients address (default: the file name without .onnx)')
    .option('--model-version <v>', 'the version it answers as', '1')
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'listen port (0: any free one, printed)', count('--port', 0), 8000)
    .option('--max-batch <rows>', 'rows stacked into one run at most', count('--max-batch', 1), 16)
    .option('--max-delay <duration>', 'how long a request waits for others to batch with (0: none; requests still stack while a run is going)', '0ms')
    .option('--max-queue <requests>', 'requests waiting beyond this are refused with 503', count('--max-queue', 1), 1024)
    .option('--threads <n>', "ONNX Runtime's threads per operator (0: one per core)", count('--threads', 0), 0)
    .option('--baseline <model.onnx>', 'a gated rollout: before serving, measure the model against this one (the version it replaces); figures at /v2/models/NAME/evaluation')
    .option('--eval-set <file>', 'with --baseline: the labelled evaluation set (GEVS) to measure accuracy on')
    .action(async (o: { file: string; name?: string; modelVersion: string; host: string; port: number; maxBatch: number; maxDelay: string; maxQueue: number; threads: number; baseline?: string; evalSet?: string }) => {
      // Loaded on demand: ONNX Runtime is big, and only this command needs it.
      const { ModelSession, startInferenceServer } = await import('../../inference/index.ts');
      const load = (file: string) =>
        ModelSession.load(file, { intraOpThreads: o.threads }).catch((e: unknown) => {
          throw new CliError(`${file}: cannot load the model: ${(e as Error).message}`);
        });
      if (o.evalSet && !o.baseline) throw new CliError('--eval-set: needs --baseline (the version to measure against)');
      const session = await load(o.file);
      const evaluation = o.baseline ? { baseline: await load(o.baseline), ...(o.evalSet ? { set: readEvalSet(o.evalSet) } : {}) } : undefined;
      const name = o.name ?? basename(o.file).replace(/\.onnx$/i, '');
      const server = await startInferenceServer(
        { name, version: o.modelVersion, session },
        { batching: { maxBatch: o.maxBatch, maxDelayMs: durationFlag('--max-delay')(o.maxDelay), maxQueue: o.maxQueue }, ...(evaluation ? { evaluation } : {}) },
        { host: o.host, port: o.port },
      );
      console.log(JSON.stringify({ msg: 'serving', model: name, version: o.modelVersion, url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${server.port}/v2/models/${name}`, inputs: session.signature.inputs, outputs: session.signature.outputs }));
      onShutdown(server.close);
    });
}

function readEvalSet(file: string): EvalSet {
  try {
    return decodeEvalSet(readFileSync(file));
  } catch (e) {
    throw new CliError(`--eval-set ${file}: ${(e as Error).message}`);
  }
}
