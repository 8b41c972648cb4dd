import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError, type ApiClient, type Model, type Service } from '../../core/index.ts';
import type { TrainManifest } from '../../training/train.ts';
import { SimConfigError } from '../errors.ts';

/**
 * Deploys the smart-airport scenario (examples/airport) into project
 * `airport`: the trained split network's parts pushed as Models (the head
 * at exit 1 as `cctv-head` version 1, at exit 2 as version 2, a tail for
 * each, the labelled evaluation set with the heads), then the services
 * and rules as written. Idempotent: files the center holds are not sent
 * again, versions that exist are left as they are, and so are the
 * services once they run (a resumed `gedge up` keeps what its rollout
 * made); rules and routes are applied again.
 */

export const AIRPORT_PROJECT = 'airport';

export interface AirportOptions {
  /** examples/airport. */
  manifestsDir: string;
  /** models/fashion-mnist: the graphs, manifest.json and eval.gevs `gedge model train` wrote. */
  modelsDir: string;
  log?: (line: string) => void;
}

export async function deployAirport(api: ApiClient, o: AirportOptions): Promise<{ edges: string[] }> {
  const log = o.log ?? (() => {});
  const read = (file: string) => {
    try {
      return readFileSync(join(o.modelsDir, file));
    } catch (e) {
      throw new SimConfigError(`${join(o.modelsDir, file)}: ${(e as Error).message} (gedge model train --out ${o.modelsDir} writes it)`, { details: [{ path: file, message: 'missing' }] });
    }
  };
  const manifest = JSON.parse(read('manifest.json').toString('utf8')) as TrainManifest;
  const text = (f: string) => readFileSync(join(o.manifestsDir, f), 'utf8');
  await api.apply(text('sites.yaml'));

  const upload = async (file: string) => {
    const bytes = read(file);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (!(await api.hasArtifact(AIRPORT_PROJECT, digest))) await api.uploadArtifact(AIRPORT_PROJECT, digest, bytes, bytes.length);
    return { digest, size: bytes.length };
  };
  const evalSet = await upload('eval.gevs');
  const versions: { model: string; version: number; file: string; description: string; head?: boolean }[] = [
    { model: 'cctv-head', version: 1, file: 'exit1-head.onnx', description: 'the early-exit network up to exit 1: its exit and the 64-wide cut', head: true },
    { model: 'cctv-head', version: 2, file: 'exit2-head.onnx', description: 'the early-exit network up to exit 2: a deeper split point', head: true },
    { model: 'cctv-tail-exit1', version: 1, file: 'exit1-tail.onnx', description: "the rest of the network after exit 1's cut" },
    { model: 'cctv-tail-exit2', version: 1, file: 'exit2-tail.onnx', description: "the rest of the network after exit 2's cut" },
  ];
  // A version that exists is left as it is (a retrained file is a new version, not this one); so is a Service that runs (its rollout may have moved it on).
  const existing = new Set((await api.list<Model>('Model', { project: AIRPORT_PROJECT })).items.map((m) => m.metadata.name));
  const models: Model[] = [];
  for (const v of versions) {
    if (existing.has(`${v.model}-v${v.version}`)) continue;
    models.push({
      apiVersion: 'gedge.io/v1',
      kind: 'Model',
      metadata: { name: `${v.model}-v${v.version}`, project: AIRPORT_PROJECT, labels: { 'gedge.io/model': v.model } },
      spec: { model: v.model, version: v.version, format: 'onnx', artifact: await upload(v.file), classLabels: manifest.classLabels, description: v.description, ...(v.head ? { evaluation: { artifact: evalSet } } : {}) },
    } as Model);
  }
  if (models.length) await api.apply(models.map((m) => JSON.stringify(m)).join('\n---\n'));
  const running = await api.get<Service>('Service', 'cctv', AIRPORT_PROJECT).then(
    () => true,
    (e: unknown) => (e instanceof NotFoundError ? false : Promise.reject(e)),
  );
  if (!running) await api.apply(text('cctv.yaml'));
  await api.apply(text('rules.yaml'));
  const edges = ['terminal-1', 'terminal-2'];
  log(`airport deployed: the split network at ${edges.join(', ')}, its tails in the cloud`);
  return { edges };
}

/**
 * The scenario's model rollout: the heads move from exit 1 to exit 2 (and
 * to exit 2's tail, with exit 2's temperature), gated: each terminal's new
 * head is measured against the current one on the labelled set and
 * shadowed on live frames before it serves.
 */
export async function rollToExit2(api: ApiClient, o: Pick<AirportOptions, 'modelsDir'>): Promise<void> {
  const manifest = JSON.parse(readFileSync(join(o.modelsDir, 'manifest.json'), 'utf8')) as TrainManifest;
  const s = await api.get<Service>('Service', 'cctv', AIRPORT_PROJECT);
  const t = s.spec.template;
  if (!t.split) throw new SimConfigError('Service cctv has no split: deploy the airport first', { details: [{ path: 'spec.template.split', message: 'missing' }] });
  const template = { ...t, model: 'cctv-head-v2', artifact: undefined, split: { ...t.split, tail: 'cctv-tail-exit2', temperature: manifest.temperature.exit2 } };
  await api.apply(JSON.stringify({ apiVersion: s.apiVersion, kind: s.kind, metadata: { name: s.metadata.name, project: AIRPORT_PROJECT, labels: s.metadata.labels }, spec: { ...s.spec, template } }));
}
