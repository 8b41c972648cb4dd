import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { DEFAULT_PROJECT, modelVersionName, nameSchema, type Model } from '../../core/index.ts';
import { client } from '../config.ts';
import { CliError } from '../errors.ts';
import { registerModelServe } from './model-serve.ts';
import { registerModelTrain } from './model-train.ts';

interface Conn {
  server?: string;
  token?: string;
}

interface PushOptions {
  name?: string;
  modelVersion?: string;
  project: string;
  classLabels?: string;
  evalSet?: string;
  description?: string;
}

/** gedge model push FILE (and serve, model-serve.ts): the file uploaded under its sha256 (once: a file the center holds is not sent again), then its version applied. */
export function registerModelCommands(program: Command): void {
  const model = program.command('model').description('model versions: push an ONNX file as a new version (list them with gedge get models); serve one');
  registerModelServe(model);
  registerModelTrain(model);

  model
    .command('push')
    .description('upload an ONNX model file and make it a version of a model (the next one unless --version)')
    .argument('<file>', 'the .onnx file')
    .option('--name <model>', "the model's name (default: the file's name without .onnx)")
    .option('--model-version <n>', "the version number (default: one past the newest; gedge --version is the CLI's own)")
    .option('-p, --project <project>', '', DEFAULT_PROJECT)
    .option('--class-labels <file>', 'class names, one per line, by output index')
    .option('--eval-set <file>', 'the labelled evaluation set (GEVS, as gedge model train writes it) a gated rollout to this version is measured on')
    .option('--description <text>')
    .action(async (file: string, o: PushOptions, cmd: Command) => {
      const api = client(cmd.optsWithGlobals<Conn>());
      const name = o.name ?? basename(file).replace(/\.onnx$/i, '').toLowerCase();
      if (!nameSchema.safeParse(name).success) throw new CliError(`--name: "${name}" is not a model name (a lowercase DNS label: a-z, 0-9, "-")`);
      const version = o.modelVersion === undefined ? undefined : Number(o.modelVersion);
      if (version !== undefined && (!Number.isInteger(version) || version < 1)) throw new CliError(`--model-version: "${o.modelVersion}" is not a whole number from 1`);
      const classLabels = o.classLabels === undefined ? [] : (await readFile(o.classLabels, 'utf8')).split('\n').map((l) => l.trim()).filter(Boolean);
      const upload = async (path: string) => {
        const size = await stat(path).then(
          (s) => s.size,
          (e: NodeJS.ErrnoException) => {
            throw new CliError(`${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
          },
        );
        const digest = await sha256(path);
        if (!(await api.hasArtifact(o.project, digest))) await api.uploadArtifact(o.project, digest, Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>, size);
        return { digest, size };
      };
      const { digest, size } = await upload(file);
      const evaluation = o.evalSet === undefined ? undefined : { artifact: await upload(o.evalSet) };
      const n = version ?? (await nextVersion(api, o.project, name));
      const obj: Model = {
        apiVersion: 'gedge.io/v1',
        kind: 'Model',
        metadata: { name: modelVersionName(name, n), project: o.project, labels: { 'gedge.io/model': name } },
        spec: { model: name, version: n, format: 'onnx', artifact: { digest, size }, classLabels, description: o.description ?? '', ...(evaluation ? { evaluation } : {}) },
      };
      const [item] = await api.apply(JSON.stringify(obj));
      console.log(`model/${obj.metadata.name} ${item?.action ?? 'applied'} (${name} version ${n}, ${digest}, ${size} bytes)`);
    });
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

async function nextVersion(api: ReturnType<typeof client>, project: string, model: string): Promise<number> {
  const { items } = await api.list<Model>('Model', { project });
  return Math.max(0, ...items.filter((m) => m.spec.model === model).map((m) => m.spec.version)) + 1;
}
