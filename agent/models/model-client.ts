import type { SplitSpec } from '../../core/index.ts';

/** Where a Service's model is served on this node: a ready instance's port and name, the model's name, and its split when it is a split's head. */
export type ModelEndpoint = { port: number; instance: string; model: string; version: number; classLabels?: string[]; split?: SplitSpec };

/** What the Open Inference Protocol says a model takes and gives (GET /v2/models/{name}). */
export interface ModelMetadata {
  inputs: { name: string; datatype: string; shape: number[] }[];
  outputs: { name: string; datatype: string; shape: number[] }[];
}

/** An inference answer as the protocol gives it (JSON outputs). */
export interface InferResponse {
  /** The request's id, echoed. */
  id?: string;
  model_name?: string;
  model_version?: string;
  outputs?: { name: string; datatype: string; shape: number[]; data: number[] }[];
  parameters?: Record<string, unknown>;
  error?: string;
}

const metadata = new Map<string, Promise<ModelMetadata>>();

/** A served model's metadata, fetched once per instance port, model and version (a port may be another instance's after a restart). */
export function metadataOf(at: ModelEndpoint): Promise<ModelMetadata> {
  const key = `${at.port}/${at.model}/${at.version}`;
  let meta = metadata.get(key);
  if (!meta) {
    meta = fetch(modelUrl(at), { signal: AbortSignal.timeout(5000) }).then(async (r) => (r.ok ? ((await r.json()) as ModelMetadata) : Promise.reject(new Error(`model metadata: HTTP ${r.status}`))));
    metadata.set(key, meta);
    meta.catch(() => metadata.delete(key));
  }
  return meta;
}

/** One request to the model server on loopback: its HTTP status and JSON body (an empty object when it sent none). */
export async function postInfer(at: ModelEndpoint, body: string, timeoutMs: number): Promise<{ status: number; body: InferResponse }> {
  const res = await fetch(`${modelUrl(at)}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as InferResponse };
}

function modelUrl(at: ModelEndpoint): string {
  return `http://127.0.0.1:${at.port}/v2/models/${encodeURIComponent(at.model)}`;
}

/** The node's served models, as inference over MQTT and rules reach them: where a Service is served, and one request to it (split or not). */
export interface NodeModels {
  endpoint(project: string, service: string): ModelEndpoint | undefined;
  infer(project: string, at: ModelEndpoint, body: string, timeoutMs: number): Promise<{ status: number; body: InferResponse }>;
}
